"""The core's closed vocabularies: roles, local health, findings.

The transition table (``transitions``) maps (role, finding) to the next role; ``findings``
says how a finding is judged.
"""

from __future__ import annotations

import enum


class Role(enum.Enum):
    """What a node is doing. Only ``ACTIVE`` is writable and holds the VIP.

    ``STARTING`` is the initdead wait: read-only, no VIP, listening for the peer.
    ``FENCED`` is read-only, no VIP and not replicating from the active: it waits for an
    operator or for the lost-writes analysis before it may become a standby again.
    """

    STARTING = "starting"
    ACTIVE = "active"
    STANDBY = "standby"
    FENCED = "fenced"


class Health(enum.Enum):
    """The local MySQL as the monitor judges it after alert_after / rise.

    ``MISCONFIGURED`` (access denied and the like) is our mistake: a loud alarm, never a
    reason to fail over. ``BUSY`` (too many connections) is alive: no failover either.
    """

    UNKNOWN = "unknown"
    HEALTHY = "healthy"
    FAILED = "failed"
    BUSY = "busy"
    MISCONFIGURED = "misconfigured"


class Finding(enum.StrEnum):
    """What the situation *is*, as ``findings.assess`` names it; one per decision.

    A ``StrEnum``: its value is what status, history and the control socket show.
    """

    SHUTDOWN = "shutdown"  # stopping; nothing to hand over (or --keep)
    SHUTDOWN_HANDOVER = "shutdown_handover"  # stopping active with a caught-up standby
    SHUTDOWN_DEFERRED = "shutdown_deferred"  # stopping once a handover can finish safely
    PEER_NEWER_EPOCH = "peer_newer_epoch"  # we are active but the peer took over later
    SUPERSEDED = "superseded"  # ...and lacks nothing of ours (our own writes aside)
    MAINTENANCE_REFUSED = "maintenance_refused"  # an operator command while automation is paused
    HOLDS_ERRANT = "holds_errant"  # we hold transactions the active peer lacks
    LOCAL_FAILED = "local_failed"  # our MySQL (or an extra check) failed
    STANDBY_REQUESTED = "standby_requested"  # operator or peer asked us to hand over
    STANDBY_REFUSED = "standby_refused"  # ...but no healthy standby would take over
    FAILBACK_DUE = "failback_due"  # auto_failback: hand back to the preferred node now
    TAKEOVER_ASKED = "takeover_asked"  # operator takeover: ask the live active to yield
    TAKEOVER_NOW = "takeover_now"  # operator takeover with the peer gone
    TAKEOVER_REFUSED = "takeover_refused"  # the peer holds transactions we lack
    SWITCHOVER_REFUSED = "switchover_refused"  # no live active to switch over from
    REJOIN_ACCEPTED = "rejoin_accepted"  # fenced, and nothing of ours is missing any more
    REJOIN_REFUSED = "rejoin_refused"  # not fenced, or we still hold writes the active lacks
    REJOIN_AUTO = "rejoin_auto"  # fenced, the active holds all of ours: [rejoin] auto
    LINK_DOWN = "link_down"  # the VIP interface lost carrier
    PEER_YIELDED = "peer_yielded"  # the active peer gave up: take over now
    TWO_ACTIVES_WIN = "two_actives_win"  # both active, same epoch, we win the tie
    TWO_ACTIVES_LOSE = "two_actives_lose"
    PEER_ACTIVE = "peer_active"
    PEER_PASSIVE = "peer_passive"  # we are active; the peer stands by (or starts, or is fenced)
    ELECTED = "elected"  # nobody active: we are the right node to be
    NOT_ELECTED = "not_elected"
    PEER_UNPROBED = "peer_unprobed"  # the peer's agent is starting, its MySQL not probed yet
    PEER_DEAD = "peer_dead"  # silent on every link for deadtime and its SQL unreachable
    PEER_SILENT = "peer_silent"  # silent, but its MySQL answers (or was not probed yet)
    INITDEAD = "initdead"  # starting: still waiting for the peer
    NOT_PROBED = "not_probed"  # starting: our own MySQL has not been probed yet
    CANNOT_PROMOTE = "cannot_promote"  # promotion would be due, but we are not fit
    LEASE_EXPIRED = "lease_expired"  # active: neither the peer's promise nor the lease holds
    ISOLATED = "isolated"  # active: the peer and every ping node are silent
    AWAIT_LEASE = "await_lease"  # promotion is due: taking the arbiter key first
    BEHIND_HIGH_WATER = "behind_high_water"  # restarted alone behind the GTID high water: waiting
    RESUMED = "resumed"  # restarted while our own server is the running active: carry on

    @property
    def refused(self) -> bool:
        """An operator's command this finding turns down (the agent answers "refused")."""
        return self in _REFUSALS


_REFUSALS = frozenset(
    {
        Finding.MAINTENANCE_REFUSED,
        Finding.STANDBY_REFUSED,
        Finding.TAKEOVER_REFUSED,
        Finding.SWITCHOVER_REFUSED,
        Finding.REJOIN_REFUSED,
    }
)
