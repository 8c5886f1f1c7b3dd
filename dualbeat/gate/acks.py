"""Which commits were still waiting for semi-sync's acknowledgement when the gate shut.

Why: a client's commit that reached the active just before its link went down goes into
the binary log and then waits for the standby's acknowledgement, which never comes (the
standby never got the transaction). The peer promotes without it; the old active commits
it later (the wait times out, or the agent turns semi-sync off), and is fenced for a
transaction the new active lacks. Its client never heard back: the commit was still
waiting when the client gate destroyed the connection (``gate.window``: after that no
answer reaches it). If that can be proven, the node discards it by itself
(``ops.rejoin.auto_resolve``) instead of waiting for an operator.

The proof, from the probes before the shut (``mysql.semisync``; every probe reads the
counters in its one statement). A commit returns to its client without an
acknowledgement only by timing out or while semi-sync is off, and the server counts both
(``unacked``). Take a probe P, sent at ``P.sent``, that saw semi-sync on, waiting for
nothing, with no commit counted unacknowledged from P to the last probe before the
shut, each on and waiting with no replica connected too, the gate shut at ``at`` less than
the timeout after P was sent, and the agent not touching the source side of semi-sync in
between. Then a transaction not in P's executed set was written after P, and before the
shut it could not have returned to its client:

- acknowledged: the standby has it, so it is not lost;
- timed out: that takes the timeout from its write, which is after P; the shut came first;
- while semi-sync was off: it was on at every probe from P on with nothing counted, and
  it turns off only by a commit timing out (counted; a commit waiting at P would be one,
  and none was) or by someone switching it off (the agent: ``changing``);
- a commit counted between the last probe and the shut: a timeout (excluded above) or
  a commit while off (the same).

The counter's check also catches semi-sync switched off and on again between two probes
(by hand: it counts the commits in between, which the status alone would not show). The
claim is tested against a model of a semi-sync source, mutations of these rules included
(``tests/unit/test_gate_acks.py``).

Not covered: an operator switching semi-sync off by hand in the instant between the last
probe and the shut, and a replica that acknowledges later than the timeout yet does
receive the transaction (the commit is then not lost anyway).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from dualbeat.mysql.semisync import SemisyncSource

__all__ = ["AckTrail", "Sample", "unacked_after"]

#: Samples kept: enough for a minute of probes at 200 ms (timeouts are seconds).
KEEP = 300
#: The agent's changes of the source side kept: one is enough while changes are rare.
CHANGES_KEPT = 8


@dataclass(frozen=True)
class Sample:
    """One successful probe: sent at ``sent`` (monotonic), read ``executed`` and
    ``source``."""

    sent: float
    executed: str
    source: SemisyncSource


@dataclass
class Change:
    """The agent changing the source side of semi-sync, from ``began`` until ``ended``
    (None while it runs)."""

    began: float
    ended: float | None = None


def unacked_after(samples: Sequence[Sample], changes: Sequence[Change], at: float) -> str | None:
    """The executed set of the earliest probe P that proves (see the module doc) every
    transaction written after it and before ``at`` was still waiting for its
    acknowledgement at ``at``; None when no probe does. ``samples`` are consecutive
    (a failed probe ends a run: ``AckTrail.broken``), oldest first."""
    before = [s for s in samples if s.sent <= at]
    if not before:
        return None
    last = before[-1].source
    found: Sample | None = None
    for sample in reversed(before):
        src = sample.source
        if not (
            src.on
            and src.wait_no_replica
            and src.unacked == last.unacked
            and src.timeout == last.timeout
            and at - sample.sent < src.timeout
        ):
            break
        if any(c.began <= at and (c.ended is None or c.ended >= sample.sent) for c in changes):
            break
        if src.waiting == 0:
            found = sample
    return None if found is None else found.executed


class AckTrail:
    """The probes' samples since the last failed one, and the agent's own changes of
    the source side; shared by the monitor (``add``, ``broken``), the actor
    (``changing``) and the client gate's window recorder (``unacked_after``), each on
    its own thread."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._samples: deque[Sample] = deque(maxlen=KEEP)
        self._changes: deque[Change] = deque(maxlen=CHANGES_KEPT)

    def add(self, sample: Sample) -> None:
        with self._lock:
            self._samples.append(sample)

    def broken(self) -> None:
        """A probe failed or read no semi-sync: the run of samples ends (the server may
        have restarted, its counters with it)."""
        with self._lock:
            self._samples.clear()

    @contextlib.contextmanager
    def changing(self) -> Iterator[Callable[[], None]]:
        """Around the agent's semi-sync call; it calls what it is given right before it
        changes the source side (a call that changes nothing leaves no mark)."""
        change: Change | None = None

        def began() -> None:
            nonlocal change
            with self._lock:
                change = Change(self._clock())
                self._changes.append(change)

        try:
            yield began
        finally:
            if change is not None:
                with self._lock:
                    change.ended = self._clock()

    def waiting(self) -> bool:
        """Whether the last probe saw commits waiting for an acknowledgement."""
        with self._lock:
            last = self._samples[-1].source if self._samples else None
        return last is not None and last.on and last.waiting > 0

    def unacked_after(self, at: float) -> str | None:
        """``unacked_after`` over what is kept, for a shut at ``at`` (monotonic)."""
        with self._lock:
            samples, changes = list(self._samples), list(self._changes)
        return unacked_after(samples, changes, at)
