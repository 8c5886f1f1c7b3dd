"""Maintenance mode on a real pair: the active's mysqld killed while paused is *not*
failed over (for several deadtimes, and across a restart of the standby's agent), and
resuming lets the agents fail over from the evidence of that moment."""

from __future__ import annotations

import time
from typing import Any

import pytest

from dualbeat.agent import history
from dualbeat_lab.sandbox import agents, faults
from dualbeat_lab.sandbox.lab import LabInfo
from tests.integration.labtools import wait_for
from tests.integration.test_failover import assert_one_writer, vip_holders
from tests.integration.test_history import agent_dir, dualbeat

pytestmark = pytest.mark.integration
DEADTIME = 1.5  # the sandbox's heartbeat.deadtime


def codes_since(info: LabInfo, node: str, ts: float) -> list[str]:
    return [e["code"] for e in history.read(agent_dir(info, node), since=ts).events]


def both_paused(info: LabInfo, on: bool) -> dict[str, Any] | None:
    views = [agents.status(info, n) for n in ("db1", "db2")]
    if all(v and v["maintenance"] is on and v["peer_view"]["maintenance"] is on for v in views):
        return {"db1": views[0], "db2": views[1]}
    return None


def nothing_moves(info: LabInfo, seconds: float) -> None:
    """For ``seconds``: db1 stays the active holding the VIP, db2 the standby."""
    window_end = time.monotonic() + seconds
    while time.monotonic() < window_end:
        db1, db2 = agents.status(info, "db1"), agents.status(info, "db2")
        assert db1 is not None and db1["role"] == "active", db1
        assert db2 is not None and db2["role"] == "standby", db2
        assert vip_holders(info) == ["db1"]
        time.sleep(0.2)


def test_maintenance_suppresses_a_failover_then_releases_it(pair: LabInfo) -> None:
    on = dualbeat(pair, "maintenance", "on", "--node", "db1")
    assert on.returncode == 0, on.stderr + on.stdout
    assert "maintenance mode on on db1 and db2" in on.stdout
    wait_for(lambda: both_paused(pair, True), 10, "both agents paused")
    refused = dualbeat(pair, "standby", "--node", "db1")
    assert refused.returncode == 4 and "maintenance" in refused.stderr, refused.stderr

    killed_at = faults.kill_mysqld(pair.lab, "db1")
    wait_for(
        lambda: "LOCAL_FAILED" in codes_since(pair, "db1", killed_at),
        10,
        "db1 to judge its MySQL failed (monitoring goes on)",
    )
    held = next(
        e
        for e in history.read(agent_dir(pair, "db1"), since=killed_at).events
        if e["code"] == "LOCAL_FAILED"
    )
    assert held["evidence"]["held"] == "standby" and held["maintenance"] is True

    # The absence of a failover can only be observed over a window: several deadtimes.
    nothing_moves(pair, 4 * DEADTIME)

    # Durable: the standby's agent restarted while paused comes back paused.
    faults.kill_agent(pair.lab, "db2")
    restarted_at = time.time()
    agents.start(pair, "db2", lambda _m: None)
    wait_for(
        lambda: (
            (st := agents.status(pair, "db2")) and st["maintenance"] and st["role"] == "standby"
        ),
        15,
        "db2 back, paused, as the standby it was",
    )
    assert "ROLE_ADOPTED" in codes_since(pair, "db2", restarted_at)
    nothing_moves(pair, 2 * DEADTIME)
    assert "PROMOTED" not in codes_since(pair, "db2", killed_at)

    resumed_at = time.time()
    off = dualbeat(pair, "maintenance", "off", "--node", "db2")
    assert off.returncode == 0, off.stderr + off.stdout
    assert_one_writer(pair, "db2")
    for node in ("db1", "db2"):
        assert "MAINTENANCE_OFF" in codes_since(pair, node, resumed_at)
    assert "PROMOTED" in codes_since(pair, "db2", resumed_at)
    assert both_paused(pair, False) is not None
