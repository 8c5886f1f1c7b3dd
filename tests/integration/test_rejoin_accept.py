"""A passive that was written to is fenced; `rejoin --accept` refuses until the difference
is resolved, then brings it back as a replicating standby with equal checksums."""

from __future__ import annotations

import subprocess
import sys

import pytest

from dualbeat.mysql.connection import Server
from dualbeat.mysql.dialect import Statement
from dualbeat_lab.sandbox import agents
from dualbeat_lab.sandbox.lab import LabInfo
from tests.integration.labtools import wait_for

pytestmark = pytest.mark.integration


def root(info: LabInfo, node: str, *statements: str) -> None:
    with Server(info.node(node).root_endpoint()) as server:
        server.execute(*(Statement(sql) for sql in statements))


def has_table(info: LabInfo, node: str, schema: str, table: str) -> bool:
    with Server(info.node(node).root_endpoint()) as server:
        rows = server.query(
            Statement(
                "SELECT 1 FROM information_schema.tables"
                " WHERE table_schema = %s AND table_name = %s",
                (schema, table),
            )
        )
    return bool(rows)


def rejoin(info: LabInfo, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            "ip",
            "netns",
            "exec",
            "db2",
            sys.executable,
            "-m",
            "dualbeat",
            "rejoin",
            "db2",
            *args,
            "-c",
            str(info.config_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def role(info: LabInfo, node: str) -> str | None:
    st = agents.status(info, node)
    return st["role"] if st else None


def channel_running(info: LabInfo, node: str) -> bool:
    """Both threads of the node's channel running, read from its server (not from the
    agent's status, which is as old as its last probe)."""
    with Server(info.node(node).root_endpoint()) as server:
        rows = server.query(Statement("SHOW SLAVE STATUS"))
    return bool(rows) and rows[0]["Slave_IO_Running"] == "Yes" == rows[0]["Slave_SQL_Running"]


def replicating(info: LabInfo, node: str) -> bool:
    st = agents.status(info, node)
    return st is not None and bool(st["mysql"]["replicating"])


def test_fenced_passive_rejoins_once_its_write_is_on_the_active(pair: LabInfo) -> None:
    wait_for(lambda: replicating(pair, "db1"), 30, "db1's channel from db2 running")
    root(pair, "db1", "CREATE TABLE app.kv (k INT PRIMARY KEY, v TEXT)")
    wait_for(lambda: has_table(pair, "db2", "app", "kv"), 15, "app.kv replicated to db2")
    # The active's agent restarts a stopped channel from a standby that holds nothing it
    # lacks (the ring heals itself), at most once per ring_retry (10 s). A single STOP
    # SLAVE raced that try and let db2's write reach db1 (in full runs). So the first
    # stop spends the try; the second one holds, and db2's write right after it is db2's
    # own (its beats say so) long before the next try. The restart is seen on the server
    # itself: the agent's status could still show the channel running from before the
    # first stop (that made this test fail once more).
    root(pair, "db1", "STOP SLAVE")
    wait_for(lambda: channel_running(pair, "db1"), 15, "db1's agent to restart its channel")
    root(pair, "db1", "STOP SLAVE")
    root(pair, "db2", "INSERT INTO app.kv VALUES (1, 'written on the passive')")  # as root
    wait_for(lambda: role(pair, "db2") == "fenced", 15, "db2 to fence itself")

    refused = rejoin(pair, "--accept")
    assert refused.returncode == 4, refused.stdout + refused.stderr
    assert "still holds transactions the active lacks" in refused.stderr
    assert role(pair, "db2") == "fenced"

    root(pair, "db1", "START SLAVE")  # the operator reviewed it: the active takes the write
    accepted = rejoin(pair, "--accept")
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    assert "is a standby again" in accepted.stdout and "checksum:" in accepted.stdout
    assert agents.settled(pair, standby=True) == "db1"
    status = agents.status(pair, "db2")
    assert status is not None and status["mysql"]["replicating"] and not status["fenced_reason"]
