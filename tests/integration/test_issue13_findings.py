"""Issue 13, findings 1 and 4 on a real pair: what only the agent's wiring shows (the
restart path, the refused peer port, the VIP its dead agent's kernel keeps answering).
The decision rules themselves are tested in ``tests/unit/test_issue13_findings_1_6.py``."""

from __future__ import annotations

import time

import pytest

from dualbeat.config import load
from dualbeat.errors import MysqlError
from dualbeat.mysql.connection import Endpoint, Server
from dualbeat.mysql.dialect import Statement
from dualbeat_lab.sandbox import agents, faults
from dualbeat_lab.sandbox.lab import LabInfo
from dualbeat_lab.sandbox.timeline import lab_event_paths, load_events
from tests.integration.labtools import inside, wait_for

pytestmark = pytest.mark.integration
VIP = "10.77.0.100"


def codes_after(info: LabInfo, node: str, ts: float) -> list[str]:
    return [e.code for e in load_events(lab_event_paths(info.lab)) if e.node == node and e.ts >= ts]


def through_vip(info: LabInfo) -> tuple[int, bool] | None:
    """(server_id, writable) of the server a client reaches through the VIP, or None."""
    config = load(info.config_path)
    endpoint = Endpoint(
        "vip",
        VIP,
        info.node("db2").mysql_port,
        config.mysql.user,
        config.mysql.secret(),
        connect_timeout=0.5,
        read_timeout=1.0,
    )
    try:
        with inside(info.client_namespace), Server(endpoint) as server:
            row = server.query(Statement("SELECT @@server_id AS id, @@read_only AS ro"))[0]
    except MysqlError:
        return None
    return int(str(row["id"])), not int(str(row["ro"]))


def test_finding_01_a_restarted_agent_resumes_as_active(pair: LabInfo) -> None:
    """kill -9 the active's agent, start it again: same epoch, no promotion, its ring
    channel from the standby still running."""
    before = agents.status(pair, "db1")
    assert before is not None and before["role"] == "active"
    started = time.time()
    faults.kill_agent(pair.lab, "db1")
    time.sleep(1.0)
    agents.start(pair, "db1", lambda _m: None)
    assert agents.wait_settled(pair, lambda _m: None) == "db1"
    after = agents.status(pair, "db1")
    assert after is not None
    # The status shows the new role as soon as it is decided; its event reaches the
    # history file a moment later (seen missing under load in a full run).
    wait_for(lambda: "RESUMED" in codes_after(pair, "db1", started), 10, "RESUMED in the history")
    codes = codes_after(pair, "db1", started)
    assert "PROMOTED" not in codes, codes
    assert after["epoch"] == before["epoch"]
    assert after["last_takeover"] == before["last_takeover"]
    # Its ring channel runs (the restarted agent issued no stop; the unit tests assert no
    # StopReplication): waited for, as a semi-sync re-check may restart the I/O thread.
    wait_for(
        lambda: (st := agents.status(pair, "db1")) is not None and st["mysql"]["replicating"],
        12,
        "db1's replication channel running",
    )


def test_finding_04_vip_on_a_dead_agents_host_moves_when_its_mysqld_refuses(
    pair: LabInfo,
) -> None:
    """kill -9 the active's agent, then its mysqld: the host keeps the VIP in its kernel
    and refuses the MySQL port. The standby takes over (the claim overrides the refusing
    holder) and clients reach it through the VIP, instead of aborting every 3 s forever."""
    started = time.time()
    faults.kill_agent(pair.lab, "db1")  # returns once the agent has exited
    # At once, well inside deadtime (1 s): the standby must judge a host whose agent is
    # silent and whose port refuses. Killed as deadtime ran out, the mysqld could still
    # answer the standby's check and its promotion be aborted for a serving peer (correctly).
    faults.kill_mysqld(pair.lab, "db1")
    wait_for(lambda: agents.settled(pair) == "db2", 20, "db2 active, writable, with the VIP")
    db2 = pair.node("db2").server_id
    wait_for(lambda: through_vip(pair) == (db2, True), 10, "clients writing to db2 via the VIP")
    codes = codes_after(pair, "db2", started)
    assert codes.count("PROMOTION_ABORTED") == 0, codes
