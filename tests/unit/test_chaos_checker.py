"""The chaos schedule (reproducible, classic-mode limits) and the checker (pure verdicts)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from dualbeat_lab.chaos import checker, injectors, schedule
from dualbeat_lab.sandbox.layout import standard_lab
from dualbeat_lab.writer import WriteRecord

HOSTS = ["db1", "db2", "client"]


def test_same_seed_same_schedule_and_different_seed_differs() -> None:
    a = schedule.build(7, 300, HOSTS, arbiter=False)
    assert a == schedule.build(7, 300, HOSTS, arbiter=False)
    assert a != schedule.build(8, 300, HOSTS, arbiter=False)
    assert all(s.start + s.hold <= 300 for s in a) and len(a) > 5
    assert [s.index for s in a] == list(range(1, len(a) + 1))


def test_classic_mode_never_cuts_db1_from_db2_alone() -> None:
    targets = {
        s.target for seed in range(200) for s in schedule.build(seed, 600, HOSTS, arbiter=False)
    }
    assert "db1~db2" not in targets
    assert {"client|db1+db2", "client+db1|db2", "client+db2|db1"} <= targets  # every split
    assert {"client~db1", "client~db2"} <= targets


def test_a_witness_adds_its_splits_and_the_db_cut_with_an_arbiter() -> None:
    hosts = [*HOSTS, "witness"]
    assert len(schedule.splits(hosts)) == 7
    assert "db1~db2" in schedule.pairs(hosts, arbiter=True)
    assert "db1~db2" not in schedule.pairs(hosts, arbiter=False)
    assert schedule.separates_db_hosts_with_client_on_both("db2~db1")
    assert not schedule.separates_db_hosts_with_client_on_both("db1|db2+client")


def test_cut_sides() -> None:
    assert schedule.cut_sides("db1+client|db2") == [(("db1", "client"), ("db2",))]
    assert schedule.cut_sides("db1~witness") == [(("db1",), ("witness",))]


def w(
    seq: int, sent: float, sid: int, epoch: int, acked: bool = True, name: str = "w1"
) -> WriteRecord:
    return WriteRecord(seq, sent, sent + 0.002 if acked else None, sid, None, name, epoch)


def evidence(attempts: Sequence[WriteRecord], **changes: Any) -> checker.Evidence:
    final = {a.key for a in attempts if a.acked}
    base: dict[str, Any] = {
        "attempts": attempts,
        "final_keys": final,
        "reported_lost": set(),
        "windows": [],
        "arbiter": False,
        "converged_s": 5.0,
        "bound_s": 30.0,
        "final_roles": {"db1": "active", "db2": "standby"},
        "checksum_equal": True,
        "checksum_note": "exit 0",
        "tracebacks": {},
        "dead_agents": [],
    }
    return checker.Evidence(**(base | changes))


def failover() -> list[WriteRecord]:
    """db1 (epoch 1) until t=10, a gap, db2 (epoch 2) from t=11, db1 again (epoch 3) at 20."""
    return (
        [w(i, i * 0.5, 1, 1) for i in range(1, 21)]
        + [w(100 + i, 11 + i * 0.5, 2, 2, name="w2") for i in range(10)]
        + [w(200 + i, 20 + i * 0.5, 1, 3) for i in range(5)]
    )


def test_clean_failovers_pass() -> None:
    v = checker.verdict(evidence(failover()))
    assert v["ok"], v["violations"]
    assert [(p["server_id"], p["epoch"]) for p in v["periods"]] == [(1, 1), (2, 2), (1, 3)]


def test_interleaved_writes_of_two_servers_are_two_writers() -> None:
    """No single write overlaps another, but db1 and db2 alternate: both took writes."""
    attempts = [w(i, 10 + i * 0.1, 1 + i % 2, 1 + i % 2) for i in range(20)]
    v = checker.verdict(evidence(attempts))
    assert not v["ok"] and "two writers" in v["violations"][0]


def test_overlap_in_a_classic_db_cut_is_expected_only_without_arbiter() -> None:
    attempts = [w(i, 10 + i * 0.1, 1 + i % 2, 1 + i % 2) for i in range(20)]
    window = checker.Window(4, "cut", "db1~db2", 9.0, 13.0, classic_limit=True)
    classic = checker.verdict(evidence(attempts, windows=[window]))
    assert classic["ok"] and classic["overlaps"][0]["expected_in_classic_mode"]
    arbiter = checker.verdict(evidence(attempts, windows=[window], arbiter=True))
    assert not arbiter["ok"]


def test_a_missing_acked_write_fails_unless_reported() -> None:
    attempts = failover()
    final = {a.key for a in attempts} - {("w1", 20)}
    v = checker.verdict(evidence(attempts, final_keys=final))
    assert not v["ok"] and "w1#20" in v["violations"][0]
    reported = checker.verdict(evidence(attempts, final_keys=final, reported_lost={("w1", 20)}))
    assert reported["ok"] and reported["writes"]["lost_reported"] == 1
    assert reported["writes"]["lost_reported_now_present"] == 0


def test_an_unacknowledged_write_may_be_missing() -> None:
    attempts = [*failover(), w(999, 30, 1, 3, acked=False)]
    assert checker.verdict(evidence(attempts))["ok"]


@pytest.mark.parametrize(
    ("change", "text"),
    [
        ({"converged_s": None}, "no convergence"),
        ({"converged_s": 31.0}, "no convergence"),
        ({"checksum_equal": False, "checksum_note": "exit 1"}, "checksums"),
        ({"tracebacks": {"db1/agent.log": ["Traceback (most recent call last):"]}}, "traceback"),
        ({"dead_agents": ["db2"]}, "agent on db2 died"),
        ({"unresolved": ["db1"]}, "stayed fenced"),
        ({"final_keys": None}, "could not be read"),
        ({"unsettled": [3]}, "step 3 never settled"),  # issue 13 item 18
    ],
)
def test_each_end_state_violation(change: dict[str, Any], text: str) -> None:
    v = checker.verdict(evidence(failover(), **change))
    assert not v["ok"] and any(text in line for line in v["violations"]), v["violations"]


def test_traceback_lines() -> None:
    log = "started\nTraceback (most recent call last):\n  File x\nValueError: y\n"
    assert checker.traceback_lines(log) == ["Traceback (most recent call last):"]
    assert checker.traceback_lines("a traceback mentioned in passing\n") == []


def test_longest_gap_in_a_window() -> None:
    attempts = failover()  # acks every 0.5 s on db1 until 10.0, db2 from 11.0
    assert checker.longest_gap(attempts, 9.0, 12.0) == 1.0
    assert checker.longest_gap(attempts, 30.0, 40.0) == pytest.approx(40.0 - 22.002)
    assert checker.longest_gap([], 0.0, 1.0) is None


def test_the_order_hosts_are_listed_in_does_not_change_the_schedule() -> None:
    a = schedule.build(3, 300, ["db2", "client", "db1"], arbiter=False)
    assert a == schedule.build(3, 300, ["client", "db1", "db2"], arbiter=False)


def test_cut_rules_drop_both_directions_between_the_sides_only() -> None:
    lab = standard_lab("/var/lib/dualbeat-sandbox", witness=True)
    script = injectors.cut_script(lab, "client+db1|db2+witness")
    a = '"client-lan", "db1-lan", "db1-hb"'
    b = '"db2-lan", "db2-hb", "witness-lan", "witness-hb"'  # the witness is on both nets
    assert f"iifname {{ {a} }} oifname {{ {b} }} drop" in script
    assert f"iifname {{ {b} }} oifname {{ {a} }} drop" in script
    pair = injectors.cut_script(lab, "db1~db2")
    assert '"client-lan"' not in pair and pair.count(" drop") == 2
    assert "table bridge dualbeat_chaos" in script  # not the table faults.heal() removes
