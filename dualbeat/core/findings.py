"""Findings: what the situation *is*, judged from the state, in strict priority order.

``assess`` looks at the evidence (local health, peer heartbeats, the peer's MySQL over SQL,
the VIP link, operator requests) and names exactly one finding; the transition table then
says what each role does about it. Keeping "what is going on" apart from "what to do"
lets every rule be a one-line test.
"""

from __future__ import annotations

from dualbeat.core.actions import AutoRejoin
from dualbeat.core.lease import behind_high_water, lapsing
from dualbeat.core.observations import Command, PeerBeat
from dualbeat.core.roles import Finding, Health, Role
from dualbeat.core.state import CoreConfig, NodeState, RejoinAuto

__all__ = [
    "PROMOTING",
    "Finding",
    "assess",
    "caught_up",
    "errant",
    "failback_candidate",
    "failback_due",
    "fit_to_promote",
    "fresh_peer",
    "handover_failed",
    "peer_dead",
    "silent_since",
]


#: VIP checks in a row without carrier before the link counts as down: one sample is a
#: NIC renegotiating, and an active that yields on it fails over for nothing.
CARRIER_SAMPLES = 2
#: Ping rounds in a row without an answer before an active without its peer counts as
#: isolated: one lost round is a lost echo, not a cut.
PING_ROUNDS = 2

#: Findings that make a passive node active (in arbiter mode only holding the key).
PROMOTING = frozenset(
    {Finding.PEER_DEAD, Finding.PEER_YIELDED, Finding.ELECTED, Finding.TAKEOVER_NOW}
)


def fresh_peer(cfg: CoreConfig, s: NodeState, now: float) -> PeerBeat | None:
    """The peer's last beat if heard within deadtime on any link."""
    peer = s.peer
    if peer.beat is None or peer.heard_at is None or now - peer.heard_at >= cfg.timing.deadtime:
        return None
    return peer.beat


def silent_since(s: NodeState) -> float:
    """When the peer's silence started *as far as we could hear*: its last heartbeat, or
    the moment our own link came back, whichever is later (silence heard through a dead
    link is no evidence), or our start if we never heard it."""
    heard = s.peer.heard_at if s.peer.heard_at is not None else s.started_at
    return max(heard, s.carrier_since or heard)


def peer_released(cfg: CoreConfig, s: NodeState, now: float) -> bool:
    """The peer told us, in a fresh beat, that it is not active and does not hold the VIP:
    a claim needs no duplicate-address probe (the old active announced its release)."""
    beat = fresh_peer(cfg, s, now)
    return beat is not None and beat.role is not Role.ACTIVE and not beat.vip_held


def peer_dead(cfg: CoreConfig, s: NodeState, now: float) -> bool:
    """Both signals agree: silent on every link for deadtime, and the SQL probe failed
    *after* the silence began, so an old result cannot condemn a peer that came back.
    A third can veto: our replica received from the peer after the silence began, and
    within deadtime (binlog events already in flight at the cut do not count for long)."""
    peer, since = s.peer, silent_since(s)
    if now - since < cfg.timing.deadtime:
        return False
    got = s.local.received_at
    if got is not None and got > since and now - got < cfg.timing.deadtime:
        return False  # our replica still receives from it: the peer's MySQL serves binlogs
    return peer.sql_at is not None and peer.sql_at > since and peer.sql_reachable is False


def vip_overridable(cfg: CoreConfig, s: NodeState, now: float) -> bool:
    """Whether a promotion may add the VIP although another host answers ARP for it: the
    peer is silent and its host *refused* our SQL probe since the silence began. Its
    mysqld is gone (no session survives it, nothing listens), so the address it still
    holds leads clients only to a refusal; our gratuitous ARP moves them here. A peer
    that answers nothing may be hung or cut off with clients still writing: never."""
    p = s.peer
    return (
        fresh_peer(cfg, s, now) is None
        and p.sql_refused
        and p.sql_at is not None
        and p.sql_at > silent_since(s)
    )


def resumable(cfg: CoreConfig, s: NodeState, beat: PeerBeat | None, now: float) -> bool:
    """A restarted agent whose server is the running active (its state file says active,
    the server is writable and healthy, no newer epoch seen) and whose peer, heard or
    silent for initdead, does not claim the role: it carries on as active. A promotion
    would stop its ring channel, raise the epoch and overwrite the takeover record for
    nothing. A rebooted host's server starts read-only, so it never resumes: it is
    elected like any starting node. Waiting for the peer costs nothing: a starting node
    leaves its server and the VIP as they are."""
    d, local = s.durable, s.local
    return (
        (beat is not None or now - s.started_at >= cfg.timing.initdead)
        and d.last_role is Role.ACTIVE
        and local.health is Health.HEALTHY
        and bool(local.writable)
        and d.epoch >= d.highest_seen
        and not (beat is not None and (beat.role is Role.ACTIVE or beat.epoch > d.epoch))
    )


def errant(s: NodeState, beat: PeerBeat) -> bool:
    """We *wrote* transactions the active peer lacks: unreplicated writes of an old active,
    or writes on a passive node. Only our own transactions count: the active's latest
    writes, applied here faster than its last heartbeat reported them, are not errant."""
    mine, theirs, origin = s.local.executed, beat.executed, s.local.origin
    if mine is None or theirs is None or origin is None or type(mine) is not type(theirs):
        return False
    return bool((mine - theirs).originated_by(origin))


def lacks_nothing_of_ours(s: NodeState, beat: PeerBeat) -> bool:
    """The peer holds every transaction we wrote, by our healthy probe's position and its
    beat's: a deposed active that may stand by at once, since no client's write of ours
    is at stake (dualbeat's own writes are in internal domains the agent leaves out of
    both positions, ``mysql.internal``). Unknown positions count as a loss: fence.

    A position a little stale errs safe: a write of ours the probe had not seen yet shows
    at the next probe, and the standby is fenced for it (``HOLDS_ERRANT``)."""
    mine, theirs = s.local.executed, beat.executed
    return (
        s.local.health is Health.HEALTHY
        and s.local.fails == 0  # the latest probe read the position
        and s.local.origin is not None
        and mine is not None
        and theirs is not None
        and type(mine) is type(theirs)
        and not errant(s, beat)
    )


def rejoin_candidate(cfg: CoreConfig, s: NodeState, beat: PeerBeat | None) -> bool:
    """Fenced, ``[rejoin] auto`` on, and the fresh active (at our epoch or later) holds
    every transaction of ours by both healthy positions: nothing a review could find.
    Never while our own ``AutoRejoin`` runs (it rewrites our GTID history), in
    maintenance, or over an operator's command (which is judged instead). Nor after our
    own ``AutoRejoin`` failed: it may have stopped between two steps of the rebuild (a
    GTID history reset, the copy's position not yet set), where a position looks clean
    and is not; only a run that completes (or an operator) clears that."""
    return (
        s.role is Role.FENCED
        and cfg.rejoin_auto is not RejoinAuto.OFF
        and not s.durable.maintenance
        and s.command is None
        and not s.auto_rejoin_failed
        and AutoRejoin not in s.in_flight
        and beat is not None
        and beat.role is Role.ACTIVE
        and beat.epoch >= s.durable.epoch
        and lacks_nothing_of_ours(s, beat)
    )


def auto_rejoin_due(cfg: CoreConfig, s: NodeState, now: float) -> bool:
    """``rejoin_candidate`` has held for ``warntime`` (``clean_since``): a position read
    between two steps of a rebuild (its GTID history just reset) never rejoins a node."""
    return (
        s.clean_since is not None
        and now - s.clean_since >= cfg.timing.warntime
        and rejoin_candidate(cfg, s, fresh_peer(cfg, s, now))
    )


def channel_to_start(s: NodeState, beat: PeerBeat | None) -> bool:
    """A standby whose channel is stopped whole (its I/O thread too) while it hears the
    active: a server started with ``skip_slave_start``, or a deposed active, replicates
    only when told, and the agent tells it. A channel stopped in part (a delayed SQL
    thread), or stopped whole after it was seen running (an operator's STOP SLAVE), is
    left as it is, and nothing starts while we hold writes the active lacks."""
    return (
        s.role is Role.STANDBY
        and s.promotion is None
        and beat is not None
        and beat.role is Role.ACTIVE
        and beat.epoch >= s.durable.epoch
        and s.local.health is Health.HEALTHY
        and s.local.io_stopped is True
        and not s.local.channel_ran
        and s.errant_since is None
    )


def failback_candidate(cfg: CoreConfig, s: NodeState, beat: PeerBeat | None) -> bool:
    """With auto_failback, we (not preferred) are active and the preferred peer could take
    over losslessly right now: a healthy standby, replicating, caught up, its link up."""
    return (
        cfg.failback is not None
        and s.role is Role.ACTIVE
        and s.promotion is None
        and _healthy_standby(beat)
        and beat is not None
        and bool(beat.replicating)
        and beat.lag == 0
        and not beat.yielding
    )


def failback_due(cfg: CoreConfig, s: NodeState, now: float) -> bool:
    """The candidate state has lasted the hold-down, and the last automatic failback is
    older than the anti-flapping interval (wall clock: it survives restarts)."""
    fb, since, last = cfg.failback, s.failback_ready_since, s.durable.last_failback_at
    if fb is None or since is None or now - since < fb.holddown:
        return False
    return last is None or now + s.wall_offset - last >= fb.min_interval


def fit_to_promote(cfg: CoreConfig, s: NodeState, now: float, *, yielded: bool = False) -> bool:
    """Healthy, linked, not behind an epoch, reaching a ping node (ipfail: a node that
    reaches none is the isolated one), and past what we promised the peer (unless the
    peer ``yielded``: its release voids the promise)."""
    d, failed_at = s.durable, s.promotion_failed_at
    return (
        not s.yielding
        and (failed_at is None or now - failed_at >= cfg.timing.promotion_backoff)
        and s.local.health is Health.HEALTHY
        and not s.local.failed_checks(cfg.timing.alert_after)
        and s.carrier is not False
        and d.epoch >= d.highest_seen
        and not (cfg.ping and s.evidence.ping_ok is False)
        and (yielded or now >= s.evidence.promised_until)
    )


def _healthy_standby(beat: PeerBeat | None) -> bool:
    return beat is not None and beat.role is Role.STANDBY and beat.mysql is Health.HEALTHY


def _wins_election(cfg: CoreConfig, s: NodeState, beat: PeerBeat) -> bool:
    """Nobody is active: who should be? Both nodes compute this from the same facts.

    Never a node that just yielded; always against a fenced or failed peer. Then, in
    order: the de facto active (writable or holding the VIP: an agent restarted under a
    running active must not demote it), the node holding every transaction the other has
    and more (after a rolled-back switchover, the old active), the higher epoch, and
    config order.
    """
    if s.yielding:
        return False
    if beat.role is Role.FENCED or beat.mysql is Health.FAILED:
        return True
    mine_active = bool(s.local.writable) or bool(s.vip_held)
    if mine_active != (beat.writable or beat.vip_held):
        return mine_active
    mine, theirs = s.local.executed, beat.executed
    if mine is not None and theirs is not None and type(mine) is type(theirs) and mine != theirs:
        if theirs <= mine:
            return True
        if mine <= theirs:
            return False
    return (s.durable.epoch, -cfg.priority) > (beat.epoch, cfg.priority - 1)


def caught_up(beat: PeerBeat | None) -> bool:
    """A healthy standby replicating with nothing left to apply: a handover to it applies
    our final position well within its timeout (a standby busy with a long ALTER would
    time out, roll back and find nobody writable)."""
    return _healthy_standby(beat) and beat is not None and beat.replicating and beat.lag == 0


def _handed_over(s: NodeState, beat: PeerBeat | None) -> bool:
    """The peer took over after our stop's handover: active at a newer epoch."""
    epoch = s.handover_epoch
    active = beat is not None and beat.role is Role.ACTIVE
    return epoch is not None and active and beat is not None and beat.epoch > epoch


def handover_failed(cfg: CoreConfig, s: NodeState, now: float) -> bool:
    """Our stop handed over, and the peer is not taking over (it rolled the switchover
    back, or our yield ran out unanswered): exiting now would leave no writer."""
    if s.shutdown is None or s.handover_epoch is None or s.role is Role.ACTIVE:
        return False
    beat = fresh_peer(cfg, s, now)
    promoting = beat is not None and beat.role is Role.ACTIVE
    return not (_handed_over(s, beat) or s.yielding or s.demoting or promoting)


def _shutdown(s: NodeState, beat: PeerBeat | None) -> Finding:
    """Stopping: the active hands over to a caught-up standby, waits for a lagging one,
    and exits only once the peer has taken over (see ``handover_failed``); a node with
    nothing to hand over, under ``--keep`` or in maintenance, exits at once."""
    assert s.shutdown is not None
    if s.shutdown.keep or s.durable.maintenance:
        return Finding.SHUTDOWN
    if s.role is Role.ACTIVE:
        if s.promotion is not None or (_healthy_standby(beat) and not caught_up(beat)):
            return Finding.SHUTDOWN_DEFERRED
        return Finding.SHUTDOWN_HANDOVER if _healthy_standby(beat) else Finding.SHUTDOWN
    if s.handover_epoch is None or _handed_over(s, beat):
        return Finding.SHUTDOWN
    return Finding.SHUTDOWN_DEFERRED


def assess(cfg: CoreConfig, s: NodeState, now: float) -> Finding:
    beat = fresh_peer(cfg, s, now)
    if s.shutdown is not None:
        return _shutdown(s, beat)
    if s.durable.maintenance and s.command is not None:
        return Finding.MAINTENANCE_REFUSED
    if s.role is Role.STARTING and s.local.health is Health.UNKNOWN:
        return Finding.NOT_PROBED
    if beat and beat.role is Role.ACTIVE and s.role is Role.ACTIVE and beat.epoch > s.durable.epoch:
        stand_by = cfg.rejoin_auto is not RejoinAuto.OFF and lacks_nothing_of_ours(s, beat)
        return Finding.SUPERSEDED if stand_by else Finding.PEER_NEWER_EPOCH
    if s.role is Role.ACTIVE and lapsing(cfg, s, now):
        return Finding.LEASE_EXPIRED
    if s.command is Command.REJOINED:
        accepted = s.role is Role.FENCED and s.errant_since is None and beat is not None
        return Finding.REJOIN_ACCEPTED if accepted else Finding.REJOIN_REFUSED
    if auto_rejoin_due(cfg, s, now):
        return Finding.REJOIN_AUTO
    if s.errant_since is not None and now - s.errant_since >= cfg.timing.warntime:
        return Finding.HOLDS_ERRANT
    if s.local.health is Health.FAILED or s.local.failed_checks(cfg.timing.alert_after):
        return Finding.LOCAL_FAILED
    asked = s.command in (Command.STANDBY, Command.SWITCHOVER) or (beat and beat.wants_takeover)
    if s.role is Role.ACTIVE and asked:
        return Finding.STANDBY_REQUESTED if _healthy_standby(beat) else Finding.STANDBY_REFUSED
    if s.role is Role.ACTIVE and failback_due(cfg, s, now):
        return Finding.FAILBACK_DUE
    if s.command is Command.SWITCHOVER and s.role is not Role.ACTIVE:
        live = beat is not None and beat.role is Role.ACTIVE
        return Finding.TAKEOVER_ASKED if live else Finding.SWITCHOVER_REFUSED
    if s.command in (Command.TAKEOVER, Command.TAKEOVER_FORCE) and s.role is not Role.ACTIVE:
        return _takeover(s, beat, now)
    if s.carrier is False and s.carrier_down >= CARRIER_SAMPLES:
        return Finding.LINK_DOWN
    if s.role is Role.STARTING and resumable(cfg, s, beat, now):
        return Finding.RESUMED
    if beat is not None:
        return _with_peer(cfg, s, beat, now)
    if s.role is Role.ACTIVE and cfg.ping and s.evidence.ping_fails >= PING_ROUNDS:
        return Finding.ISOLATED
    if s.peer.heard_at is None and now - s.started_at < cfg.timing.initdead:
        return Finding.INITDEAD
    if not peer_dead(cfg, s, now):
        return Finding.PEER_SILENT
    if s.role is Role.STARTING and s.peer.heard_at is None and behind_high_water(s) is not None:
        return Finding.BEHIND_HIGH_WATER
    if s.role is not Role.ACTIVE and not fit_to_promote(cfg, s, now):
        return Finding.CANNOT_PROMOTE
    return Finding.PEER_DEAD


def _takeover(s: NodeState, beat: PeerBeat | None, now: float) -> Finding:
    if beat is not None and beat.role is Role.ACTIVE:
        return Finding.TAKEOVER_ASKED
    last = s.peer.beat
    lacking = (
        last is not None
        and last.executed is not None
        and s.local.executed is not None
        and type(last.executed) is type(s.local.executed)
        and bool(last.executed - s.local.executed)
    )
    forced = s.command is Command.TAKEOVER_FORCE
    if (lacking or s.role is Role.FENCED or behind_high_water(s) is not None) and not forced:
        return Finding.TAKEOVER_REFUSED
    if s.local.health is not Health.HEALTHY or now < s.evidence.promised_until:
        return Finding.CANNOT_PROMOTE
    return Finding.TAKEOVER_NOW


def _with_peer(cfg: CoreConfig, s: NodeState, beat: PeerBeat, now: float) -> Finding:
    if s.role is Role.ACTIVE:
        if beat.role is not Role.ACTIVE:
            return Finding.PEER_PASSIVE
        mine, theirs = (s.durable.epoch, -cfg.priority), (beat.epoch, cfg.priority - 1)
        return Finding.TWO_ACTIVES_WIN if mine > theirs else Finding.TWO_ACTIVES_LOSE
    if beat.yielding and beat.role is not Role.ACTIVE:
        fit = fit_to_promote(cfg, s, now, yielded=True)
        return Finding.PEER_YIELDED if fit else Finding.CANNOT_PROMOTE
    if beat.role is Role.ACTIVE:
        return Finding.PEER_ACTIVE
    if beat.role is Role.STARTING and beat.mysql is Health.UNKNOWN:
        # Its agent just (re)started: until its first probe its beat cannot say whether
        # its server is the writable one, and an election now could depose a live active.
        return Finding.PEER_UNPROBED
    if not _wins_election(cfg, s, beat):
        return Finding.NOT_ELECTED
    return Finding.ELECTED if fit_to_promote(cfg, s, now) else Finding.CANNOT_PROMOTE
