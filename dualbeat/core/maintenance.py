"""Maintenance mode: automation paused on both nodes (Patroni's pause), judgement kept.

While paused the core still absorbs every observation and names the finding (so status,
history and alarms go on), but it *does* nothing about it: no promotion, no demotion, no
fencing, no corrective action. A role change the table would make is logged as held.
When the pause ends, the next decision judges the situation from the evidence of that
moment, not from what was held.

The setting is durable (state file) and travels in every heartbeat with a version that
grows at each change; a node adopts the peer's setting when its version is higher (at one
version, "on" wins), so an operator may pause or resume from either node, and a node that
was down during a change catches up when it hears the peer again.

A node that (re)starts paused takes no role by election: it adopts the one its servers
show (writable with the VIP: active; read-only without it: standby), changing nothing,
so a load balancer asking "who is active" still finds the writer.
"""

from __future__ import annotations

from dataclasses import replace

from dualbeat.core.actions import Action, PersistState, SendBeat
from dualbeat.core.findings import fresh_peer
from dualbeat.core.observations import PeerBeat
from dualbeat.core.reasons import ReasonCode
from dualbeat.core.roles import Health, Role
from dualbeat.core.state import CoreConfig, NodeState, Reason

Changed = tuple[NodeState, list[Action], list[Reason]]


def _set(s: NodeState, on: bool, version: int, text: str) -> Changed:
    durable = replace(s.durable, maintenance=on, maintenance_version=version)
    s = replace(s, durable=durable)
    code = ReasonCode.MAINTENANCE_ON if on else ReasonCode.MAINTENANCE_OFF
    evidence = {"maintenance_version": version, "role": s.role.value}
    return s, [PersistState(durable), SendBeat()], [Reason(code, text, evidence)]


def toggle(s: NodeState, on: bool) -> Changed:
    """The operator's command on this node: always a new version, so the latest command
    wins over a peer that has not heard the previous one yet."""
    seen = s.peer.beat.maintenance_version if s.peer.beat else 0
    version = max(s.durable.maintenance_version, seen) + 1
    already = " (it already was)" if s.durable.maintenance == on else ""
    text = (
        f"maintenance mode on{already}: automation paused on both nodes, monitoring goes on"
        if on
        else f"maintenance mode off{already}: automation resumes from the current evidence"
    )
    return _set(s, on, version, text)


def follow_peer(s: NodeState, beat: PeerBeat) -> Changed:
    """Adopt the peer's setting when it is newer than ours."""
    mine = (s.durable.maintenance_version, s.durable.maintenance)
    theirs = (beat.maintenance_version, beat.maintenance)
    if theirs <= mine:
        return s, [], []
    state = "on" if beat.maintenance else "off"
    why = "automation paused" if beat.maintenance else "automation resumes"
    return _set(
        s,
        beat.maintenance,
        beat.maintenance_version,
        f"maintenance mode {state} (set on {beat.node}): {why} on both nodes",
    )


def adopt(cfg: CoreConfig, s: NodeState, now: float) -> tuple[NodeState, list[Reason]]:
    """A starting node, paused, takes the role its servers already have (no action)."""
    if s.role is not Role.STARTING or s.local.health is Health.UNKNOWN:
        return s, []
    beat = fresh_peer(cfg, s, now)
    if s.local.writable and s.vip_held and not (beat and beat.role is Role.ACTIVE):
        role, facts = Role.ACTIVE, "writable and holding the VIP"
    elif s.local.writable is False and s.vip_held is False:
        role, facts = Role.STANDBY, "read-only without the VIP"
    else:
        return s, []
    s = replace(s, role=role, role_since=now)
    text = f"maintenance mode: took the role {role.value} as found ({facts}); nothing changed"
    return s, [
        Reason(ReasonCode.ROLE_ADOPTED, text, {"role": role.value, "epoch": s.durable.epoch})
    ]


def held_text(text: str, target: Role) -> str:
    return f"{text} -- held by maintenance mode: nothing done (would become {target.value})"
