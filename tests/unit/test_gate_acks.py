"""``gate.acks``: which commits the semi-sync counters prove were still waiting for their
acknowledgement when the client gate shut.

The rules on hand-made runs of probes, then the claim itself against a model of a
semi-sync source (commits, a replica that acknowledges late or never, timeouts, the
agent switching semi-sync off, probes that read a moment after they are sent): every
lost transaction the proof covers had not returned to its client by the shut.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from dualbeat.gate.acks import AckTrail, Change, Sample, unacked_after
from dualbeat.mysql.semisync import SemisyncSource, parse_source

NAMES = {
    "status": "Rpl_semi_sync_master_status",
    "unacked": "Rpl_semi_sync_master_no_tx",
    "waiting": "Rpl_semi_sync_master_wait_sessions",
}


def source(
    *, on: bool = True, unacked: int = 3, waiting: int = 0, timeout: float = 1.0, wait: bool = True
) -> SemisyncSource:
    return SemisyncSource(on, unacked, waiting, timeout, wait)


def run(*sources: SemisyncSource, every: float = 0.2) -> list[Sample]:
    """Probes at 0, every, 2 * every...; the i-th saw executed set ``0-1-i``."""
    return [Sample(i * every, f"0-1-{i}", s) for i, s in enumerate(sources)]


def test_the_earliest_probe_within_the_timeout_that_saw_nothing_waiting() -> None:
    samples = run(source(), source(), source(waiting=1), source(waiting=1))
    assert unacked_after(samples, [], at=0.7) == "0-1-0"
    assert unacked_after(samples, [], at=1.1) == "0-1-1", "the first is a timeout ago"
    assert unacked_after(samples, [], at=1.3) is None, "only waiting probes within it"


def test_a_commit_counted_unacknowledged_ends_the_proof_there() -> None:
    samples = run(source(unacked=3), source(unacked=4), source(unacked=4, waiting=1))
    assert unacked_after(samples, [], at=0.5) == "0-1-1"
    samples = run(source(unacked=3), source(unacked=3, waiting=1), source(unacked=4, waiting=1))
    assert unacked_after(samples, [], at=0.5) is None
    samples[2] = Sample(0.4, "0-1-2", source(unacked=4))
    assert unacked_after(samples, [], at=0.5) == "0-1-2", "a proof from the last probe alone"


def test_semi_sync_off_or_not_waiting_without_a_replica_proves_nothing() -> None:
    assert unacked_after(run(source(), source(on=False)), [], at=0.3) is None
    assert unacked_after(run(source(wait=False), source(wait=False)), [], at=0.3) is None
    assert unacked_after(run(source(timeout=2.0), source()), [], at=0.3) == "0-1-1"


def test_the_agent_changing_semi_sync_ends_the_proof_there() -> None:
    samples = run(source(), source(), source())
    assert unacked_after(samples, [Change(0.1, 0.15)], at=0.5) == "0-1-1"
    assert unacked_after(samples, [Change(0.3, 0.35)], at=0.5) == "0-1-2", "only after it"
    assert unacked_after(samples, [Change(0.3, 0.45)], at=0.5) is None
    assert unacked_after(samples, [Change(0.1, None)], at=0.5) is None, "still changing"
    assert unacked_after(samples, [Change(0.6, 0.7)], at=0.5) == "0-1-0", "after the shut"


def test_probes_sent_after_the_shut_are_not_used() -> None:
    samples = run(source(), source(), source(unacked=9))
    assert unacked_after(samples, [], at=0.3) == "0-1-0"
    assert unacked_after([], [], at=0.3) is None


def test_the_trail_ends_at_a_failed_probe_and_marks_only_real_changes() -> None:
    now = [0.0]
    trail = AckTrail(clock=lambda: now[0])
    trail.add(Sample(0.0, "0-1-1", source()))
    assert trail.unacked_after(0.5) == "0-1-1"
    trail.broken()
    assert trail.unacked_after(0.5) is None
    trail.add(Sample(0.2, "0-1-2", source()))
    with trail.changing():
        now[0] = 0.3  # a call that changed nothing
    assert trail.unacked_after(0.5) == "0-1-2"
    with trail.changing() as began:
        began()
        now[0] = 0.4
    assert trail.unacked_after(0.5) is None


def test_the_probe_columns_read_as_a_source() -> None:
    counters = "RPL_SEMI_SYNC_MASTER_STATUS=ON,RPL_SEMI_SYNC_MASTER_NO_TX=4,"
    counters += "RPL_SEMI_SYNC_MASTER_WAIT_SESSIONS=1"
    assert parse_source(counters, 1000, 1, NAMES) == source(unacked=4, waiting=1)
    assert parse_source(counters, "2500", "OFF", NAMES) == source(
        unacked=4, waiting=1, timeout=2.5, wait=False
    )
    assert parse_source(None, 1000, 1, NAMES) is None, "no plugin"
    assert parse_source(counters, None, 1, NAMES) is None
    assert parse_source("RPL_SEMI_SYNC_MASTER_STATUS=ON", 1000, 1, NAMES) is None


# --- the claim, against a model of a semi-sync source --------------------------------------


@dataclass
class Source:
    """A semi-sync source as MariaDB behaves (measured on 10.11: ``mysql.semisync``). A
    commit waits while semi-sync is on and returns at its acknowledgement (one for a later
    transaction counts: they are positions), or at its timeout, which counts it and
    turns semi-sync off, releasing (and counting) every other waiting commit; while off a
    commit returns at once, counted; an acknowledgement of the newest transaction turns
    it on again; the agent switching it off releases and counts every waiting one."""

    timeout: float
    on: bool = True
    enabled: bool = True
    unacked: int = 0
    written: int = 0
    waiting: dict[int, float] = field(default_factory=dict)
    returned: dict[int, float] = field(default_factory=dict)
    written_at: dict[int, float] = field(default_factory=dict)

    def release_all(self, t: float) -> None:
        for seq in self.waiting:
            self.returned[seq] = t
            self.unacked += 1
        self.waiting.clear()

    def commit(self, t: float) -> int:
        self.written += 1
        self.written_at[self.written] = t
        if self.on:
            self.waiting[self.written] = t
        else:
            self.returned[self.written] = t
            self.unacked += 1
        return self.written

    def ack(self, t: float, seq: int) -> None:
        for s in [s for s in self.waiting if s <= seq]:
            self.returned[s] = t
            del self.waiting[s]
        if self.enabled and seq == self.written:
            self.on = True

    def timed_out(self, t: float, seq: int) -> None:
        if seq in self.waiting:
            self.on = False
            self.release_all(t)

    def disable(self, t: float) -> None:
        self.enabled = self.on = False
        self.release_all(t)

    def read(self) -> SemisyncSource:
        return SemisyncSource(self.on, self.unacked, len(self.waiting), self.timeout, True)


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[Sample], list[Change], float, set[int], Source]:
    """Run the model; the samples, the agent's changes, the shut, the transactions the
    replica received before it, and the source as it ended. The replica receives in
    order: cut off, it receives nothing; back, it catches up on everything first."""
    timeout = draw(st.sampled_from([0.5, 1.0, 2.0]))
    end = 8.0
    # The shut, and the faults mostly shortly before it (where the proof is at stake).
    at = draw(st.floats(1, end))
    near = st.floats(max(0, at - 3 * timeout), at)
    commits = sorted(draw(st.lists(st.floats(0, end) | near, max_size=30)))
    cut = draw(near | st.floats(0, end))  # the replica receives nothing from here on
    back = draw(st.none() | st.floats(cut, end + 2))  # ...until here
    delays = draw(st.lists(st.floats(0, 2.5 * timeout), min_size=31, max_size=31))
    disable = draw(st.none() | st.floats(max(0, at - 0.3), at) | st.floats(0, end))
    jitter = draw(st.lists(st.floats(0, 0.08), min_size=40, max_size=40))
    events: list[tuple[float, int, str, int]] = []  # (time, order, kind, seq or probe)
    for i, t in enumerate(commits):
        heapq.heappush(events, (t, 1, "commit", i))
    for i in range(int(end / 0.2)):
        heapq.heappush(events, (i * 0.2, 0, "probe", i))
    if disable is not None:
        heapq.heappush(events, (disable, 2, "disable", 0))
    if back is not None:
        heapq.heappush(events, (back, 2, "back", 0))
    model, received, samples, changes = Source(timeout), set[int](), list[Sample](), []
    sent: dict[int, float] = {}

    def receive(t: float, delay: float) -> None:
        """The replica has everything written so far; it acknowledges after ``delay``."""
        if t < at:
            received.update(range(1, model.written + 1))
        heapq.heappush(events, (t + delay, 4, "ack", model.written))

    while events:
        t, _, kind, n = heapq.heappop(events)
        if kind == "commit":
            seq = model.commit(t)
            heapq.heappush(events, (t + timeout, 3, "timeout", seq))
            if t < cut or (back is not None and t >= back):
                receive(t, delays[n])
        elif kind == "back":
            receive(t, delays[-1])
        elif kind == "ack":
            model.ack(t, n)
        elif kind == "timeout":
            model.timed_out(t, n)
        elif kind == "disable":
            model.disable(t)
            changes.append(Change(t, t + 0.001))
        elif kind == "probe":  # sent now, read by the server a moment later
            sent[n] = t
            heapq.heappush(events, (t + jitter[n], 0, "read", n))
        elif kind == "read":
            samples.append(Sample(sent[n], f"0-1-{model.written}", model.read()))
    samples.sort(key=lambda s: s.sent)
    return samples, changes, at, received, model


@settings(max_examples=3000, deadline=None)
@given(histories())
def test_no_transaction_the_proof_covers_had_returned_to_its_client(
    history: tuple[list[Sample], list[Change], float, set[int], Source],
) -> None:
    samples, changes, at, received, model = history
    proven = unacked_after(samples, changes, at)
    if proven is None:
        return
    after = int(proven.rsplit("-", 1)[1])
    for seq in range(after + 1, model.written + 1):
        if seq in received:
            continue  # the standby has it: not lost
        if model.written_at[seq] >= at:
            continue  # the window's own part, from the shut on
        returned = model.returned.get(seq, float("inf"))
        assert returned >= at, f"{seq} returned at {returned}, shut at {at}, proven {proven}"
