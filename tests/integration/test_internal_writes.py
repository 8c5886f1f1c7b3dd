"""Issue 12 item 1 on a real pair: dualbeat's own writes never fence a node.

An active cut off from the LAN comes back holding a transaction the new active lacks,
but one in its internal GTID domain (what the agent's own schema/epoch writes are): it
must come back as a standby by itself, without ``rejoin``, and replicate again.
"""

from __future__ import annotations

import pytest

from dualbeat.config import load
from dualbeat.core.gtid import MariadbGtidSet
from dualbeat.mysql import control
from dualbeat.mysql.connection import Server
from dualbeat_lab.sandbox import agents, faults
from dualbeat_lab.sandbox.lab import LabInfo
from dualbeat_lab.sandbox.timeline import lab_event_paths, load_events
from tests.integration.labtools import wait_for

pytestmark = pytest.mark.integration


def role(info: LabInfo, node: str) -> str | None:
    status = agents.status(info, node)
    return None if status is None else str(status["role"])


def test_isolated_active_holding_only_internal_writes_comes_back_standby(
    pair: LabInfo,
) -> None:
    config = load(pair.config_path)
    domain = config.internal_domain("db1")
    cut = faults.isolate(pair.lab, "db1")
    try:
        # Not only role == "active": that is reported from the promotion's first step,
        # and healing before the VIP is claimed makes db1 answer the claim's ARP probe.
        wait_for(lambda: agents.serving(pair, "db2"), 30, "db2 active with the VIP")
        with Server(pair.node("db1").root_endpoint()) as db1:
            control.ensure_schema(db1, domain=domain)  # as a promoting agent writes it
            executed = MariadbGtidSet.parse(control.executed_gtids(db1))
        assert domain in executed.domains()
    finally:
        faults.heal_all(pair.lab)
    try:
        wait_for(lambda: role(pair, "db1") == "standby", 60, "db1 back as a standby")
    except AssertionError as exc:
        views = {n: agents.status(pair, n) for n in ("db1", "db2")}
        seen = {
            n: v and (v["role"], v["finding"], v["mysql"]["executed"]) for n, v in views.items()
        }
        raise AssertionError(f"{exc}; agents: {seen}") from None
    wait_for(lambda: agents.settled(pair, standby=True) == "db2", 30, "the pair settled on db2")
    codes = [e.code for e in load_events(lab_event_paths(pair.lab)) if e.ts >= cut]
    assert "HOLDS_ERRANT" not in codes, codes
    status = agents.status(pair, "db1")
    assert status is not None and status["role"] == "standby"
