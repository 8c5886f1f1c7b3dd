"""Actions: imperative verbs the core asks the agent's adapters to carry out.

Every action is idempotent and bounded by a timeout in its adapter, and comes back as
``ActionDone`` / ``ActionFailed`` (``PrepareTakeover`` as ``TakeoverPrepared``). A batch of
actions runs in order; when a ``critical`` action fails the rest of its batch is skipped
(a promotion must not make MySQL writable after failing to record the new epoch), while
demotion steps are best effort: each runs even if the one before failed.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from dualbeat.core.durable import Durable
from dualbeat.core.gtid import GtidSet


@dataclass(frozen=True)
class SetReadOnly:
    on: bool
    critical = False


@dataclass(frozen=True)
class KillSessions:
    """Kill client sessions (never replication/system threads) so pools reconnect via the VIP."""

    critical = False


@dataclass(frozen=True)
class ClaimVip:
    """Duplicate-address check, add the VIP, gratuitous ARP burst.

    ``force``: add it even if another host answers the ARP probe, because that host is
    known to refuse MySQL connections with its agent silent (its kernel still holds the
    address; see ``findings.vip_overridable``). The gratuitous ARP moves the clients.
    ``probe`` False skips the duplicate-address check: the peer has just told us over the
    heartbeat that it released the VIP, and the probe's wait would leave the address
    answering nobody. Where the old active is silent, the probe stays."""

    force: bool = False
    probe: bool = True
    critical = True


@dataclass(frozen=True)
class ReleaseVip:
    critical = False


@dataclass(frozen=True)
class ShutClients:
    """Shut the MySQL port to clients at the network level (new connections refused with
    a reset, established ones destroyed) while this node still holds the VIP; the agent's
    own and the replication connections stay allowed. Needs no MySQL: a frozen server
    cannot delay it, and a frozen server that thaws cannot commit a client's statement."""

    critical = False


@dataclass(frozen=True)
class AdmitClients:
    """Open the MySQL port to clients again (the server is read-only, or we are active)."""

    critical = False


@dataclass(frozen=True)
class AnnounceVip:
    """Periodic gratuitous ARP refresh while active."""

    critical = False


@dataclass(frozen=True)
class PrepareTakeover:
    """Apply what was received (bounded by ``timeout``), then stop applying from the peer.

    In a planned switchover ``target`` is the old active's final executed set and
    ``strict`` makes missing any of it abort the promotion (and roll back) instead of
    promoting with a recorded loss."""

    timeout: float
    target: GtidSet | None = None
    strict: bool = False
    critical = True


@dataclass(frozen=True)
class ReadPosition:
    """Read the executed set (after read-only: the final position of a handover)."""

    critical = False


@dataclass(frozen=True)
class StopReplication:
    critical = False


@dataclass(frozen=True)
class StartReplication:
    critical = False


@dataclass(frozen=True)
class PersistState:
    """Write the durable state to the state file (fsynced). Never MySQL: a write on a
    server that is still read-only would be an errant transaction."""

    durable: Durable
    critical = True


@dataclass(frozen=True)
class SetSemiSync:
    """Replica side on; source side on only while a healthy standby can acknowledge.

    ``behind_gate``: the source side goes off because the peer fell silent, and the
    commits still waiting for its acknowledgement are released while the client gate is
    shut. This node may be the one cut off (without ``[ping]`` it cannot tell), and
    then the peer promotes without those commits; released behind the gate they answer
    no client, which the gate's window records (``gate.acks``), so the node can discard
    them by itself after the heal instead of being fenced for an operator."""

    source: bool
    behind_gate: bool = False
    critical = False


@dataclass(frozen=True)
class SendBeat:
    """Send a heartbeat now (role change, yield) instead of waiting for the next keepalive."""

    critical = False


@dataclass(frozen=True)
class AcquireLease:
    """Take the arbiter key for ``epoch`` (a transaction: only if nobody holds it; our own
    key is re-attached). Answered by ``LeaseAnswered``; an unreachable arbiter fails it."""

    epoch: int
    critical = False


@dataclass(frozen=True)
class RenewLease:
    """Keep the arbiter lease alive (every TTL/3). Answered by ``LeaseAnswered``."""

    critical = False


@dataclass(frozen=True)
class ReleaseLease:
    """Give the arbiter key up (best effort) once we are no longer writable."""

    critical = False


@dataclass(frozen=True)
class Fence:
    """Run the fence hook (power off or isolate the old active) before a promotion;
    when ``required`` its failure aborts the promotion."""

    required: bool = False

    @property
    def critical(self) -> bool:
        return self.required


@dataclass(frozen=True)
class AutoRejoin:
    """``[rejoin] auto = "safe"``: analyse this fenced node's lost writes and, when every
    one is ``safe``, re-apply them on the active and resync this node from it (``dualbeat
    rejoin --reapply``). Refused before any change when one is not. Runs in its own
    worker, bounded by the workflow's timeouts; the node stands by again through
    ``REJOIN_AUTO`` once the active holds all of ours."""

    critical = False


class HookEvent(enum.Enum):
    ROLE_CHANGE = "role_change"
    FAILOVER = "failover"
    FENCE = "fence"
    PRE_PROMOTE = "pre_promote"


@dataclass(frozen=True)
class RunHook:
    """Run the configured script; a ``veto`` hook (pre-promote) that fails stops its batch."""

    event: HookEvent
    env: Mapping[str, str] = field(default_factory=dict)
    veto: bool = False

    def __hash__(self) -> int:
        return hash((self.event, tuple(sorted(self.env.items())), self.veto))


@dataclass(frozen=True)
class Exit:
    """Shut the agent down (after a handover, or at once with --keep)."""

    critical = False


Action = (
    SetReadOnly
    | KillSessions
    | ClaimVip
    | ReleaseVip
    | ShutClients
    | AdmitClients
    | AnnounceVip
    | PrepareTakeover
    | ReadPosition
    | StopReplication
    | StartReplication
    | PersistState
    | SetSemiSync
    | SendBeat
    | RunHook
    | AcquireLease
    | RenewLease
    | ReleaseLease
    | Fence
    | AutoRejoin
    | Exit
)


def is_critical(action: Action) -> bool:
    """Whether a failure of ``action`` must skip the rest of its batch."""
    if isinstance(action, RunHook):
        return action.veto
    return action.critical
