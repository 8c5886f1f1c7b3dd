"""The transition table: (role, finding) -> (next role, why). Data, not code.

Every pair has exactly one row (a test enforces it) and ``dualbeat fsm --dot`` draws the
diagram from it. What a transition *does* (the actions) is in ``decide``; what a role
does to stay true to itself (read-only, VIP, replication) is in ``reconcile``.
"""

from __future__ import annotations

from dualbeat.core.findings import Finding as F
from dualbeat.core.roles import Role as R

Row = tuple[R, str]
_PAUSED = "refused: maintenance mode pauses automation (dualbeat maintenance off first)"

_STARTING: dict[F, Row] = {
    F.SHUTDOWN: (R.STARTING, "stopping before a role was taken"),
    F.SHUTDOWN_HANDOVER: (R.STARTING, "stopping before a role was taken"),
    F.SHUTDOWN_DEFERRED: (R.STARTING, "stopping once the handover is safe"),
    F.PEER_NEWER_EPOCH: (R.STARTING, "not active: nothing to resolve"),
    F.SUPERSEDED: (R.STARTING, "not active: nothing to resolve"),
    F.MAINTENANCE_REFUSED: (R.STARTING, _PAUSED),
    F.HOLDS_ERRANT: (R.FENCED, "we hold transactions the active lacks: fenced until reviewed"),
    F.LOCAL_FAILED: (R.STANDBY, "our MySQL failed at start-up: standing by, never promoting"),
    F.STANDBY_REQUESTED: (R.STARTING, "not active: nothing to hand over"),
    F.STANDBY_REFUSED: (R.STARTING, "not active: nothing to hand over"),
    F.FAILBACK_DUE: (R.STARTING, "not active: nothing to fail back"),
    F.TAKEOVER_ASKED: (R.STANDBY, "the active is alive: asking it to yield"),
    F.TAKEOVER_NOW: (R.ACTIVE, "operator takeover with the peer gone"),
    F.TAKEOVER_REFUSED: (R.STARTING, "takeover refused: the peer holds transactions we lack"),
    F.SWITCHOVER_REFUSED: (R.STARTING, "switchover refused: no live active to switch from"),
    F.REJOIN_ACCEPTED: (R.STARTING, "not fenced: nothing to rejoin"),
    F.REJOIN_REFUSED: (R.STARTING, "not fenced: nothing to rejoin"),
    F.REJOIN_AUTO: (R.STARTING, "not fenced: nothing to rejoin"),
    F.LINK_DOWN: (R.STANDBY, "the VIP interface has no carrier: cannot serve"),
    F.PEER_YIELDED: (R.ACTIVE, "the peer yielded: taking over"),
    F.TWO_ACTIVES_WIN: (R.STARTING, "not active: nothing to resolve"),
    F.TWO_ACTIVES_LOSE: (R.STARTING, "not active: nothing to resolve"),
    F.PEER_ACTIVE: (R.STANDBY, "the peer is active: standing by"),
    F.PEER_PASSIVE: (R.STARTING, "not active"),
    F.ELECTED: (R.ACTIVE, "nobody is active and we are the node to be"),
    F.NOT_ELECTED: (R.STANDBY, "nobody is active and the peer is the node to be"),
    F.PEER_UNPROBED: (R.STARTING, "the peer's agent is starting: waiting for its first probe"),
    F.PEER_DEAD: (R.ACTIVE, "alone after initdead and the peer's MySQL is unreachable"),
    F.PEER_SILENT: (R.STARTING, "the peer is silent but its MySQL answers: waiting"),
    F.INITDEAD: (R.STARTING, "waiting initdead for the peer"),
    F.NOT_PROBED: (R.STARTING, "waiting for the first probe of our MySQL"),
    F.CANNOT_PROMOTE: (R.STARTING, "we would take over but are not fit (health, epoch, link)"),
    F.LEASE_EXPIRED: (R.STARTING, "not active: holds no lease"),
    F.ISOLATED: (R.STARTING, "not active"),
    F.AWAIT_LEASE: (R.STARTING, "we would take over: taking the arbiter key first"),
    F.RESUMED: (R.ACTIVE, "restarted under our own running active server: resuming the role"),
    F.BEHIND_HIGH_WATER: (
        R.STARTING,
        "restarted alone behind the GTID high water: waiting for the peer or "
        "`dualbeat takeover --force`",
    ),
}

_STANDBY: dict[F, Row] = {
    F.SHUTDOWN: (R.STANDBY, "stopping; standby keeps replicating"),
    F.SHUTDOWN_HANDOVER: (R.STANDBY, "stopping; standby keeps replicating"),
    F.SHUTDOWN_DEFERRED: (
        R.STANDBY,
        "stopping once the peer's promotion after our handover has finished (or failed: "
        "then we stay up, so that there is a writer)",
    ),
    F.PEER_NEWER_EPOCH: (R.STANDBY, "not active: nothing to resolve"),
    F.SUPERSEDED: (R.STANDBY, "not active: nothing to resolve"),
    F.MAINTENANCE_REFUSED: (R.STANDBY, _PAUSED),
    F.HOLDS_ERRANT: (R.FENCED, "we hold transactions the active lacks: fenced until reviewed"),
    F.LOCAL_FAILED: (R.STANDBY, "our MySQL failed: a failed standby never promotes"),
    F.STANDBY_REQUESTED: (R.STANDBY, "already standing by"),
    F.STANDBY_REFUSED: (R.STANDBY, "already standing by"),
    F.FAILBACK_DUE: (R.STANDBY, "not active: nothing to fail back"),
    F.TAKEOVER_ASKED: (R.STANDBY, "the active is alive: asking it to yield"),
    F.TAKEOVER_NOW: (R.ACTIVE, "operator takeover with the peer gone"),
    F.TAKEOVER_REFUSED: (R.STANDBY, "takeover refused: the peer holds transactions we lack"),
    F.SWITCHOVER_REFUSED: (R.STANDBY, "switchover refused: no live active to switch from"),
    F.REJOIN_ACCEPTED: (R.STANDBY, "not fenced: nothing to rejoin"),
    F.REJOIN_REFUSED: (R.STANDBY, "not fenced: nothing to rejoin"),
    F.REJOIN_AUTO: (R.STANDBY, "not fenced: nothing to rejoin"),
    F.LINK_DOWN: (R.STANDBY, "the VIP interface has no carrier: cannot serve"),
    F.PEER_YIELDED: (R.ACTIVE, "the peer yielded: taking over at once"),
    F.TWO_ACTIVES_WIN: (R.STANDBY, "not active: nothing to resolve"),
    F.TWO_ACTIVES_LOSE: (R.STANDBY, "not active: nothing to resolve"),
    F.PEER_ACTIVE: (R.STANDBY, "the peer is active"),
    F.PEER_PASSIVE: (R.STANDBY, "not active"),
    F.ELECTED: (R.ACTIVE, "nobody is active and we are the node to be"),
    F.NOT_ELECTED: (R.STANDBY, "nobody is active and the peer is the node to be"),
    F.PEER_UNPROBED: (
        R.STANDBY,
        "the peer's agent is starting and has not probed its MySQL yet: not electing "
        "anyone until it says whether its server is the writable one",
    ),
    F.PEER_DEAD: (R.ACTIVE, "the peer is dead on every link and over SQL: taking over"),
    F.PEER_SILENT: (R.STANDBY, "the peer is silent but its MySQL answers: not taking over"),
    F.INITDEAD: (R.STANDBY, "not starting"),
    F.NOT_PROBED: (R.STANDBY, "not starting"),
    F.CANNOT_PROMOTE: (R.STANDBY, "we would take over but are not fit (health, epoch, link)"),
    F.LEASE_EXPIRED: (R.STANDBY, "not active: holds no lease"),
    F.ISOLATED: (R.STANDBY, "not active"),
    F.AWAIT_LEASE: (R.STANDBY, "we would take over: taking the arbiter key first"),
    F.BEHIND_HIGH_WATER: (R.STANDBY, "not starting"),
    F.RESUMED: (R.STANDBY, "not starting"),
}

_ACTIVE: dict[F, Row] = {
    F.SHUTDOWN: (R.ACTIVE, "stopping and keeping the role (--keep or no healthy standby)"),
    F.SHUTDOWN_HANDOVER: (R.STANDBY, "stopping: handing over to the caught-up standby"),
    F.SHUTDOWN_DEFERRED: (
        R.ACTIVE,
        "stopping once the standby has caught up: a handover now would time out its apply "
        "and leave no writer",
    ),
    F.PEER_NEWER_EPOCH: (
        R.FENCED,
        "the peer took over with a newer epoch and lacks writes of ours: fencing ourselves",
    ),
    F.SUPERSEDED: (
        R.STANDBY,
        "the peer took over with a newer epoch and lacks nothing of ours: standing by",
    ),
    F.MAINTENANCE_REFUSED: (R.ACTIVE, _PAUSED),
    F.HOLDS_ERRANT: (R.ACTIVE, "active: errant check applies to passive nodes"),
    F.LOCAL_FAILED: (R.STANDBY, "our MySQL failed: yielding to the peer"),
    F.STANDBY_REQUESTED: (R.STANDBY, "handing over to the healthy standby"),
    F.STANDBY_REFUSED: (R.ACTIVE, "handover refused: the peer is not a healthy standby"),
    F.FAILBACK_DUE: (
        R.STANDBY,
        "auto_failback: the preferred node has been a healthy, caught-up standby for "
        "the hold-down: handing back to it (a lossless switchover)",
    ),
    F.TAKEOVER_ASKED: (R.ACTIVE, "already active"),
    F.TAKEOVER_NOW: (R.ACTIVE, "already active"),
    F.TAKEOVER_REFUSED: (R.ACTIVE, "already active"),
    F.SWITCHOVER_REFUSED: (R.ACTIVE, "already active"),
    F.REJOIN_ACCEPTED: (R.ACTIVE, "not fenced: nothing to rejoin"),
    F.REJOIN_REFUSED: (R.ACTIVE, "not fenced: nothing to rejoin"),
    F.REJOIN_AUTO: (R.ACTIVE, "not fenced: nothing to rejoin"),
    F.LINK_DOWN: (R.STANDBY, "the VIP interface lost carrier: yielding"),
    F.PEER_YIELDED: (R.ACTIVE, "already active"),
    F.TWO_ACTIVES_WIN: (R.ACTIVE, "both active at one epoch: we win the tie, the peer fences"),
    F.TWO_ACTIVES_LOSE: (R.FENCED, "both active at one epoch: we lose the tie and fence"),
    F.PEER_ACTIVE: (R.ACTIVE, "already active"),
    F.PEER_PASSIVE: (R.ACTIVE, "the peer stands by"),
    F.ELECTED: (R.ACTIVE, "already active"),
    F.NOT_ELECTED: (R.ACTIVE, "already active"),
    F.PEER_UNPROBED: (R.ACTIVE, "already active"),
    F.PEER_DEAD: (R.ACTIVE, "the peer is dead; serving alone"),
    F.PEER_SILENT: (R.ACTIVE, "the peer is silent; serving"),
    F.INITDEAD: (R.ACTIVE, "already active"),
    F.NOT_PROBED: (R.ACTIVE, "already active"),
    F.CANNOT_PROMOTE: (R.ACTIVE, "already active"),
    F.LEASE_EXPIRED: (
        R.STANDBY,
        "neither the peer's promise nor the arbiter lease holds any longer: "
        "demoting before either lets the peer take over",
    ),
    F.ISOLATED: (R.STANDBY, "the peer and every ping node are silent: we are the isolated one"),
    F.AWAIT_LEASE: (R.ACTIVE, "already active"),
    F.BEHIND_HIGH_WATER: (R.ACTIVE, "already active"),
    F.RESUMED: (R.ACTIVE, "already active"),
}

_FENCED_TEXT = "fenced: waiting for the lost-writes review (dualbeat status shows why)"
_FENCED: dict[F, Row] = dict.fromkeys(F, (R.FENCED, _FENCED_TEXT)) | {
    F.MAINTENANCE_REFUSED: (R.FENCED, _PAUSED),
    F.TAKEOVER_NOW: (R.ACTIVE, "operator forced a takeover of a fenced node"),
    F.AWAIT_LEASE: (R.FENCED, "operator forced a takeover: taking the arbiter key first"),
    F.REJOIN_ACCEPTED: (
        R.STANDBY,
        "rejoin accepted: nothing of ours is missing on the "
        "active; replicating from it again as the standby",
    ),
    F.REJOIN_AUTO: (
        R.STANDBY,
        "[rejoin] auto: the active holds every transaction of ours (dualbeat's own aside); "
        "replicating from it again as the standby, no operator needed",
    ),
    F.REJOIN_REFUSED: (
        R.FENCED,
        "rejoin refused: we still hold writes the active lacks, or "
        "the active is not heard; resolve them first (dualbeat rejoin --analyze)",
    ),
}

TABLE: dict[tuple[R, F], Row] = {
    (role, finding): row
    for role, rows in (
        (R.STARTING, _STARTING),
        (R.STANDBY, _STANDBY),
        (R.ACTIVE, _ACTIVE),
        (R.FENCED, _FENCED),
    )
    for finding, row in rows.items()
}


def to_dot() -> str:
    """The role diagram in Graphviz dot: one edge per row that changes the role."""
    lines = ["digraph dualbeat {", "  rankdir=LR;"]
    for (role, finding), (target, _) in sorted(
        TABLE.items(), key=lambda kv: (kv[0][0].value, kv[0][1].value)
    ):
        if target is not role:
            lines.append(f'  {role.value} -> {target.value} [label="{finding.value}"];')
    lines.append("}")
    return "\n".join(lines)
