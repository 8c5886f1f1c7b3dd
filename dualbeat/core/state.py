"""The node's state as the core sees it, the core's own config, and what ``decide`` returns.

All frozen: ``decide`` returns a new state, so a test can keep every step of a simulation
and a bug can never come from a view mutated behind the core's back.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from dualbeat.core.actions import Action
from dualbeat.core.durable import Durable
from dualbeat.core.gtid import GtidSet
from dualbeat.core.observations import Command, PeerBeat, ShutdownRequested, TakeoverPrepared
from dualbeat.core.reasons import ReasonCode
from dualbeat.core.roles import Finding, Health, Role


@dataclass(frozen=True)
class Timing:
    keepalive: float = 0.2
    warntime: float = 0.6
    deadtime: float = 1.0
    initdead: float = 10.0
    alert_after: int = 3
    rise: int = 2
    apply_timeout: float = 5.0  # bound on applying the relay log before promoting
    arp_refresh: float = 5.0
    retry: float = 1.0  # how soon a failed corrective action may be tried again
    ring_retry: float = 10.0  # how often to try restarting the active's replication
    promotion_backoff: float = 3.0  # after an aborted promotion, before trying again
    lease_ttl: float = 3.0  # the arbiter lease; renewed every ttl/3
    lease_margin: float = 0.5  # demote this long before the last promise or lease ends
    write_stall: float = 30.0  # reads answer, writes stall this long: only then failed


class RejoinAuto(enum.Enum):
    """``[rejoin] auto``: how a fenced node may stand by again without an operator.

    ``OFF``: never (a deposed active is fenced for review even when it lacks nothing);
    ``INTERNAL``: when the active holds every client transaction of ours (our only extra
    ones are dualbeat's own, which live in internal domains); ``SAFE``: also when the
    lost client transactions are all ``safe`` row changes, re-applied on the active and
    then resynced by the agent (``dualbeat rejoin --reapply``). A conflict never is."""

    OFF = "off"
    INTERNAL = "internal"
    SAFE = "safe"


#: How many automatic ``--reapply`` attempts one fencing gets (a conflict fails at once,
#: before anything changes; a failure after a change leaves a record saying where).
AUTO_REJOIN_TRIES = 2


@dataclass(frozen=True)
class Failback:
    """Set on the node that is *not* preferred when ``[failback] auto`` is on: as the
    active it hands back once the preferred peer has been a healthy, caught-up standby
    for ``holddown``, and never twice within ``min_interval``."""

    holddown: float = 60.0
    min_interval: float = 600.0


@dataclass(frozen=True)
class CoreConfig:
    """What the core needs from the configuration (the agent builds it from ``Config``)."""

    node: str
    peer: str
    priority: int  # 0 for the first node in the config: wins ties
    timing: Timing = field(default_factory=Timing)
    pre_promote_veto: bool = False
    failback: Failback | None = None
    arbiter: bool = False  # a third vote: the active needs the peer's promise or the lease
    ping: bool = False  # ping nodes are configured (ipfail)
    fence: bool = False  # a fence hook runs before a promotion over a silent peer
    fence_required: bool = False  # ...and must succeed
    watchdog_timeout: float = 0.0  # 0: no watchdog; else kicked while a vote lasts longer
    rejoin_auto: RejoinAuto = RejoinAuto.INTERNAL

    @property
    def promise(self) -> float:
        """How long after hearing the active a standby promises not to take over: deadtime,
        the silence after which it would anyway (so the promise costs no failover time).

        With a watchdog, at least its timeout plus warntime: the active kicks only while
        its last vote outlasts the timeout, and with the arbiter down the peer's promise
        is that vote, renewed every beat but always some beats old when it arrives. A
        shorter promise would stop the kicks and reset a healthy active. It costs no
        failover time either: the config keeps the timeout under the lease TTL, and the
        standby needs the key, free only once the lease ran out."""
        t = self.timing
        if not self.watchdog_timeout:
            return t.deadtime
        return max(t.deadtime, self.watchdog_timeout + t.warntime)


@dataclass(frozen=True)
class LocalView:
    health: Health = Health.UNKNOWN
    fails: int = 0
    oks: int = 0
    first_failure_at: float | None = None
    last_detail: str = ""
    check_fails: Mapping[str, int] = field(default_factory=dict)
    writable: bool | None = None
    replicating: bool | None = None
    executed: GtidSet | None = None
    received: GtidSet | None = None
    semisync_active: bool | None = None
    origin: str | None = None
    lag: int | None = None
    io_stopped: bool | None = None  # see ``MysqlProbed.io_stopped``
    # The channel was seen running since the server's last failure or our own stop: a
    # channel stopped after that was stopped by someone else (an operator's STOP SLAVE),
    # and the agent leaves it stopped (``replication_broken``) instead of undoing it.
    channel_ran: bool = False
    received_at: float | None = None  # when the received set last grew: the source is alive
    stalled_since: float | None = None  # reads answer, the heartbeat write stalls (since)

    def failed_checks(self, alert_after: int) -> list[str]:
        return sorted(name for name, n in self.check_fails.items() if n >= alert_after)


@dataclass(frozen=True)
class PeerView:
    beat: PeerBeat | None = None
    heard_at: float | None = None
    links: Mapping[str, float] = field(default_factory=dict)
    sql_reachable: bool | None = None
    sql_refused: bool = False  # the last SQL probe was refused by the peer's host
    sql_at: float | None = None
    seq: int = 0  # the highest beat sequence heard in this peer boot (our beats echo it)
    promise_until: float | None = None  # the peer will not take over before (our clock)


@dataclass(frozen=True)
class Lease:
    """The arbiter key as we hold it: valid until (our clock, conservative), for an epoch."""

    valid_until: float
    epoch: int


@dataclass(frozen=True)
class Evidence:
    """Third-party signals: ping nodes (ipfail) and what the arbiter last said."""

    ping_ok: bool | None = None
    ping_at: float | None = None
    ping_fails: int = 0  # rounds in a row that no ping node answered
    lease: Lease | None = None
    holder: str | None = None  # the key's holder as last answered (None: free or unknown)
    promised_until: float = 0.0  # we promised the peer not to take over before this
    promising: bool = False  # our beats carry a promise (see ``lease.promising``)


@dataclass(frozen=True)
class Promotion:
    """A promotion in flight, in three steps: apply what was received (until
    ``prepared_at``), claim the VIP (until ``claimed_at``), then the new epoch, durably,
    and writable. Until it ends the beats still say ``was`` at ``was_epoch``: a takeover
    that may yet abort must not make the peer give up its role (see ``advertise``)."""

    finding: Finding
    decided_at: float
    evidence_since: float
    peer_beat: PeerBeat | None
    was: Role = Role.STANDBY
    was_epoch: int = 0
    prepared: TakeoverPrepared | None = None
    prepared_at: float | None = None
    claimed_at: float | None = None  # the VIP is ours (phase timings)
    epoch: int = 0
    strict: bool = False  # a switchover: roll back rather than promote with a loss


@dataclass(frozen=True)
class NodeState:
    role: Role = Role.STARTING
    durable: Durable = field(default_factory=Durable)
    boot_id: int = 0
    wall_offset: float = 0.0
    started_at: float = 0.0
    role_since: float = 0.0
    finding: Finding | None = None  # the last finding, so a steady situation is logged once
    local: LocalView = field(default_factory=LocalView)
    peer: PeerView = field(default_factory=PeerView)
    vip_held: bool | None = None
    clients_shut: bool | None = None  # the client gate, as last reported; None: unknown
    carrier: bool | None = None
    carrier_since: float | None = None  # when the VIP link last got carrier back
    carrier_down: int = 0  # VIP checks in a row without carrier
    promotion: Promotion | None = None
    promotion_failed_at: float | None = None
    demoting: bool = False  # left the active role; the VIP is not released yet
    yielding: bool = False
    yielded_at: float = 0.0
    final_executed: GtidSet | None = None  # our executed set after a handover's read-only
    errant_since: float | None = None  # since when we hold writes the active lacks
    clean_since: float | None = None  # fenced, and since when the active holds all of ours
    auto_rejoin_tries: int = 0  # automatic --reapply runs in this fencing
    auto_rejoin_failed: bool = False  # the last one failed: it may have stopped half-way
    # The client gate recorded a window since we last became active (``GateWindowOpened``;
    # an active records one when it releases commits behind the gate as its peer falls
    # silent): with ``[rejoin] auto = "internal"`` an automatic run may discard commits
    # made in it. Cleared by a promotion: older windows concern an older term.
    gate_window: bool = False
    failback_ready_since: float | None = None  # since when the preferred peer could take over
    wants_takeover: bool = False
    command: Command | None = None
    shutdown: ShutdownRequested | None = None
    handover_epoch: int | None = None  # our epoch when a stop handed over (until we exit)
    semisync_source: bool | None = None  # the source side as last requested
    exiting: bool = False
    in_flight: frozenset[type[Action]] = frozenset()  # kinds of action not yet reported
    last_tried: Mapping[type[Action], float] = field(default_factory=dict)
    evidence: Evidence = field(default_factory=Evidence)
    high_water: GtidSet | None = None  # durable.high_water parsed in our server's family
    high_water_saved: str = ""  # the high water as last written to the state file
    high_water_dirty: bool = False  # it grew since it was last written


@dataclass(frozen=True)
class Reason:
    """Why the core did something: a stable code (tests assert it), a sentence, the evidence."""

    code: ReasonCode
    text: str
    evidence: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    state: NodeState
    actions: tuple[Action, ...] = ()
    reasons: tuple[Reason, ...] = ()
    wake_at: float | None = None
