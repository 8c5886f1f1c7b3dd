"""Issue 12 item 6: replication starts only when the agent decides.

db2 is fenced, holding a write nobody reviewed. The active's mysqld restarts: with
``skip_slave_start`` (the sandbox's my.cnf) its channel from db2 stays stopped, so the
unreviewed write never reaches it; without it, the restarted server would have started
replicating from db2 at boot and applied that write.
"""

from __future__ import annotations

import pytest

from dualbeat.mysql.connection import Server
from dualbeat.mysql.dialect import Statement
from dualbeat_lab.sandbox import agents, faults, lab
from dualbeat_lab.sandbox.lab import LabInfo
from tests.integration.conftest import STATE
from tests.integration.labtools import wait_for

pytestmark = pytest.mark.integration


def sql(info: LabInfo, node: str, *statements: str) -> list[dict[str, object]]:
    with Server(info.node(node).root_endpoint()) as server:
        rows: list[dict[str, object]] = []
        for text in statements:
            rows = server.query(Statement(text))
        return rows


def role(info: LabInfo, node: str) -> str | None:
    status = agents.status(info, node)
    return None if status is None else str(status["role"])


def test_a_restarted_active_does_not_replicate_from_a_fenced_peer(pair: LabInfo) -> None:
    # db1's agent restarts its channel from a caught-up standby (the ring) within a probe
    # or two: while the write is made and db2 fences itself, db2 refuses db1's replication
    # account (unlogged), so the channel cannot take the write; then it is let in again.
    sql(pair, "db1", "STOP SLAVE")
    sql(pair, "db2", "SET SESSION sql_log_bin = 0", "ALTER USER 'repl'@'%' ACCOUNT LOCK")
    sql(pair, "db2", "CREATE DATABASE unreviewed")  # as root, on the passive
    wait_for(lambda: role(pair, "db2") == "fenced", 15, "db2 to fence itself")
    sql(pair, "db2", "SET SESSION sql_log_bin = 0", "ALTER USER 'repl'@'%' ACCOUNT UNLOCK")

    faults.kill_mysqld(pair.lab, "db1")
    lab.up(STATE)  # restarts db1's mariadbd only
    wait_for(lambda: agents.settled(pair) == "db1", 60, "db1 active again")

    status = sql(pair, "db1", "SHOW SLAVE STATUS")
    assert status and status[0]["Slave_IO_Running"] == "No", status
    assert sql(pair, "db1", "SHOW DATABASES LIKE 'unreviewed'") == []
    assert role(pair, "db2") == "fenced"
