"""The drill timeline on synthetic writer logs and agent events (no lab, no clock)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dualbeat_lab.sandbox.timeline import AgentEvent, Timeline, load_events, lost_writes
from dualbeat_lab.writer import WriteRecord, load_log

T0 = 1_700_000_000.0  # the fault


def ok(seq: int, sent: float, rtt: float = 0.002, sid: int = 1) -> WriteRecord:
    """An acknowledged write sent ``sent`` seconds after the fault."""
    return WriteRecord(seq, T0 + sent, T0 + sent + rtt, sid, None)


def failed(seq: int, sent: float, error: str = "unavailable 2013: timed out") -> WriteRecord:
    return WriteRecord(seq, T0 + sent, None, None, error)


def event(code: str, at: float, node: str = "db2", epoch: int | None = None) -> dict[str, object]:
    return {"ts": T0 + at, "node": node, "role": "standby", "epoch": epoch, "code": code,
            "text": f"{code.lower()} happened", "evidence": {"detect_s": 0.5}}  # fmt: skip


# A failover: writes every 10 ms to db1, fault at 0, timeouts, then writes to db2 from +1.0 s.
FAILOVER = [
    ok(1, -0.030),
    ok(2, -0.020),
    ok(3, -0.010),  # acked at -0.008: the last ack before the fault
    failed(4, 0.000),
    failed(5, 0.500),
    failed(6, 0.700),
    ok(7, 0.990, rtt=0.010, sid=2),  # acked at +1.000
    ok(8, 1.010, sid=2),
    ok(9, 1.020, sid=2),
]
EVENTS = [
    event("STARTED", -60.0, "db1"),
    event("STARTED", -60.0),
    event("PEER_DEAD", 0.600, epoch=1),
    event("PROMOTED", 0.950, epoch=2),
    event("PROMOTED", 5.0, epoch=3),
]


def test_failover_milestones() -> None:
    t = Timeline.build(T0, FAILOVER, EVENTS)
    assert t.detected is not None and t.detected.code == "PEER_DEAD"
    assert t.detected_at == pytest.approx(T0 + 0.6)
    assert t.promoted is not None and (t.promoted.node, t.promoted.epoch) == ("db2", 2)
    assert t.promoted_at == pytest.approx(T0 + 0.95)
    assert t.first_write_after is not None and t.first_write_after.seq == 7
    assert t.rto == pytest.approx(1.0)
    assert t.last_ack_before is not None and t.last_ack_before.seq == 3
    gap = t.longest_gap
    assert gap is not None and gap.closed
    assert (gap.start.seq, gap.end.seq if gap.end else None) == (3, 7)
    assert gap.seconds == pytest.approx(1.008)
    assert gap.contains(T0) and not gap.contains(T0 + 1.1)
    assert (t.writes_total, t.writes_acked, t.errors) == (9, 6, 3)
    assert t.error_kinds == {"unavailable 2013: timed out": 3}


def test_only_writes_sent_after_the_fault_count() -> None:
    """A write sent before the fault and acked after it says nothing about the new active."""
    writes = [ok(1, -0.5), WriteRecord(2, T0 - 0.001, T0 + 0.4, 1, None), ok(3, 0.7)]
    t = Timeline.build(T0, writes)
    assert t.first_write_after is not None and t.first_write_after.seq == 3
    assert t.rto == pytest.approx(0.702)
    gap = t.longest_gap  # seq 2 was in flight at the fault: the gap runs from seq 1 to it
    assert gap is not None and (gap.start.seq, gap.end and gap.end.seq) == (1, 2)


def test_events_before_the_fault_are_ignored_and_dicts_or_objects_both_work() -> None:
    early = [event("PEER_DEAD", -0.1), event("LINK_DOWN", 0.2, node="db1")]
    t = Timeline.build(T0, FAILOVER, [AgentEvent.from_json(e) for e in early])
    assert t.detected is not None and (t.detected.code, t.detected.node) == ("LINK_DOWN", "db1")
    assert t.promoted is None and t.promoted_at is None
    assert t.events_after == (AgentEvent.from_json(early[1]),)


def test_no_recovery_leaves_an_open_gap_and_no_rto() -> None:
    writes = [ok(1, -0.02), ok(2, -0.01), failed(3, 0.0), failed(4, 0.5), failed(5, 1.2)]
    t = Timeline.build(T0, writes)
    assert t.rto is None and t.first_write_after is None
    gap = t.longest_gap
    assert gap is not None and not gap.closed and gap.end is None
    assert gap.seconds == pytest.approx(1.2 - (-0.01 + 0.002))
    assert "still open" in t.render()
    assert t.as_json()["rto_s"] is None


def test_gap_counts_from_the_last_ack_before_the_fault() -> None:
    """An outage long before the fault is not this drill's gap."""
    writes = [ok(1, -10.0), ok(2, -5.0), ok(3, -0.01), ok(4, 0.3), ok(5, 0.31)]
    gap = Timeline.build(T0, writes).longest_gap
    assert gap is not None and (gap.start.seq, gap.end and gap.end.seq) == (3, 4)


def test_empty_inputs() -> None:
    t = Timeline.build(T0, [])
    assert t.longest_gap is None and t.rto is None and t.writes_total == 0
    assert "RTO: n/a" in t.render()
    json.dumps(t.as_json())
    only_failures = Timeline.build(T0, [failed(1, 0.1)])
    assert only_failures.longest_gap is None and only_failures.errors == 1


def test_render_and_json() -> None:
    t = Timeline.build(T0, FAILOVER, EVENTS)
    text = t.render()
    lines = text.splitlines()
    assert lines[0].strip().startswith("-8.0 ms") and "last ack before the fault: seq 3" in lines[0]
    assert "+0.0 ms  fault injected" in lines[1]
    assert "+600.0 ms  db2 PEER_DEAD epoch 1" in text and "<- detected" in text
    assert "+950.0 ms  db2 PROMOTED epoch 2" in text and "<- promoted" in text
    assert "+1000.0 ms  first write after the fault acked: seq 7 (server_id 2" in text
    assert "RTO: 1000.0 ms; detected: 600.0 ms; promoted: 950.0 ms" in text
    assert "longest gap without an ack: 1008.0 ms (seq 3 -> seq 7)" in text
    data = json.loads(json.dumps(t.as_json()))
    assert data["rto_s"] == pytest.approx(1.0)
    assert data["detected_ms"] == 600.0 and data["promoted_node"] == "db2"
    assert data["promoted_epoch"] == 2 and data["first_write_after_server_id"] == 2
    assert data["longest_gap_from_ms"] == -8.0 and data["longest_gap_to_ms"] == 1000.0


def test_lost_writes_are_acked_seqs_missing_from_the_active() -> None:
    writes = [ok(1, 0), ok(2, 0.01), failed(3, 0.02), ok(4, 0.03)]
    # seq 3 failed (its outcome is unknown: present or not, it is not a loss)
    assert lost_writes(writes, [1, 2, 4]) == [] and lost_writes(writes, {1}) == [2, 4]


def test_load_events_files(tmp_path: Path) -> None:
    db1, db2 = tmp_path / "db1.jsonl", tmp_path / "db2.jsonl"
    db1.write_text(json.dumps(event("STARTED", 1.0, "db1")) + "\n")
    # db2's last line is still being written: it has no newline yet
    db2.write_text(json.dumps(event("PEER_DEAD", 0.5)) + "\n" + '{"ts": 17')
    got = load_events([db1, db2, tmp_path / "missing.jsonl"])
    assert [(e.node, e.code) for e in got] == [("db2", "PEER_DEAD"), ("db1", "STARTED")]
    assert got[0].evidence == {"detect_s": 0.5} and got[0].role == "standby"
    db1.write_text("not json\n")
    with pytest.raises(ValueError, match=r"db1.jsonl:1"):
        load_events([db1])


def test_writer_log_round_trip(tmp_path: Path) -> None:
    log = tmp_path / "writes.jsonl"
    log.write_text("".join(w.to_json() + "\n" for w in FAILOVER) + '{"seq": 10, "sen')
    assert load_log(log) == FAILOVER
    log.write_text("{}\n")
    with pytest.raises(ValueError, match=r"writes.jsonl:1"):
        load_log(log)
