"""Entering a role: the steps that move a node into its new role, in their safe order.

``decide`` calls ``enter`` when the transition table changes the role. A promotion ends in
``absorb``, which calls the rest when the actor reports back: ``finish_promotion`` once the
relay log is applied (it claims the VIP), ``claimed`` once the VIP is ours (the new epoch,
then writable), ``promoted`` once read_only is off, ``abort_promotion`` (a ``demote``) when
a critical step failed, ``demoted`` when a demotion released the VIP.
All pure: a new state, the actions for the actor and the reasons to log, with the hook
environment every role-change script receives.
"""

from __future__ import annotations

from dualbeat.core.actions import (
    Action,
    AdmitClients,
    ClaimVip,
    Fence,
    HookEvent,
    KillSessions,
    PersistState,
    PrepareTakeover,
    ReadPosition,
    ReleaseVip,
    RunHook,
    SendBeat,
    SetReadOnly,
    ShutClients,
    StartReplication,
    StopReplication,
)
from dualbeat.core.durable import TakeoverRecord
from dualbeat.core.evolve import evolve
from dualbeat.core.findings import PROMOTING, peer_released, vip_overridable
from dualbeat.core.observations import TakeoverPrepared
from dualbeat.core.reasons import ReasonCode
from dualbeat.core.roles import Finding, Role
from dualbeat.core.state import CoreConfig, NodeState, Promotion, Reason


def hook_env(s: NodeState, target: Role, reason: str) -> dict[str, str]:
    """What a role-change, pre-promote or fence script is told (``DUALBEAT_*``)."""
    return {
        "DUALBEAT_OLD_ROLE": s.role.value,
        "DUALBEAT_NEW_ROLE": target.value,
        "DUALBEAT_EPOCH": str(s.durable.epoch),
        "DUALBEAT_REASON": reason,
    }


def enter(
    cfg: CoreConfig, s: NodeState, target: Role, finding: Finding, text: str, now: float
) -> tuple[NodeState, list[Action]]:
    """Actions that move the node into ``target``."""
    if finding is Finding.RESUMED:  # the server already serves: no promotion, no new epoch
        s = evolve(s, role=Role.ACTIVE, role_since=now, wants_takeover=False, gate_window=False)
        return s, [SendBeat()]
    if target is Role.ACTIVE:
        assert finding in PROMOTING, finding
        evidence_since = s.peer.heard_at if s.peer.heard_at is not None else s.started_at
        if finding is Finding.PEER_YIELDED:
            evidence_since = now
        # A handover names its final position: everything in it must be applied, or the
        # switchover rolls back (strict); a failure promotes with the loss recorded.
        final = s.peer.beat.final if finding is Finding.PEER_YIELDED and s.peer.beat else None
        promotion = Promotion(
            finding,
            now,
            evidence_since,
            s.peer.beat,
            was=s.role,
            was_epoch=s.durable.epoch,
            strict=final is not None,
        )
        s = evolve(
            s,
            role=Role.ACTIVE,
            role_since=now,
            promotion=promotion,
            wants_takeover=False,
            gate_window=False,
        )
        env = hook_env(s, target, text)
        # Over a silent peer the fence hook (power off, isolate) goes first; a peer that
        # yielded or is heard standing by needs none.
        silent = finding in (Finding.PEER_DEAD, Finding.TAKEOVER_NOW)
        fence: list[Action] = [Fence(cfg.fence_required)] if cfg.fence and silent else []
        return s, [
            RunHook(HookEvent.PRE_PROMOTE, env, veto=cfg.pre_promote_veto),
            *fence,
            SendBeat(),
            PrepareTakeover(cfg.timing.apply_timeout, target=final, strict=final is not None),
        ]
    if finding in (Finding.REJOIN_ACCEPTED, Finding.REJOIN_AUTO):
        # fenced -> standby: replicate from the active again
        s, actions = demote(s, target, text, now)
        return evolve(s, errant_since=None, clean_since=None), [*actions, StartReplication()]
    if finding is Finding.FAILBACK_DUE:  # remembered before the state is persisted
        s = evolve(s, durable=evolve(s.durable, last_failback_at=now + s.wall_offset))
    handover = finding in (
        Finding.STANDBY_REQUESTED,
        Finding.SHUTDOWN_HANDOVER,
        Finding.FAILBACK_DUE,
    )
    return demote(s, target, text, now, handover=handover)


def demote(
    s: NodeState, target: Role, text: str, now: float, *, handover: bool = False
) -> tuple[NodeState, list[Action]]:
    """Leave the active role. The MySQL port is shut to clients first (new connections
    refused, established ones reset while this node still holds the VIP), so the node
    takes no client write from then on, whatever its server does; then the VIP is
    released, and only then come the MySQL steps (read-only, sessions), bounded: nothing
    before the release waits on MySQL, so a frozen server cannot delay clients moving.
    A planned ``handover`` is the exception: its server is healthy, and it makes MySQL
    read-only and reads the final executed set *before* the release, because the peer
    must apply all of it before it becomes writable.

    Until the VIP is released the node keeps telling the peer it is active (``demoting``),
    so the peer never takes over while this node may still serve."""
    fenced = target is Role.FENCED
    was_active = s.role is Role.ACTIVE
    durable = evolve(s.durable, last_role=target, fenced_reason=text if fenced else "")
    mysql_steps: list[Action] = [SetReadOnly(True), *([KillSessions()] if was_active else [])]
    shut: list[Action] = [ShutClients()] if was_active else []
    # The beat right after the release tells the peer at once (not at the next keepalive)
    # that the address is free: its claim skips the ARP probe.
    if handover:
        actions: list[Action] = [*shut, *mysql_steps, ReadPosition(), ReleaseVip(), SendBeat()]
    else:
        actions = [*shut, ReleaseVip(), SendBeat(), *mysql_steps]
    if fenced:
        actions.append(StopReplication())
    actions += [
        PersistState(durable),
        SendBeat(),
        RunHook(HookEvent.FENCE if fenced else HookEvent.ROLE_CHANGE, hook_env(s, target, text)),
    ]
    yielding = was_active and target is Role.STANDBY
    s = evolve(
        s,
        role=target,
        role_since=now,
        durable=durable,
        promotion=None,
        demoting=was_active,
        final_executed=None,
        # A new role, a new duty: a channel that stopped while we were active is ours to
        # start again (``channel_to_start``), not an operator's stop to respect.
        local=evolve(s.local, channel_ran=False),
        yielding=yielding,
        yielded_at=now if yielding else s.yielded_at,
    )
    return s, actions


def finish_promotion(
    cfg: CoreConfig, s: NodeState, prepared: TakeoverPrepared, now: float
) -> tuple[NodeState, list[Action], list[Reason]]:
    """Relay log applied (or timed out): claim the VIP next, still read-only and still at
    the old epoch, so a claim that fails (the address is answered) leaves nothing to undo:
    no errant write, no epoch the peer would yield to."""
    assert s.promotion is not None
    s = evolve(s, promotion=evolve(s.promotion, prepared=prepared, prepared_at=now))
    reasons = []
    if not prepared.applied_all:
        reasons.append(
            Reason(
                ReasonCode.APPLY_TIMEOUT,
                "promoting without applying everything received from the old active",
                {"unapplied": str(prepared.unapplied) if prepared.unapplied else ""},
            )
        )
    # A standby's gate is normally open already: no step on the clients' path for it.
    admit: list[Action] = [AdmitClients()] if s.clients_shut is not False else []
    claim = ClaimVip(force=vip_overridable(cfg, s, now), probe=not peer_released(cfg, s, now))
    return s, [*admit, claim], reasons


def claimed(cfg: CoreConfig, s: NodeState, now: float) -> tuple[NodeState, list[Action]]:
    """The VIP is ours: the new epoch durably (the state file), then writable (the actor
    writes the epoch row once read_only is off, never through it), then the I/O thread
    from the old active stops. From here nothing aborts but a failed state file."""
    promotion = s.promotion
    assert promotion is not None and promotion.prepared is not None
    prepared, old = promotion.prepared, promotion.peer_beat
    epoch = max(s.durable.epoch, s.durable.highest_seen) + 1
    record = TakeoverRecord(
        epoch=epoch,
        at=now + s.wall_offset,
        new_active=cfg.node,
        old_active=cfg.peer,
        reason=promotion.finding.value,
        peer_executed=str(old.executed) if old and old.executed is not None else "",
        peer_received=str(old.received) if old and old.received is not None else "",
        local_executed=str(prepared.executed) if prepared.executed is not None else "",
        unapplied=str(prepared.unapplied) if prepared.unapplied else "",
    )
    durable = evolve(
        s.durable,
        epoch=epoch,
        highest_seen=epoch,
        last_role=Role.ACTIVE,
        fenced_reason="",
        last_takeover=record,
    )
    s = evolve(s, durable=durable, promotion=evolve(promotion, claimed_at=now, epoch=epoch))
    env = {
        "DUALBEAT_EPOCH": str(epoch),
        "DUALBEAT_NEW_ROLE": "active",
        "DUALBEAT_REASON": promotion.finding.value,
    }
    return s, [
        PersistState(durable),
        SetReadOnly(False),
        SendBeat(),
        StopReplication(),  # the I/O thread from the old active, now that the VIP moved
        RunHook(HookEvent.FAILOVER, env),
        RunHook(HookEvent.ROLE_CHANGE, env),
    ]


def promoted(s: NodeState, now: float, *, writable: bool) -> tuple[NodeState, list[Reason]]:
    """The promotion's end: holding the VIP at the new epoch, writable (or the reconcile
    retries it). From here the beats say active at the new epoch."""
    promotion = s.promotion
    assert promotion is not None and promotion.prepared_at is not None
    assert promotion.claimed_at is not None
    phases = {
        "detect_s": round(promotion.decided_at - promotion.evidence_since, 3),
        "fence_s": None,  # the old active fenced itself (DEMOTED on its side) or is dead
        "apply_s": round(promotion.prepared_at - promotion.decided_at, 3),
        "vip_s": round(promotion.claimed_at - promotion.prepared_at, 3),
        "promote_s": round(now - promotion.claimed_at, 3),
        "promote_vip_s": round(now - promotion.prepared_at, 3),
        "total_s": round(now - promotion.evidence_since, 3),
        "epoch": promotion.epoch,
        "finding": promotion.finding.value,
        "planned": promotion.strict,  # a lossless switchover, not a failover
        "writable": writable,
    }
    reason = Reason(
        ReasonCode.PROMOTED,
        f"active at epoch {promotion.epoch}: writable and holding the VIP",
        phases,
    )
    # A new term: the ring back from the old active may be restored at once, whatever
    # was tried during the last one.
    tried = {k: v for k, v in s.last_tried.items() if k is not StartReplication}
    return evolve(s, promotion=None, last_tried=tried), [reason]


def demoted(s: NodeState, *, ok: bool, now: float) -> Reason:
    """The end of a demotion from active: read-only, sessions killed, VIP released. Its
    duration is the fence phase of the failover or switchover the peer then completes."""
    how = "VIP released" if ok else "VIP release failed (the reconcile retries it)"
    return Reason(
        ReasonCode.DEMOTED,
        f"left the active role as {s.role.value}: read-only, sessions killed, {how}",
        {"fence_s": round(now - s.role_since, 3), "role": s.role.value, "vip_released": ok},
    )


def abort_promotion(s: NodeState, failed: str, now: float) -> tuple[NodeState, list[Action]]:
    """Back to standing by, replicating again: the takeover stopped the SQL thread, and a
    standby that does not apply what it receives would lose it all at the next failover.
    Never announced as active, so not ``demoting`` either: the peer has nothing to wait for."""
    promotion = s.promotion
    assert promotion is not None
    s, actions = demote(s, Role.STANDBY, f"promotion aborted: {failed} failed", now)
    if promotion.was is not Role.FENCED:  # a fenced node never replicates from the active
        actions.append(StartReplication())
    return evolve(s, yielding=False, demoting=False, promotion_failed_at=now), actions
