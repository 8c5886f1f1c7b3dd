"""Reason codes: every code a decision (or the agent's history) can carry, documented here.

Rule 1: a ``Reason`` carries a ``ReasonCode``, never free text; tests assert codes.
Rule 2: every finding is a reason code of the same name (the decision that names it logs
        it), so ``ReasonCode.of(finding)`` always exists; a test checks both lists agree.
Rule 3: each code has one line in ``DOCS``; ``dualbeat fsm --codes`` prints them
        (``render_codes``), so an operator reading the history can look any code up.

A ``StrEnum``: its value is the code's name, which is what the history and status show.
"""

from __future__ import annotations

import enum

from dualbeat.core.roles import Finding, Health


class ReasonCode(enum.StrEnum):
    # Findings, logged when the finding changes or the role moves (see ``Finding``).
    SHUTDOWN = "SHUTDOWN"
    SHUTDOWN_HANDOVER = "SHUTDOWN_HANDOVER"
    SHUTDOWN_DEFERRED = "SHUTDOWN_DEFERRED"
    PEER_NEWER_EPOCH = "PEER_NEWER_EPOCH"
    SUPERSEDED = "SUPERSEDED"
    MAINTENANCE_REFUSED = "MAINTENANCE_REFUSED"
    HOLDS_ERRANT = "HOLDS_ERRANT"
    LOCAL_FAILED = "LOCAL_FAILED"
    STANDBY_REQUESTED = "STANDBY_REQUESTED"
    STANDBY_REFUSED = "STANDBY_REFUSED"
    FAILBACK_DUE = "FAILBACK_DUE"
    TAKEOVER_ASKED = "TAKEOVER_ASKED"
    TAKEOVER_NOW = "TAKEOVER_NOW"
    TAKEOVER_REFUSED = "TAKEOVER_REFUSED"
    SWITCHOVER_REFUSED = "SWITCHOVER_REFUSED"
    REJOIN_ACCEPTED = "REJOIN_ACCEPTED"
    REJOIN_REFUSED = "REJOIN_REFUSED"
    REJOIN_AUTO = "REJOIN_AUTO"
    LINK_DOWN = "LINK_DOWN"
    PEER_YIELDED = "PEER_YIELDED"
    TWO_ACTIVES_WIN = "TWO_ACTIVES_WIN"
    TWO_ACTIVES_LOSE = "TWO_ACTIVES_LOSE"
    PEER_ACTIVE = "PEER_ACTIVE"
    PEER_PASSIVE = "PEER_PASSIVE"
    ELECTED = "ELECTED"
    NOT_ELECTED = "NOT_ELECTED"
    PEER_UNPROBED = "PEER_UNPROBED"
    PEER_DEAD = "PEER_DEAD"
    PEER_SILENT = "PEER_SILENT"
    INITDEAD = "INITDEAD"
    NOT_PROBED = "NOT_PROBED"
    CANNOT_PROMOTE = "CANNOT_PROMOTE"
    LEASE_EXPIRED = "LEASE_EXPIRED"
    ISOLATED = "ISOLATED"
    AWAIT_LEASE = "AWAIT_LEASE"
    BEHIND_HIGH_WATER = "BEHIND_HIGH_WATER"
    RESUMED = "RESUMED"
    # Events folded in by ``absorb`` and the role-entry steps.
    STARTED = "STARTED"
    MYSQL_UNKNOWN = "MYSQL_UNKNOWN"
    MYSQL_HEALTHY = "MYSQL_HEALTHY"
    MYSQL_FAILED = "MYSQL_FAILED"
    MYSQL_BUSY = "MYSQL_BUSY"
    MYSQL_MISCONFIGURED = "MYSQL_MISCONFIGURED"
    WRITES_STALLED = "WRITES_STALLED"
    READ_ONLY_REPAIRED = "READ_ONLY_REPAIRED"
    SEMISYNC_FELL_BACK = "SEMISYNC_FELL_BACK"
    CHECK_FAILED = "CHECK_FAILED"
    PEER_HEARD = "PEER_HEARD"
    CARRIER_UP = "CARRIER_UP"
    CARRIER_LOST = "CARRIER_LOST"
    PING_UP = "PING_UP"
    PING_LOST = "PING_LOST"
    LEASE_ACQUIRED = "LEASE_ACQUIRED"
    LEASE_LOST = "LEASE_LOST"
    LEASE_LAPSED = "LEASE_LAPSED"
    YIELD_EXPIRED = "YIELD_EXPIRED"
    SHUTDOWN_ABANDONED = "SHUTDOWN_ABANDONED"
    ACTION_FAILED = "ACTION_FAILED"
    PROMOTION_ABORTED = "PROMOTION_ABORTED"
    SWITCHOVER_ABORTED = "SWITCHOVER_ABORTED"
    APPLY_TIMEOUT = "APPLY_TIMEOUT"
    PROMOTED = "PROMOTED"
    DEMOTED = "DEMOTED"
    MAINTENANCE_ON = "MAINTENANCE_ON"
    MAINTENANCE_OFF = "MAINTENANCE_OFF"
    ROLE_ADOPTED = "ROLE_ADOPTED"
    REJOIN_AUTO_RESOLVED = "REJOIN_AUTO_RESOLVED"
    REJOIN_AUTO_FAILED = "REJOIN_AUTO_FAILED"
    # Written to the history by the CLI, not by ``decide``.
    REJOIN_REPORT = "REJOIN_REPORT"

    @classmethod
    def of(cls, finding: Finding) -> ReasonCode:
        """The code a decision logs for ``finding``: the finding's name."""
        return cls[finding.name]

    @classmethod
    def of_health(cls, health: Health) -> ReasonCode:
        """The code logged when the local MySQL's health becomes ``health``."""
        return _HEALTH[health]

    @property
    def refused(self) -> bool:
        """A decision that turns an operator's command down."""
        return self.name in Finding.__members__ and Finding[self.name].refused

    @property
    def doc(self) -> str:
        return DOCS[self]


_HEALTH = {
    Health.UNKNOWN: ReasonCode.MYSQL_UNKNOWN,
    Health.HEALTHY: ReasonCode.MYSQL_HEALTHY,
    Health.FAILED: ReasonCode.MYSQL_FAILED,
    Health.BUSY: ReasonCode.MYSQL_BUSY,
    Health.MISCONFIGURED: ReasonCode.MYSQL_MISCONFIGURED,
}

C = ReasonCode

#: One line per code: what happened, or what the node judged.
DOCS: dict[ReasonCode, str] = {
    C.SHUTDOWN: "the agent is stopping; nothing to hand over (or --keep)",
    C.SHUTDOWN_HANDOVER: "the active agent is stopping and hands over to a caught-up standby",
    C.SHUTDOWN_DEFERRED: "stopping once safe: the standby catches up, or the peer's promotion "
    "after our handover finishes",
    C.PEER_NEWER_EPOCH: "we are active, the peer took over at a later epoch, and it lacks "
    "writes of ours: fenced for the review",
    C.SUPERSEDED: "we are active, the peer took over at a later epoch, and it lacks nothing "
    "of ours (dualbeat's own writes aside): standing by without a review",
    C.MAINTENANCE_REFUSED: "an operator command refused: automation is paused",
    C.HOLDS_ERRANT: "we hold transactions the active peer lacks: fenced for analysis",
    C.LOCAL_FAILED: "our MySQL (or an extra check) failed alert_after probes in a row",
    C.STANDBY_REQUESTED: "the operator or the peer asked us, the active, to hand over",
    C.STANDBY_REFUSED: "a handover refused: no healthy standby would take over",
    C.FAILBACK_DUE: "auto_failback: the preferred node has been ready for holddown",
    C.TAKEOVER_ASKED: "an operator takeover or switchover: asking the live active to yield",
    C.TAKEOVER_NOW: "an operator takeover with the peer gone: promoting",
    C.TAKEOVER_REFUSED: "a takeover refused: the peer (or the high water) has writes we lack",
    C.SWITCHOVER_REFUSED: "a switchover refused: no live active to switch over from",
    C.REJOIN_ACCEPTED: "fenced, and nothing of ours is missing on the active: standby again",
    C.REJOIN_REFUSED: "a rejoin refused: not fenced, or still holding writes the active lacks",
    C.REJOIN_AUTO: "fenced, and the active holds every transaction of ours ([rejoin] auto): "
    "standby again without an operator",
    C.LINK_DOWN: "the VIP interface has no carrier",
    C.PEER_YIELDED: "the active peer gave up its role: taking over now",
    C.TWO_ACTIVES_WIN: "both nodes active at one epoch; we win the tie and stay",
    C.TWO_ACTIVES_LOSE: "both nodes active at one epoch; we lose the tie and step down",
    C.PEER_ACTIVE: "the peer is the active; we stand by",
    C.PEER_PASSIVE: "we are active; the peer stands by, starts or is fenced",
    C.ELECTED: "nobody is active and we are the node that should be",
    C.NOT_ELECTED: "nobody is active and the peer is the node that should be",
    C.PEER_UNPROBED: "the peer's agent is starting and has not probed its MySQL yet",
    C.PEER_DEAD: "the peer is silent on every link for deadtime and its MySQL unreachable",
    C.PEER_SILENT: "the peer is silent, but its MySQL answers (or was not probed yet)",
    C.INITDEAD: "starting: still waiting initdead for the peer",
    C.NOT_PROBED: "starting: our own MySQL has not been probed yet",
    C.CANNOT_PROMOTE: "a promotion would be due, but we are not fit to be active",
    C.LEASE_EXPIRED: "active without the peer's promise or the arbiter lease: demoting",
    C.ISOLATED: "active, and the peer and every ping node are silent: demoting",
    C.AWAIT_LEASE: "a promotion is due: taking the arbiter key first",
    C.BEHIND_HIGH_WATER: "restarted alone behind the GTID high water: waiting for the peer",
    C.RESUMED: "restarted under our own running active server: active again, same epoch",
    C.STARTED: "the agent started, in the role its state file allows",
    C.MYSQL_UNKNOWN: "the local MySQL's state is unknown",
    C.MYSQL_HEALTHY: "the local MySQL passed rise probes in a row",
    C.MYSQL_FAILED: "the local MySQL failed alert_after probes in a row",
    C.MYSQL_BUSY: "the local MySQL is alive but saturated: never a failover",
    C.MYSQL_MISCONFIGURED: "our own MySQL access is misconfigured: an alarm, never a failover",
    C.WRITES_STALLED: "the local MySQL answers reads but the heartbeat write stalls (a backup "
    "lock, an fsync stall): no failover before write_stall",
    C.READ_ONLY_REPAIRED: "the active's MySQL turned read-only under it (set by hand?): set "
    "writable again, no failover",
    C.SEMISYNC_FELL_BACK: "semi-sync fell back to asynchronous replication on the active",
    C.CHECK_FAILED: "an extra [[monitor.checks]] command failed alert_after times",
    C.PEER_HEARD: "the first heartbeat from the peer since the agent started",
    C.CARRIER_UP: "the VIP interface has carrier again",
    C.CARRIER_LOST: "the VIP interface lost carrier",
    C.PING_UP: "a ping node answers again",
    C.PING_LOST: "no ping node answers",
    C.LEASE_ACQUIRED: "we hold the arbiter key",
    C.LEASE_LOST: "the arbiter says the key is no longer ours",
    C.LEASE_LAPSED: "the arbiter lease ran out unrenewed",
    C.YIELD_EXPIRED: "the peer did not take over after our yield; yield withdrawn",
    C.SHUTDOWN_ABANDONED: "the stop's handover failed (the peer did not take over): staying up "
    "to keep a writer; stop again, or with --keep",
    C.ACTION_FAILED: "an action failed (the error is in the text)",
    C.PROMOTION_ABORTED: "a promotion aborted: a critical step failed; back to standby",
    C.SWITCHOVER_ABORTED: "a switchover rolled back: the old active's writes not all applied",
    C.APPLY_TIMEOUT: "promoting without having applied everything received from the old active",
    C.PROMOTED: "active at a new epoch: writable and holding the VIP (phase timings)",
    C.DEMOTED: "left the active role: read-only, sessions killed, VIP released",
    C.MAINTENANCE_ON: "maintenance mode on: automation paused on both nodes",
    C.MAINTENANCE_OFF: "maintenance mode off: automation resumes",
    C.ROLE_ADOPTED: "paused at start: took the role the servers show, changing nothing",
    C.REJOIN_AUTO_RESOLVED: "[rejoin] auto = safe: the lost writes were all safe, re-applied "
    "on the active, and this node was resynced from it (the record is linked)",
    C.REJOIN_AUTO_FAILED: "[rejoin] auto = safe could not resolve this fencing (a conflict, "
    "or a step failed: the record says where); an operator runs dualbeat rejoin",
    C.REJOIN_REPORT: "a lost-writes analysis (dualbeat rejoin) was written; links the report",
}


def render_codes() -> str:
    """Every reason code with its one line, one per line, in declaration order."""
    width = max(len(code) for code in ReasonCode)
    return "\n".join(f"{code.value:<{width}}  {DOCS[code]}" for code in ReasonCode)
