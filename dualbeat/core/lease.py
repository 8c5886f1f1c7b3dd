"""Leases, not hopes: how long the active may stay writable, and what a standby promised.

In arbiter mode the active stays writable only while it holds a time-bounded promise from
a majority of {itself, peer, arbiter}: its own vote plus either

* the peer's promise: every standby beat echoes the highest sequence number it heard from
  the active and says "I will not take over before I received that beat + P". The agent
  turns it into the active's clock by adding P to its *own send time* of that beat, which
  is earlier than the standby's receipt: conservative without trusting either clock;
* or the arbiter lease: the key in etcd, valid until the request's send time + TTL.

The active demotes itself ``lease_margin`` before the later of the two ends, so its
demotion is done before either other party may let the standby in. The standby keeps its
promise (``promised_until``), and in arbiter mode promotes only holding the key. So an
arbiter outage alone never demotes an active that hears its peer, and a partition of the
two nodes alone never makes two writers: the key has one holder.

P is ``deadtime``: a standby waits that long after the active's last beat anyway, so the
promise costs no failover time. Without an arbiter nothing here applies (classic mode).
"""

from __future__ import annotations

from dualbeat.core.gtid import GtidParseError, GtidSet
from dualbeat.core.roles import Role
from dualbeat.core.state import CoreConfig, NodeState


def held_until(s: NodeState) -> float:
    """Until when (our clock) the active holds a second vote: the peer's promise or the
    lease, whichever ends later."""
    lease = s.evidence.lease
    times = [
        lease.valid_until if lease is not None else float("-inf"),
        s.peer.promise_until if s.peer.promise_until is not None else float("-inf"),
    ]
    return max(times)


def lapsing(cfg: CoreConfig, s: NodeState, now: float) -> bool:
    """An active in arbiter mode whose last vote ends within ``lease_margin``: demote now."""
    return cfg.arbiter and now >= held_until(s) - cfg.timing.lease_margin


def may_kick(cfg: CoreConfig, s: NodeState, now: float) -> bool:
    """Whether the agent may kick the watchdog now: while active, and in arbiter mode only
    while the last vote ends later than the watchdog's timeout. A hung agent stops kicking,
    so its host is reset before the peer may take over."""
    if s.role is not Role.ACTIVE:
        return False
    return not cfg.arbiter or held_until(s) - now > cfg.watchdog_timeout


def lease_ok(cfg: CoreConfig, s: NodeState, now: float) -> bool:
    """We hold the arbiter key long enough to start acting on it."""
    lease = s.evidence.lease
    return lease is not None and now < lease.valid_until - cfg.timing.lease_margin


def promising(cfg: CoreConfig, s: NodeState) -> bool:
    """Whether our beats promise the peer not to take over: in arbiter mode, while we are
    not active and the peer says it is."""
    beat = s.peer.beat
    return (
        cfg.arbiter
        and s.role is not Role.ACTIVE
        and s.promotion is None
        and beat is not None
        and beat.role is Role.ACTIVE
    )


def promise_ends(cfg: CoreConfig, s: NodeState) -> float:
    """What our next beat promises, at the latest (the echoed beat arrived by ``heard_at``)."""
    heard = s.peer.heard_at if s.peer.heard_at is not None else float("-inf")
    return heard + cfg.promise


def grow_high_water(high_water: GtidSet | None, saved: str, seen: GtidSet | None) -> GtidSet | None:
    """The high water grown by ``seen``; the saved text is parsed at the first sight of
    a set, in its family (a high water of the other family, after a migration, starts over)."""
    if seen is None:
        return high_water
    if high_water is None:
        try:
            high_water = type(seen).parse(saved) if saved else type(seen)()
        except GtidParseError:
            high_water = type(seen)()
    if type(high_water) is not type(seen):
        return high_water
    return high_water if seen.issubset(high_water) else high_water.union(seen)


def behind_high_water(s: NodeState) -> GtidSet | None:
    """What of the high water we lack (executed or at least received), if anything."""
    high_water, local = s.high_water, s.local
    if high_water is None or local.executed is None or type(high_water) is not type(local.executed):
        return None
    have = local.executed
    if local.received is not None and type(local.received) is type(have):
        have = have.union(local.received)
    missing = high_water.difference(have)
    return missing if missing else None
