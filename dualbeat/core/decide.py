"""``decide``: the one entry point of the core. State + observation + time -> decision.

Three steps, each a plain function:
1. ``absorb`` folds the observation into the state (health counters, the peer's view,
   action outcomes; the second half of a promotion starts here when the relay log has
   been applied);
2. ``assess`` names the situation and the transition table says what the role becomes;
   entering a role emits its actions (promote, yield, fence: ``core.entry``);
3. ``reconcile`` keeps the role true to itself (the active writable with the VIP, every
   other node read-only without it), rate-limited and never twice in flight.

In maintenance mode steps 1 and 2 go on (every finding is still judged and logged) but a
role change is held and nothing is reconciled: see ``core.maintenance``.
"""

from __future__ import annotations

from dualbeat.core import absorb as absorbing
from dualbeat.core import lease, maintenance
from dualbeat.core.actions import (
    AcquireLease,
    Action,
    AdmitClients,
    AnnounceVip,
    AutoRejoin,
    ClaimVip,
    Exit,
    PersistState,
    ReleaseLease,
    ReleaseVip,
    RenewLease,
    SetReadOnly,
    SetSemiSync,
    ShutClients,
    StartReplication,
    StopReplication,
)
from dualbeat.core.entry import enter
from dualbeat.core.evolve import evolve
from dualbeat.core.findings import (
    Finding,
    assess,
    channel_to_start,
    fresh_peer,
    handover_failed,
    peer_released,
    resumable,
    silent_since,
)
from dualbeat.core.observations import Observation, PeerBeat
from dualbeat.core.reasons import ReasonCode
from dualbeat.core.roles import Health, Role
from dualbeat.core.state import (
    AUTO_REJOIN_TRIES,
    CoreConfig,
    Decision,
    NodeState,
    Reason,
    RejoinAuto,
)
from dualbeat.core.transitions import TABLE


def decide(cfg: CoreConfig, state: NodeState, obs: Observation, now: float) -> Decision:
    s, actions, reasons = absorbing.absorb(cfg, state, obs, now)
    s = _promise(cfg, s)
    if s.exiting:
        return Decision(s, tuple(actions), tuple(reasons), None)
    paused = s.durable.maintenance
    if paused:
        s, adopted = maintenance.adopt(cfg, s, now)
        reasons += adopted
    if handover_failed(cfg, s, now):  # stay up: exiting now would leave no writer
        reasons.append(
            Reason(
                ReasonCode.SHUTDOWN_ABANDONED,
                "the stop's handover failed (the peer did not take over): staying up so "
                "that there is a writer; stop again, or with --keep",
                {"epoch": s.handover_epoch},
            )
        )
        s = evolve(s, shutdown=None, handover_epoch=None)
    finding = assess(cfg, s, now)
    target, text = TABLE[(s.role, finding)]
    awaiting = cfg.arbiter and target is Role.ACTIVE and s.role is not Role.ACTIVE
    if awaiting and not lease.lease_ok(cfg, s, now):  # in arbiter mode, only with the key
        finding = Finding.AWAIT_LEASE
        target, text = TABLE[(s.role, finding)]
    held: dict[str, object] = {}
    if paused and target is not s.role:  # judged and logged, not acted on
        held = {"maintenance": True, "held": target.value}
        target, text = s.role, maintenance.held_text(text, target)
    if finding is not s.finding or target is not s.role:
        evidence = _evidence(cfg, s, now, finding)
        if "will_lose" in evidence:  # the operator must see what a takeover costs
            text = f"{text}; lacking the high-water mark's {evidence['will_lose']}"
        reasons.append(Reason(ReasonCode.of(finding), text, evidence | held))
    # An operator's takeover waits for the key with the node.
    command = s.command if finding is Finding.AWAIT_LEASE else None
    if s.finding is not finding or s.command is not command:
        s = evolve(s, finding=finding, command=command)
    if finding is Finding.TAKEOVER_ASKED:
        s = evolve(s, wants_takeover=True)
    if finding is Finding.SHUTDOWN_HANDOVER:  # exit once the peer is active beyond it
        s = evolve(s, handover_epoch=s.durable.epoch)
    if target is not s.role:
        s, entered = enter(cfg, s, target, finding, text, now)
        actions += entered
        # In flight from here on: the reconcile below must not ask for them again. A
        # second ``ReleaseVip`` behind the entry's MySQL steps would run on the main lane
        # before the handoff lane has shut the gate, and drop the address at once.
        s = evolve(s, in_flight=s.in_flight | {type(a) for a in entered})
    if finding is Finding.SHUTDOWN:
        s = evolve(s, exiting=True)
        actions.append(Exit())
    elif not paused:
        s, corrective = _reconcile(cfg, s, now)
        actions += corrective
    s = _promise(cfg, s)
    if actions:
        s = evolve(s, in_flight=s.in_flight | {type(a) for a in actions})
    return Decision(s, tuple(actions), tuple(reasons), _wake_at(cfg, s, now))


#: How soon a failed automatic ``--reapply`` is tried again (``AUTO_REJOIN_TRIES`` bound it).
AUTO_REJOIN_EVERY = 30.0


def _promise(cfg: CoreConfig, s: NodeState) -> NodeState:
    """Record what our beats promise from now on, before any of them is sent."""
    ev = s.evidence
    if not lease.promising(cfg, s):
        return evolve(s, evidence=evolve(ev, promising=False)) if ev.promising else s
    until = max(ev.promised_until, lease.promise_ends(cfg, s))
    if ev.promising and until == ev.promised_until:
        return s
    return evolve(s, evidence=evolve(ev, promising=True, promised_until=until))


def _reconcile(cfg: CoreConfig, s: NodeState, now: float) -> tuple[NodeState, list[Action]]:
    """Corrective actions that keep the role true; each kind at most once in flight."""
    t = cfg.timing
    wanted: list[tuple[Action, float]] = [(a, t.retry) for a in _client_gate(s)]
    local = s.local
    if s.promotion is None and s.role is Role.ACTIVE:
        if local.writable is False and local.health is Health.HEALTHY:
            wanted.append((SetReadOnly(False), t.retry))
        if s.vip_held is False:
            wanted.append((ClaimVip(probe=not peer_released(cfg, s, now)), t.retry))
        elif s.vip_held and (fresh_peer(cfg, s, now) is not None or s.peer.sql_refused):
            # The peer's host may answer for the address too (a refusing host whose agent
            # died keeps it): keep the clients' ARP caches pointing here.
            wanted.append((AnnounceVip(), t.arp_refresh))
        beat = fresh_peer(cfg, s, now)
        if (  # the ring back from the standby: only from a healthy server, checked current
            beat is not None
            and beat.role is Role.STANDBY
            and beat.mysql is Health.HEALTHY
            and beat.epoch == s.durable.epoch
            and local.replicating is False
            and beat.executed is not None
            and local.executed is not None
            and type(beat.executed) is type(local.executed)
            and beat.executed <= local.executed
        ):
            wanted.append((StartReplication(), t.ring_retry))
    elif s.role in (Role.STANDBY, Role.FENCED):  # a STARTING node does not know enough yet
        s, passive = _passive_wants(cfg, s, now)
        wanted += passive
    beat = fresh_peer(cfg, s, now)
    source = (
        s.role is Role.ACTIVE
        and s.promotion is None
        and beat is not None
        and beat.role is Role.STANDBY
        and beat.mysql is Health.HEALTHY
    )
    if local.health is Health.HEALTHY:
        # Runtime settings a restarted mysqld forgets: asked for at once when they change
        # or the server was gone, and re-checked every ring_retry (a restart can fall
        # between two probes). Idempotent: an unchanged server restarts nothing.
        changed = source is not s.semisync_source
        # The peer fell silent: dead, or this node cut off and the peer promoting. The
        # commits waiting for its acknowledgement are released behind the client gate
        # (``SetSemiSync.behind_gate``), before the server's own timeout would.
        silenced = changed and s.semisync_source is True and s.role is Role.ACTIVE and beat is None
        wanted.append((SetSemiSync(source, behind_gate=silenced), 0.0 if changed else t.ring_retry))
    if cfg.arbiter:
        wanted += _lease_actions(cfg, s, now)
    if (
        s.high_water_dirty
        and s.high_water is not None
        and (text := str(s.high_water)) != s.high_water_saved
    ):
        # Saved as soon as it grows (one save in flight at a time): a mark saved late
        # misses the last writes a restarted node must not be behind.
        durable = evolve(s.durable, high_water=text)
        wanted.append((PersistState(durable), 0.0))
    actions: list[Action] = []
    tried = dict(s.last_tried)
    for action, every in wanted:
        kind = type(action)
        if kind in s.in_flight or now - tried.get(kind, float("-inf")) < every:
            continue
        tried[kind] = now
        actions.append(action)
        if isinstance(action, PersistState):
            saved = action.durable.high_water
            s = evolve(
                s,
                durable=action.durable,
                high_water_saved=saved,
                high_water_dirty=s.high_water_dirty and saved != str(s.high_water),
            )
        elif isinstance(action, ReleaseLease):
            s = evolve(s, evidence=evolve(s.evidence, lease=None))
        elif isinstance(action, SetSemiSync):
            s = evolve(s, semisync_source=action.source)
        elif isinstance(action, AutoRejoin):
            s = evolve(s, auto_rejoin_tries=s.auto_rejoin_tries + 1)
    return (evolve(s, last_tried=tried) if actions else s), actions


def _passive_wants(
    cfg: CoreConfig, s: NodeState, now: float
) -> tuple[NodeState, list[tuple[Action, float]]]:
    """A standby or fenced node: read-only, no VIP; a fenced one does not replicate, a
    standby starts its stopped channel and follows the active's epoch."""
    t, local = cfg.timing, s.local
    wanted: list[tuple[Action, float]] = []
    if local.writable:
        # A server that just answers again (a thawed freeze: its first ``rise`` probes)
        # is retried at the keepalive, not at the failed try's slot: until it is
        # read-only it is a second writable server. Later, a failing try waits its slot.
        back = 0 < local.oks <= t.rise
        wanted.append((SetReadOnly(True), t.keepalive if back else t.retry))
    if s.vip_held:
        wanted.append((ReleaseVip(), t.retry))
    if s.role is Role.FENCED and local.replicating:
        wanted.append((StopReplication(), t.retry))
    beat = fresh_peer(cfg, s, now)
    if channel_to_start(s, beat):
        wanted.append((StartReplication(), t.ring_retry))
    if s.role is Role.STANDBY and beat is not None and _adopts_epoch(s, beat):
        durable = evolve(s.durable, epoch=beat.epoch, highest_seen=beat.epoch)
        s = evolve(s, durable=durable)
        wanted.append((PersistState(durable), 0.0))
    if _reapply_due(cfg, s, now):
        wanted.append((AutoRejoin(), AUTO_REJOIN_EVERY))
    return s, wanted


def _reapply_due(cfg: CoreConfig, s: NodeState, now: float) -> bool:
    """A node fenced for writes the active lacks (for ``warntime``, as ``HOLDS_ERRANT``)
    resolves them by itself (``ops.rejoin.auto_resolve``), at most ``AUTO_REJOIN_TRIES``
    times per fencing, with a live active and a healthy server: with ``[rejoin] auto =
    "safe"`` always, with ``"internal"`` when its client gate recorded a window since it
    was active (commits there acknowledged no client: they are discarded)."""
    beat = fresh_peer(cfg, s, now)
    return (
        (
            cfg.rejoin_auto is RejoinAuto.SAFE
            or (cfg.rejoin_auto is RejoinAuto.INTERNAL and s.gate_window)
        )
        and s.role is Role.FENCED
        and s.errant_since is not None
        and now - s.errant_since >= cfg.timing.warntime
        and not s.durable.maintenance
        and s.auto_rejoin_tries < AUTO_REJOIN_TRIES
        and s.local.health is Health.HEALTHY
        and beat is not None
        and beat.role is Role.ACTIVE
        and beat.mysql is Health.HEALTHY
        and beat.epoch >= s.durable.epoch
    )


def _adopts_epoch(s: NodeState, beat: PeerBeat) -> bool:
    """A standby takes the peer's newer epoch as its own: from the active whose term it
    serves, or from a passive peer whose whole (current) executed set it holds. Such a
    node missed no write of that term, so the stale-promotion guard has nothing to guard;
    left behind the epoch it could never be elected, while the peer defers to it as the
    node with more data: no writer at all. Not while demoting: until its VIP is released
    the node still says ``active``, and at the peer's epoch that is a tie of two actives
    the preferred node wins (``advert``)."""
    if s.demoting or beat.epoch <= s.durable.epoch:
        return False
    if beat.role is Role.ACTIVE:
        return True
    mine, theirs = s.local.executed, beat.executed
    return mine is not None and theirs is not None and type(mine) is type(theirs) and theirs <= mine


def _client_gate(s: NodeState) -> list[Action]:
    """The MySQL port open to clients on the active (shut by a demotion, or unknown since
    the start); on a standby or fenced node, shut while its server may take writes (a
    frozen server thawing, a restarted old active) and open once it is seen read-only.
    A demotion in progress shuts it itself."""
    if s.role is Role.ACTIVE and s.promotion is None:
        return [AdmitClients()] if s.clients_shut is not False else []
    if s.role not in (Role.STANDBY, Role.FENCED) or s.demoting:
        return []
    if s.local.writable and s.clients_shut is not True:
        return [ShutClients()]
    if s.local.writable is False and s.clients_shut is not False:
        return [AdmitClients()]
    return []


def _lease_actions(cfg: CoreConfig, s: NodeState, now: float) -> list[tuple[Action, float]]:
    """The active renews its lease every TTL/3 (or takes its key again after losing it); a
    node due to promote takes the key; a node that holds it otherwise gives it up, once
    its demotion has released the VIP.

    The key carries the term's epoch: the next one for a promotion, ours for a resume
    and a re-take. The arbiter refuses another node at or below the highest epoch it
    granted, and grants its own node that epoch again; a resume asking one above would
    leave that epoch over our own term and have the re-take refused."""
    t, ev = cfg.timing, s.evidence
    renew_every, retry = t.lease_ttl / 3, t.lease_ttl / 6
    if s.role is Role.ACTIVE:
        if ev.lease is not None:
            return [(RenewLease(), renew_every)]
        return [(AcquireLease(s.durable.epoch), retry)]
    if s.finding is Finding.AWAIT_LEASE:
        if s.role is Role.STARTING and resumable(cfg, s, fresh_peer(cfg, s, now), now):
            return [(AcquireLease(s.durable.epoch), retry)]
        return [(AcquireLease(max(s.durable.epoch, s.durable.highest_seen) + 1), retry)]
    if ev.lease is not None and not s.demoting and AcquireLease not in s.in_flight:
        return [(ReleaseLease(), 0.0)]
    return []


def _evidence(cfg: CoreConfig, s: NodeState, now: float, finding: Finding) -> dict[str, object]:
    peer = s.peer
    evidence: dict[str, object] = {
        "finding": finding.value,
        "role": s.role.value,
        "epoch": s.durable.epoch,
        "mysql": s.local.health.value,
        "peer_silent_s": None if peer.heard_at is None else round(now - peer.heard_at, 3),
        "deadtime_s": cfg.timing.deadtime,
        "links": {name: round(now - at, 3) for name, at in sorted(peer.links.items())},
        "peer_sql_reachable": peer.sql_reachable,
    }
    if peer.beat is not None:
        evidence |= {
            "peer_role": peer.beat.role.value,
            "peer_epoch": peer.beat.epoch,
            "peer_mysql": peer.beat.mysql.value,
        }
    if finding is Finding.LOCAL_FAILED:
        evidence |= {
            "failures": s.local.fails,
            "alert_after": cfg.timing.alert_after,
            "detail": s.local.last_detail,
            "failed_checks": s.local.failed_checks(cfg.timing.alert_after),
        }
    if s.command is not None:
        evidence["command"] = s.command.value
    if cfg.arbiter:
        ev = s.evidence
        evidence |= {
            "lease_valid_s": None if ev.lease is None else round(ev.lease.valid_until - now, 3),
            "peer_promise_s": None
            if peer.promise_until is None
            else round(peer.promise_until - now, 3),
            "arbiter_holder": ev.holder,
        }
    if cfg.ping:
        evidence["ping_ok"] = s.evidence.ping_ok
    missing = lease.behind_high_water(s)
    if missing is not None and finding in (
        Finding.BEHIND_HIGH_WATER,
        Finding.TAKEOVER_NOW,
        Finding.TAKEOVER_REFUSED,
    ):
        evidence["will_lose"] = str(missing)
        evidence["high_water"] = str(s.high_water)
    return evidence


def _wake_at(cfg: CoreConfig, s: NodeState, now: float) -> float | None:
    """The next moment the finding may change with no new observation.

    Corrective retries need no timer: they are re-judged on every probe and VIP check.
    """
    t = cfg.timing
    times = []
    if s.peer.heard_at is None and s.role is Role.STARTING:
        times.append(s.started_at + t.initdead)
    else:
        times.append(silent_since(s) + t.deadtime)
    if s.peer.heard_at is not None:
        times.append(s.peer.heard_at + t.deadtime)  # when the last beat stops being fresh
    if s.yielding:
        times.append(s.yielded_at + t.deadtime + t.apply_timeout)
    if s.errant_since is not None:
        times.append(s.errant_since + t.warntime)
    if s.clean_since is not None:
        times.append(s.clean_since + t.warntime)
    if s.failback_ready_since is not None and cfg.failback is not None:
        times.append(s.failback_ready_since + cfg.failback.holddown)
    if s.local.received_at is not None:
        times.append(s.local.received_at + t.deadtime)
    if cfg.arbiter:
        times.append(s.evidence.promised_until)
        if s.role is Role.ACTIVE:
            times.append(lease.held_until(s) - t.lease_margin)
        for kind, every in ((RenewLease, t.lease_ttl / 3), (AcquireLease, t.lease_ttl / 6)):
            if kind in s.last_tried:
                times.append(s.last_tried[kind] + every)
    future = [x for x in times if x > now]
    return min(future) if future else None
