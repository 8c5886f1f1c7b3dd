"""auto_failback on a real pair: after a failover the preferred node (db1, first in the
config) comes back as a healthy standby, and after the hold-down db2 hands the role back
to it; a second failover within min_interval is not followed by a second failback."""

from __future__ import annotations

import sys
import time

import pytest

from dualbeat_lab.sandbox import agents, faults, lab
from dualbeat_lab.sandbox.lab import LabInfo
from tests.integration.conftest import STATE
from tests.integration.labtools import wait_for

pytestmark = pytest.mark.integration
HOLDDOWN = 3.0


def restart_agents_with_failback(info: LabInfo) -> None:
    for node in ("db1", "db2"):
        faults.kill_agent(info.lab, node)
    with info.config_path.open("a") as f:
        f.write(f'\n[failback]\nauto = true\nholddown = "{HOLDDOWN:g}s"\nmin_interval = "10m"\n')
    assert agents.start_all(info, lambda m: print(m, file=sys.stderr)) == "db1"


def events(info: LabInfo, node: str) -> list[str]:
    status = agents.status(info, node)
    return [e["code"] for e in status["recent"]] if status else []


def fail_over_and_return(info: LabInfo) -> None:
    faults.kill_mysqld(info.lab, "db1")
    wait_for(lambda: agents.settled(info) == "db2", 30, "db2 to take over")
    lab.up(STATE)  # restarts db1's mysqld
    wait_for(lambda: agents.settled(info, standby=True) == "db2", 30, "db1 to stand by")


def test_preferred_node_gets_the_role_back_once_not_twice(pair: LabInfo) -> None:
    info = pair
    restart_agents_with_failback(info)

    fail_over_and_return(info)
    back = time.monotonic()
    try:
        wait_for(lambda: agents.settled(info, standby=True) == "db1", 30, "db2 to hand back")
    except AssertionError as exc:  # once in a full run (2026-12-05): say what the agents did
        recent = {n: events(info, n)[-15:] for n in ("db1", "db2")}
        raise AssertionError(f"{exc}; recent codes: {recent}") from None
    assert time.monotonic() - back >= HOLDDOWN - 0.5, "handed back before the hold-down"
    assert "FAILBACK_DUE" in events(info, "db2")

    fail_over_and_return(info)  # again, within min_interval
    watch_until = time.monotonic() + HOLDDOWN + 4.0  # absence: watch past the hold-down
    while time.monotonic() < watch_until:
        assert agents.settled(info) in ("db2", None), "failed back twice within min_interval"
        time.sleep(0.2)
    assert agents.settled(info, standby=True) == "db2"
