"""Folding one observation into the state: the first step of ``decide``.

Health follows Mon's rule: ``alert_after`` consecutive failures declare the local MySQL
failed, ``rise`` consecutive successes restore it; a busy server is alive and a refused
login is our own misconfiguration, so neither ever counts toward a failover.
"""

from __future__ import annotations

from typing import assert_never

from dualbeat.core import maintenance
from dualbeat.core.actions import (
    AcquireLease,
    Action,
    AdmitClients,
    AutoRejoin,
    ClaimVip,
    PrepareTakeover,
    ReadPosition,
    ReleaseVip,
    SetReadOnly,
    ShutClients,
    StopReplication,
    is_critical,
)
from dualbeat.core.entry import abort_promotion, claimed, demoted, finish_promotion, promoted
from dualbeat.core.evolve import evolve
from dualbeat.core.findings import errant, failback_candidate, fresh_peer, rejoin_candidate
from dualbeat.core.lease import grow_high_water
from dualbeat.core.observations import (
    ActionDone,
    ActionFailed,
    CheckRan,
    Command,
    GateWindowOpened,
    LeaseAnswered,
    MysqlProbed,
    Observation,
    OperatorRequested,
    PeerBeat,
    PeerBeatReceived,
    PeerSqlProbed,
    PingProbed,
    PositionRead,
    ProbeFailure,
    ShutdownRequested,
    Started,
    TakeoverPrepared,
    Tick,
    VipObserved,
)
from dualbeat.core.reasons import ReasonCode
from dualbeat.core.roles import Health, Role
from dualbeat.core.state import CoreConfig, Evidence, Lease, LocalView, NodeState, Reason

Absorbed = tuple[NodeState, list[Action], list[Reason]]


def absorb(cfg: CoreConfig, s: NodeState, obs: Observation, now: float) -> Absorbed:
    actions: list[Action] = []
    reasons: list[Reason] = []
    match obs:
        case Started():
            s, more = _started(cfg, s, obs, now)
            reasons += more
        case Tick():
            pass
        case MysqlProbed():
            s, more = _probed(cfg, s, obs, now)
            reasons += more
        case CheckRan():
            s, more = _checked(cfg, s, obs)
            reasons += more
        case PeerBeatReceived(link=link, beat=beat):
            s, actions, reasons = _heard(s, link, beat, now)
        case PeerSqlProbed(reachable=reachable, refused=refused):
            peer = evolve(s.peer, sql_reachable=reachable, sql_refused=refused and not reachable)
            s = evolve(s, peer=evolve(peer, sql_at=now))
        case VipObserved():
            s, more = _vip(s, obs, now)
            reasons += more
        case PingProbed():
            s, more = _pinged(s, obs, now)
            reasons += more
        case LeaseAnswered():
            s, more = _lease_answer(s, obs)
            reasons += more
        case GateWindowOpened():
            s = evolve(s, gate_window=True)
        case PositionRead(executed=executed):
            s = evolve(s, final_executed=executed, in_flight=s.in_flight - {ReadPosition})
        case ActionDone() | ActionFailed() | TakeoverPrepared():
            s, more_actions, more = _outcome(cfg, s, obs, now)
            actions += more_actions
            reasons += more
        case OperatorRequested(command=Command.MAINTENANCE_ON | Command.MAINTENANCE_OFF):
            s, actions, reasons = maintenance.toggle(s, obs.command is Command.MAINTENANCE_ON)
        case OperatorRequested(command=command):
            s = evolve(s, command=command)
        case ShutdownRequested():
            s = evolve(s, shutdown=obs)
        case _:
            assert_never(obs)
    s = _track_errant(cfg, s, now)
    s = _track_clean(cfg, s, now)
    s = _track_failback(cfg, s, now)
    s, more = _expire(cfg, s, now)
    return s, actions, reasons + more


def _expire(cfg: CoreConfig, s: NodeState, now: float) -> tuple[NodeState, list[Reason]]:
    """What time alone ends: the arbiter lease, a yield the peer did not take."""
    reasons = []
    lease = s.evidence.lease
    if lease is not None and now >= lease.valid_until:
        s = evolve(s, evidence=evolve(s.evidence, lease=None))
        reasons.append(Reason(ReasonCode.LEASE_LAPSED, "the arbiter lease ran out unrenewed"))
    if s.yielding and now - s.yielded_at > cfg.timing.deadtime + cfg.timing.apply_timeout:
        s = evolve(s, yielding=False)
        reasons.append(
            Reason(ReasonCode.YIELD_EXPIRED, "the peer did not take over; yield withdrawn")
        )
    return s, reasons


def _outcome(
    cfg: CoreConfig, s: NodeState, obs: ActionDone | ActionFailed | TakeoverPrepared, now: float
) -> Absorbed:
    """An action came back: clear it from in-flight, and move a promotion along."""
    actions: list[Action] = []
    reasons: list[Reason] = []
    s = _done(s, obs.action if not isinstance(obs, TakeoverPrepared) else obs)
    if not isinstance(obs, TakeoverPrepared) and isinstance(obs.action, ReleaseVip):
        if s.demoting:
            reasons.append(demoted(s, ok=isinstance(obs, ActionDone), now=now))
        s = evolve(s, demoting=False)  # released (or failed trying): the peer may go
    p = s.promotion
    claiming = p is not None and p.prepared_at is not None and p.claimed_at is None
    finishing = p is not None and p.claimed_at is not None
    match obs:
        case ActionDone(action=AutoRejoin(), detail=detail):
            s = evolve(s, auto_rejoin_failed=False, gate_window=False)
            reasons.append(Reason(ReasonCode.REJOIN_AUTO_RESOLVED, detail))
        case ActionFailed(action=AutoRejoin(), error=error, untouched=untouched):
            s = evolve(s, auto_rejoin_failed=not untouched)
            reasons.append(Reason(ReasonCode.REJOIN_AUTO_FAILED, error))
        case ActionDone(action=ReleaseVip()):
            s = evolve(s, vip_held=False)  # our next beat announces the release
        case ActionDone(action=ShutClients()):
            s = evolve(s, clients_shut=True)
        case ActionDone(action=AdmitClients()):
            s = evolve(s, clients_shut=False)
        case ActionDone(action=StopReplication()):
            s = evolve(s, local=evolve(s.local, channel_ran=False))  # our own stop
        case ActionDone(action=action):
            if isinstance(action, ClaimVip) and claiming:
                s, actions = claimed(cfg, s, now)
            elif action == SetReadOnly(False) and finishing:
                s, reasons = promoted(s, now, writable=True)
        case ActionFailed(action=action, error=error):
            reasons.append(
                Reason(ReasonCode.ACTION_FAILED, f"{type(action).__name__} failed: {error}")
            )
            if s.promotion is not None and is_critical(action):
                s, actions = abort_promotion(s, type(action).__name__, now)
                reasons.append(
                    Reason(
                        ReasonCode.PROMOTION_ABORTED,
                        f"promotion aborted: {type(action).__name__} failed",
                    )
                )
            elif action == SetReadOnly(False) and finishing:
                # Epoch durable, VIP ours: the role is taken; the reconcile retries this.
                s, more = promoted(s, now, writable=False)
                reasons += more
        case TakeoverPrepared():
            promotion = s.promotion
            if s.role is not Role.ACTIVE or promotion is None or promotion.prepared_at:
                pass
            elif promotion.strict and not obs.applied_all:
                s, actions = abort_promotion(s, "the switchover's final position", now)
                reasons.append(
                    Reason(
                        ReasonCode.SWITCHOVER_ABORTED,
                        "switchover rolled back: the old "
                        "active's final transactions were not all applied in "
                        "time; it takes the role back",
                        {"unapplied": str(obs.unapplied or "")},
                    )
                )
            else:
                if obs.executed is not None:  # fresher than the last probe: the peer sees it
                    s = evolve(s, local=evolve(s.local, executed=obs.executed))
                s, actions, reasons = finish_promotion(cfg, s, obs, now)
    return s, actions, reasons


def _peer_promise(s: NodeState, beat: PeerBeat) -> NodeState:
    """The peer's beat, the highest sequence heard in its boot (echoed by our beats), and
    its promise: a promise once given holds until it ends, whatever later beats say."""
    view = s.peer
    same_boot = view.beat is not None and view.beat.boot_id == beat.boot_id
    seq = max(view.seq, beat.seq) if same_boot else beat.seq
    promise = view.promise_until
    if beat.promise_until is not None:
        promise = max(promise or float("-inf"), beat.promise_until)
    high_water = grow_high_water(s.high_water, s.high_water_saved, beat.executed)
    peer = evolve(view, beat=beat, seq=seq, promise_until=promise)
    return evolve(
        s,
        peer=peer,
        high_water=high_water,
        high_water_dirty=s.high_water_dirty or high_water is not s.high_water,
    )


def _started(
    cfg: CoreConfig, s: NodeState, obs: Started, now: float
) -> tuple[NodeState, list[Reason]]:
    durable = obs.durable
    role = Role.FENCED if durable.last_role is Role.FENCED else Role.STARTING
    s = evolve(
        s,
        role=role,
        durable=durable,
        boot_id=obs.boot_id,
        wall_offset=obs.wall_offset,
        started_at=now,
        role_since=now,
        # A restarted agent forgot what it promised: assume a promise made just now.
        evidence=Evidence(promised_until=now + cfg.promise if cfg.arbiter else 0.0),
        high_water=None,
        high_water_saved=durable.high_water,
    )
    reason = Reason(
        ReasonCode.STARTED,
        f"agent started as {role.value}",
        {"epoch": durable.epoch, "last_role": durable.last_role.value},
    )
    return s, [reason]


def _checked(cfg: CoreConfig, s: NodeState, obs: CheckRan) -> tuple[NodeState, list[Reason]]:
    name, reasons = obs.name, []
    fails = dict(s.local.check_fails)
    fails[name] = 0 if obs.ok else fails.get(name, 0) + 1
    if fails[name] == cfg.timing.alert_after:
        reasons.append(
            Reason(
                ReasonCode.CHECK_FAILED,
                f"check {name} failed: {obs.detail}",
                {"check": name, "failures": fails[name]},
            )
        )
    return evolve(s, local=evolve(s.local, check_fails=fails)), reasons


def _vip(s: NodeState, obs: VipObserved, now: float) -> tuple[NodeState, list[Reason]]:
    """The VIP link, counting the checks in a row without carrier (one sample is a NIC
    renegotiating, not a cut: see ``findings.link_down``)."""
    reasons = []
    if s.carrier is not None and obs.carrier != s.carrier:
        back = "has carrier again" if obs.carrier else "lost carrier"
        code = ReasonCode.CARRIER_UP if obs.carrier else ReasonCode.CARRIER_LOST
        reasons.append(Reason(code, f"the VIP interface {back}"))
        if obs.carrier:
            s = evolve(s, carrier_since=now)
    down = 0 if obs.carrier else s.carrier_down + 1
    return evolve(s, vip_held=obs.held, carrier=obs.carrier, carrier_down=down), reasons


def _pinged(s: NodeState, obs: PingProbed, now: float) -> tuple[NodeState, list[Reason]]:
    ev, reasons = s.evidence, []
    if ev.ping_ok is not None and obs.reachable != ev.ping_ok:
        what = "a ping node answers again" if obs.reachable else "no ping node answers"
        code = ReasonCode.PING_UP if obs.reachable else ReasonCode.PING_LOST
        reasons.append(Reason(code, what, {"detail": obs.detail}))
    fails = 0 if obs.reachable else ev.ping_fails + 1
    ev = evolve(ev, ping_ok=obs.reachable, ping_at=now, ping_fails=fails)
    return evolve(s, evidence=ev), reasons


def _lease_answer(s: NodeState, obs: LeaseAnswered) -> tuple[NodeState, list[Reason]]:
    """The arbiter answered: we hold the key until ``valid_until``, or someone else (or
    nobody) holds it. A holder's epoch counts as seen: epochs only grow."""
    s = _done(s, obs.action)
    ev, reasons = s.evidence, []
    if obs.valid_until is not None:
        epoch = obs.action.epoch if isinstance(obs.action, AcquireLease) else 0
        if ev.lease is None:
            reasons.append(Reason(ReasonCode.LEASE_ACQUIRED, "holding the arbiter key"))
        epoch = max(epoch, ev.lease.epoch if ev.lease else 0)
        ev = evolve(ev, lease=Lease(obs.valid_until, epoch), holder=None)
    else:
        if ev.lease is not None:
            reasons.append(Reason(ReasonCode.LEASE_LOST, "the arbiter key is no longer ours"))
        ev = evolve(ev, lease=None, holder=obs.holder)
    seen = obs.holder_epoch
    if seen is not None and seen > s.durable.highest_seen:
        d = evolve(s.durable, highest_seen=seen)
        # Like a beat from the active: its term is ours too (once no longer saying active).
        if s.role is not Role.ACTIVE and not s.demoting:
            d = evolve(d, epoch=max(d.epoch, seen))
        s = evolve(s, durable=d)
    return evolve(s, evidence=ev), reasons


def _track_errant(cfg: CoreConfig, s: NodeState, now: float) -> NodeState:
    """Remember since when we (not active) hold writes the active lacks. The finding waits
    ``warntime``: the active's heartbeat carries its last probe's position, and a node
    that applied the active's newest writes, or handed over its own, sees them "missing"
    until the next probe and beat catch up. Real errant writes stay missing."""
    beat = fresh_peer(cfg, s, now)
    holds = (
        s.role is not Role.ACTIVE
        and beat is not None
        and beat.role is Role.ACTIVE
        and errant(s, beat)
    )
    if not holds:
        return evolve(s, errant_since=None) if s.errant_since is not None else s
    return s if s.errant_since is not None else evolve(s, errant_since=now)


def _track_clean(cfg: CoreConfig, s: NodeState, now: float) -> NodeState:
    """Remember since when a fenced node could rejoin by itself (``rejoin_candidate``);
    leaving the fenced role also ends its automatic ``--reapply`` tries."""
    if s.role is not Role.FENCED:
        if s.clean_since is None and not s.auto_rejoin_tries and not s.auto_rejoin_failed:
            return s
        return evolve(s, clean_since=None, auto_rejoin_tries=0, auto_rejoin_failed=False)
    if not rejoin_candidate(cfg, s, fresh_peer(cfg, s, now)):
        return evolve(s, clean_since=None) if s.clean_since is not None else s
    return s if s.clean_since is not None else evolve(s, clean_since=now)


def _track_failback(cfg: CoreConfig, s: NodeState, now: float) -> NodeState:
    """Remember since when the preferred peer could take over (``failback_candidate``);
    any interruption (a missed beat, lag, a failed probe) starts the hold-down again."""
    if not failback_candidate(cfg, s, fresh_peer(cfg, s, now)):
        return evolve(s, failback_ready_since=None) if s.failback_ready_since is not None else s
    return s if s.failback_ready_since is not None else evolve(s, failback_ready_since=now)


def _done(s: NodeState, action: Action | TakeoverPrepared) -> NodeState:
    """An action came back: its kind is no longer in flight (a prepared takeover reports
    its ``PrepareTakeover`` as its own observation)."""
    kind = PrepareTakeover if isinstance(action, TakeoverPrepared) else type(action)
    return evolve(s, in_flight=s.in_flight - {kind})


def _probed(
    cfg: CoreConfig, s: NodeState, probe: MysqlProbed, now: float
) -> tuple[NodeState, list[Reason]]:
    t, old = cfg.timing, s.local
    reasons: list[Reason] = []
    local = evolve(old, last_detail=probe.detail)
    if probe.ok:
        local = evolve(
            local,
            oks=old.oks + 1,
            fails=0,
            first_failure_at=None,
            writable=probe.writable,
            replicating=probe.replicating,
            executed=probe.executed,
            received=probe.received,
            semisync_active=probe.semisync_active,
            origin=probe.origin,
            lag=probe.lag,
            stalled_since=None,
            io_stopped=probe.io_stopped,
            channel_ran=old.channel_ran or probe.replicating is True,
            received_at=now
            if old.received is not None
            and probe.received is not None
            and probe.received != old.received
            else old.received_at,
        )
        if old.health is not Health.HEALTHY and local.oks >= t.rise:
            local = evolve(local, health=Health.HEALTHY)
        repairs = s.role is Role.ACTIVE and not (s.promotion or s.durable.maintenance)
        if repairs and probe.writable is False and old.writable is not False:
            reasons.append(_read_only_by_hand(local))
        if old.semisync_active and probe.semisync_active is False and s.role is Role.ACTIVE:
            reasons.append(
                Reason(
                    ReasonCode.SEMISYNC_FELL_BACK,
                    "semi-sync fell back to asynchronous "
                    "replication: a crash now can lose acknowledged writes",
                )
            )
    elif probe.failure in (ProbeFailure.UNAVAILABLE, ProbeFailure.QUERY):
        local = evolve(
            local,
            fails=old.fails + 1,
            oks=0,
            first_failure_at=old.first_failure_at or now,
            channel_ran=False,  # a restart may follow: skip_slave_start leaves it to us
        )
        if old.health is not Health.FAILED and (local.fails >= t.alert_after or probe.gone):
            local = evolve(local, health=Health.FAILED)
    elif probe.failure is ProbeFailure.STALLED:
        local, stalled = _stalled(cfg, old, local, now)
        reasons += stalled
    elif probe.failure is ProbeFailure.BUSY:
        # Alive but saturated: no failure by itself, and no proof of health either. A
        # hung server whose connections are all taken answers each reconnect with "too
        # many connections" between the timeouts of the probe's own sessions: the
        # failures must still add up, so the count is neither raised nor reset.
        health = Health.FAILED if old.health is Health.FAILED else Health.BUSY
        local = evolve(local, health=health, oks=0)
    else:
        local = evolve(local, health=Health.MISCONFIGURED, fails=0, oks=0)
    if local.health is not old.health:
        reasons.append(_health_reason(old, local))
    high_water = (
        grow_high_water(s.high_water, s.high_water_saved, probe.executed)
        if probe.ok
        else s.high_water
    )
    dirty = s.high_water_dirty or high_water is not s.high_water
    # A server that did not answer may have restarted: its runtime-only semi-sync
    # settings are gone, so the next healthy probe asks for them again.
    semisync = None if probe.failure is ProbeFailure.UNAVAILABLE else s.semisync_source
    s = evolve(s, local=local, high_water=high_water, high_water_dirty=dirty)
    return evolve(s, semisync_source=semisync), reasons


def _stalled(
    cfg: CoreConfig, old: LocalView, local: LocalView, now: float
) -> tuple[LocalView, list[Reason]]:
    """Reads answer, the heartbeat write timed out: a backup's FLUSH TABLES WITH READ
    LOCK, an fsync stall. Alive, so no failure: the reads that answered end a failure
    window (read timeouts scattered through a long lock under load are not ``alert_after``
    in a row), though not proof of health (no ``oks``); only a stall lasting
    ``write_stall`` fails the server."""
    since = old.stalled_since if old.stalled_since is not None else now
    local = evolve(local, oks=0, fails=0, first_failure_at=None, stalled_since=since)
    reasons = []
    if old.stalled_since is None:
        reasons.append(
            Reason(
                ReasonCode.WRITES_STALLED,
                "local MySQL answers reads but the heartbeat write stalls (a backup lock, "
                f"an fsync stall): no failover before {cfg.timing.write_stall:g} s of it: "
                f"{local.last_detail}",
            )
        )
    if now - since >= cfg.timing.write_stall and old.health is not Health.FAILED:
        local = evolve(local, health=Health.FAILED)
    return local, reasons


def _read_only_by_hand(local: LocalView) -> Reason:
    """The active's server turned read-only under it (``read_only`` set by hand, say): the
    reconcile step makes it writable again, and the history says so, once."""
    return Reason(
        ReasonCode.READ_ONLY_REPAIRED,
        "the active's MySQL reports read_only ON (set by hand?): an active takes writes, so "
        f"dualbeat sets it OFF again; no failover: {local.last_detail}",
    )


def _health_reason(old: LocalView, new: LocalView) -> Reason:
    texts = {
        Health.HEALTHY: "local MySQL is healthy",
        Health.FAILED: f"local MySQL failed {new.fails} probes in a row: {new.last_detail}",
        Health.BUSY: f"local MySQL is busy but alive (no failover): {new.last_detail}",
        Health.MISCONFIGURED: "ALARM: dualbeat's own MySQL access is misconfigured (no "
        f"failover; fix the config): {new.last_detail}",
        Health.UNKNOWN: "local MySQL state unknown",
    }
    return Reason(ReasonCode.of_health(new.health), texts[new.health], {"was": old.health.value})


def _heard(s: NodeState, link: str, beat: PeerBeat, now: float) -> Absorbed:
    s, reasons = _peer_beat(s, link, beat.epoch, now)
    s = _peer_promise(s, beat)
    if beat.role is Role.ACTIVE and s.yielding:
        s = evolve(s, yielding=False)
    s, actions, paused = maintenance.follow_peer(s, beat)
    return s, actions, reasons + paused


def _peer_beat(s: NodeState, link: str, epoch: int, now: float) -> tuple[NodeState, list[Reason]]:
    reasons = []
    if s.peer.heard_at is None:
        reasons.append(Reason(ReasonCode.PEER_HEARD, f"heard the peer on link {link}"))
    links = dict(s.peer.links)
    links[link] = now
    s = evolve(s, peer=evolve(s.peer, heard_at=now, links=links))
    if epoch > s.durable.highest_seen:
        s = evolve(s, durable=evolve(s.durable, highest_seen=epoch))
    return s, reasons
