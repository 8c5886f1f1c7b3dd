"""Issue 13 item 14: a drill with no new active is a failure, never "0 lost" (no lab)."""

from __future__ import annotations

from pathlib import Path

from dualbeat_lab.sandbox.drill import DrillResult, Fault, Tally, lost_checked_on
from dualbeat_lab.sandbox.timeline import Timeline
from dualbeat_lab.writer import WriteRecord

T0 = 1_700_000_000.0  # the fault


def ok(seq: int, sent: float, sid: int = 1) -> WriteRecord:
    return WriteRecord(seq, T0 + sent, T0 + sent + 0.002, sid, None)


# The writes came back (the old active was thawed), but no node settled as the new active.
RESUMED = Timeline.build(T0, [ok(1, -0.01), ok(2, 5.0), ok(3, 5.01)])


def test_lost_writes_are_checked_on_the_node_that_should_hold_them() -> None:
    assert lost_checked_on(Fault.KILL, "db1", "db2") == "db2"
    assert lost_checked_on(Fault.STOP_AGENT, "db1", None) == "db1"  # no failover is right
    assert lost_checked_on(Fault.KILL, "db1", None) is None  # nothing to check against


def test_a_run_with_no_new_active_is_a_failure_not_zero_lost() -> None:
    result = DrillResult(Fault.FREEZE, "db1", None, RESUMED, None, Path("w.jsonl"))
    assert RESUMED.rto is not None  # writes resumed: the RTO alone would call it a success
    assert not result.recovered
    assert result.as_json()["lost_acked_writes"] is None
    assert result.as_json()["recovered"] is False
    tally = Tally("freeze", 2)
    tally.add(result)
    tally.add(DrillResult(Fault.FREEZE, "db1", "db2", RESUMED, [], Path("w.jsonl")))
    figures = tally.result()
    assert figures["runs_without_recovery"] == 1
    assert figures["runs_lost_unknown"] == 1  # not counted as "0 lost"
    assert figures["acked_writes_lost"] == 0
    assert figures["rto_s"]["min"] == figures["rto_s"]["max"]  # only the recovered run
