"""Prometheus metrics of real agents, before and after a failover (db1's MySQL killed)."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from dualbeat_lab.sandbox import agents, faults
from dualbeat_lab.sandbox.lab import LabInfo
from tests.integration.labtools import wait_for
from tests.integration.test_api import get

pytestmark = pytest.mark.integration
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(info: LabInfo, node: str) -> Samples:
    text = get(info, node, "/metrics").text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def role(samples: Samples) -> str:
    return next(dict(labels)["role"] for (name, labels), v in samples.items()
                if name == "dualbeat_role" and v == 1.0)  # fmt: skip


def test_metrics_are_present_and_change_across_a_failover(pair: LabInfo) -> None:
    info = pair
    before = scrape(info, "db2")
    assert role(before) == "standby"
    for link in ("lan", "hb"):
        assert before[("dualbeat_heartbeat_age_seconds", (("link", link),))] < 1.5
        assert before[("dualbeat_heartbeat_sent_total", (("link", link),))] > 0
        bad = (("link", link), ("reason", "bad_signature"))
        assert before[("dualbeat_heartbeat_dropped_total", bad)] == 0
    assert before[("dualbeat_monitor_probe_latency_seconds", ())] > 0
    assert before[("dualbeat_replicating", ())] == 1.0
    assert before[("dualbeat_replication_lag_seconds", ())] == 0
    assert before[("dualbeat_failovers_total", ())] == 0
    assert before[("dualbeat_failover_phase_seconds_count", (("phase", "detect"),))] == 0
    active = scrape(info, "db1")
    assert role(active) == "active"
    # Semi-sync turns on once the active sees a healthy standby, a moment after settling.
    semisync = ("dualbeat_semisync_active", ())
    wait_for(lambda: scrape(info, "db1")[semisync] == 1.0, 15, "semi-sync active on db1")

    faults.kill_mysqld(info.lab, "db1")
    wait_for(lambda: agents.settled(info) == "db2", 30, "db2 to take over")

    after = scrape(info, "db2")
    assert role(after) == "active"
    assert after[("dualbeat_epoch", ())] > before[("dualbeat_epoch", ())]
    assert after[("dualbeat_failovers_total", ())] == 1
    assert after[("dualbeat_switchovers_total", ())] == 0
    for phase in ("detect", "apply", "total"):
        assert after[("dualbeat_failover_phase_seconds_count", (("phase", phase),))] == 1
    total = after[("dualbeat_failover_phase_seconds_sum", (("phase", "total"),))]
    detect = after[("dualbeat_failover_phase_seconds_sum", (("phase", "detect"),))]
    assert 0 <= detect <= total < 30 and total > 0  # detect is 0 when the peer yielded
    assert after[("dualbeat_decisions_total", (("code", "PROMOTED"),))] == 1
    old = scrape(info, "db1")  # its agent lives on: its MySQL is the thing that died
    assert role(old) != "active"
    assert old[("dualbeat_mysql_healthy", ())] == 0.0
