"""The agent's account gets the privileges of its server family, and nothing global more."""

from __future__ import annotations

import pytest

from dualbeat.mysql.accounts import agent_privileges
from dualbeat.mysql.dialect import ServerVersion


@pytest.mark.parametrize(
    ("version", "has", "lacks"),
    [
        ("10.11.6-MariaDB-0+deb12u1", {"READ_ONLY ADMIN", "CONNECTION ADMIN", "SUPER"}, {"ALL"}),
        ("8.0.36", {"SYSTEM_VARIABLES_ADMIN", "CONNECTION_ADMIN"}, {"SUPER", "ALL"}),
        ("8.4.0", {"REPLICATION_SLAVE_ADMIN"}, {"SUPER"}),
        ("5.7.44-log", {"SUPER", "REPLICATION CLIENT"}, {"CONNECTION_ADMIN"}),
    ],
)
def test_privileges_follow_the_family_and_version(
    version: str, has: set[str], lacks: set[str]
) -> None:
    privileges = {p.strip() for p in agent_privileges(ServerVersion.parse(version)).split(",")}
    assert has <= privileges
    assert not lacks & privileges
    assert {"SELECT", "PROCESS", "REPLICATION CLIENT"} <= privileges
