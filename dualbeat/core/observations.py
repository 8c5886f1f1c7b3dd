"""Observations: past-tense facts fed to ``decide``. The agent makes them; the core judges them.

Each is a frozen dataclass; ``Observation`` is their closed union, so ``decide`` can
``match`` over it exhaustively (``assert_never``). Times are ``now`` values of the agent's
monotonic clock, passed in: observations never read a clock.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from dualbeat.core.actions import AcquireLease, Action, RenewLease
from dualbeat.core.durable import Durable
from dualbeat.core.gtid import GtidSet
from dualbeat.core.roles import Health, Role


class ProbeFailure(enum.Enum):
    """Why one probe of the local MySQL failed (see ``mysql.probe``)."""

    UNAVAILABLE = "unavailable"  # gone, refused, hung: counts toward failover
    QUERY = "query"  # the write probe failed (read-only, disk full, lock): counts too
    BUSY = "busy"  # too many connections: alive, never a failover by itself
    STALLED = "stalled"  # reads answer, the heartbeat write timed out: alive, a lock or fsync
    MISCONFIGURED = "misconfigured"  # access denied: our mistake, alarm only


@dataclass(frozen=True)
class Started:
    """The agent (re)started; ``durable`` is what its state file remembered."""

    boot_id: int
    durable: Durable
    wall_offset: float = 0.0  # wall clock minus the agent's clock, for records humans read


@dataclass(frozen=True)
class Tick:
    """Time passed (the core asked to be woken at ``wake_at``)."""


@dataclass(frozen=True)
class MysqlProbed:
    """One monitor probe of the local server."""

    ok: bool
    failure: ProbeFailure | None = None
    detail: str = ""
    writable: bool | None = None
    replicating: bool | None = None  # both replica threads running; None: no replica
    executed: GtidSet | None = None
    received: GtidSet | None = None
    semisync_active: bool | None = None  # the source currently waits for replica acks
    origin: str | None = None  # this server's own GTID origin: server_id (MariaDB) or uuid
    lag: int | None = None  # seconds behind its source; None when unknown or not replicating
    # The I/O thread is stopped, not merely reconnecting: nobody started the channel
    # (skip_slave_start after a restart, a deposed active) or somebody stopped it whole.
    io_stopped: bool | None = None
    # The probe failed *and* the server's process is gone: dead for sure, no need to wait
    # for ``alert_after`` failures (a hung or stopped server still gets its window).
    gone: bool = False


@dataclass(frozen=True)
class CheckRan:
    """An extra check command from the config finished (exit code 0 is healthy)."""

    name: str
    ok: bool
    detail: str = ""


@dataclass(frozen=True)
class PeerBeat:
    """The authenticated content of one peer heartbeat, as the core needs it."""

    node: str
    boot_id: int
    epoch: int
    role: Role
    mysql: Health
    writable: bool
    vip_held: bool
    yielding: bool
    executed: GtidSet | None = None
    received: GtidSet | None = None
    wants_takeover: bool = False
    final: GtidSet | None = None  # a handing-over active's executed set, read after read-only
    replicating: bool = False
    lag: int | None = None
    semisync: bool = False
    maintenance: bool = False
    maintenance_version: int = 0
    seq: int = 0  # the beat's sequence number; our beats echo the highest one heard
    promise_until: float | None = None  # "I will not take over before" (OUR clock), see lease


@dataclass(frozen=True)
class PeerBeatReceived:
    link: str
    beat: PeerBeat


@dataclass(frozen=True)
class PeerSqlProbed:
    """Whether the peer's MySQL answered over SQL (the second signal before 'peer dead').

    ``refused``: it did not, and the peer's host refused the connection (a reset, not
    silence): the host is up and nothing listens on the MySQL port, so nothing can write
    there. A peer that answers nothing at all (hung, cut off) may still serve clients."""

    reachable: bool
    detail: str = ""
    refused: bool = False


@dataclass(frozen=True)
class VipObserved:
    held: bool
    carrier: bool


@dataclass(frozen=True)
class ActionDone:
    action: Action
    detail: str = ""


@dataclass(frozen=True)
class ActionFailed:
    """``untouched``: it refused before changing anything (an ``AutoRejoin`` whose
    analysis found what it may not resolve), so nothing was left half-done."""

    action: Action
    error: str
    untouched: bool = False


@dataclass(frozen=True)
class GateWindowOpened:
    """The client gate, shut, recorded where the server's binary log stood once it had cut
    the clients off (``gate.window``): what commits after that, until it opens, was
    acknowledged to no client, and a fenced node may discard it by itself."""


@dataclass(frozen=True)
class PositionRead:
    """The executed set read after the server went read-only: the last a handover may lose."""

    executed: GtidSet | None


@dataclass(frozen=True)
class TakeoverPrepared:
    """The standby applied what it had received (or ran out of time) and stopped replicating."""

    executed: GtidSet | None
    received: GtidSet | None
    unapplied: GtidSet | None
    applied_all: bool


@dataclass(frozen=True)
class PingProbed:
    """One round of the ping nodes (ipfail): did any of them answer?"""

    reachable: bool
    detail: str = ""


@dataclass(frozen=True)
class LeaseAnswered:
    """The arbiter answered an ``AcquireLease`` or ``RenewLease``.

    ``valid_until`` (our clock: the request's send time + TTL, so conservative) is set when
    we hold the key; otherwise ``holder``/``holder_epoch`` say who does (None: nobody,
    or the key vanished under a renewal)."""

    action: AcquireLease | RenewLease
    valid_until: float | None
    holder: str | None = None
    holder_epoch: int | None = None


class Command(enum.Enum):
    STANDBY = "standby"  # hb_standby: the active hands over to a healthy standby
    TAKEOVER = "takeover"  # hb_takeover: the standby asks to become active
    TAKEOVER_FORCE = "takeover-force"  # even if the peer holds transactions we lack
    SWITCHOVER = "switchover"  # planned and lossless: either node may ask
    REJOINED = "rejoined"  # a fenced node's difference was resolved: stand by again
    MAINTENANCE_ON = "maintenance-on"  # pause automation on both nodes (Patroni's pause)
    MAINTENANCE_OFF = "maintenance-off"  # resume: the core judges the situation afresh


@dataclass(frozen=True)
class OperatorRequested:
    command: Command


@dataclass(frozen=True)
class ShutdownRequested:
    """SIGTERM: an active hands over first unless ``keep``."""

    keep: bool = False


Observation = (
    Started
    | Tick
    | MysqlProbed
    | CheckRan
    | PeerBeatReceived
    | PeerSqlProbed
    | VipObserved
    | ActionDone
    | ActionFailed
    | GateWindowOpened
    | TakeoverPrepared
    | PositionRead
    | PingProbed
    | LeaseAnswered
    | OperatorRequested
    | ShutdownRequested
)
