"""The heartbeat message: what one agent tells the other several times a second.

A ``Beat`` is a fact about the sender at one instant. It is frozen, and its range
invariants (sequence numbers start at 1, times are finite, integers fit in 63 bits so a
peer written in another language can read them) are checked here, once, at construction:
the codec builds a Beat only through this constructor, so nothing downstream re-checks.

Adding a field later: give it a default, so beats from an older peer, which lack it, still
decode; if its type is new, give it a parser in ``codec`` (a test fails at import
otherwise). Fields a newer peer sends that we do not know are ignored. Only an incompatible
change (a field renamed, retyped or given a new meaning) bumps ``codec.VERSION``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from dualbeat.core.roles import Health, Role

#: Largest integer a Beat carries: a signed 64-bit value, the common ground of JSON readers.
MAX_INT = 2**63 - 1


@dataclass(frozen=True)
class Beat:
    """One heartbeat, as sent and as received.

    ``boot_id`` strictly grows across the sender's restarts (its start time in ns, or one
    more than its last boot when the wall clock stepped back: ``statefile.next_boot_id``);
    ``seq`` starts at 1 for each boot and grows by one per datagram *sent* (the
    copies of one Beat sent on several links share it). Together they order beats for the
    replay window. ``sent_at`` is the sender's wall clock: informational only, never used
    to judge freshness, because the two clocks are not trusted to agree.

    ``yielding`` means the sender, while active, gives up: the peer should promote now.
    ``maintenance`` says automation is paused; with ``maintenance_version`` the two nodes
    converge on the newest setting (see ``core.maintenance``).
    The lease fields (see ``dualbeat.core.lease``): ``ack_boot``/``ack_seq`` echo the
    highest beat the sender heard from us (its boot and sequence), and ``promise`` > 0 says
    "I will not take over before I received that beat + ``promise`` seconds". The receiver
    anchors it on its own send time of that beat, so neither clock is trusted.
    """

    cluster: str
    node: str
    boot_id: int
    seq: int
    sent_at: float
    epoch: int
    role: Role
    mysql: Health
    executed: str
    received: str
    vip_held: bool
    writable: bool
    yielding: bool
    maintenance: bool
    promise: float = 0.0
    ack_boot: int = 0
    ack_seq: int = 0
    wants_takeover: bool = False  # the standby asks the active to yield (operator takeover)
    final: str = ""  # a handing-over active's executed set after read-only (switchover)
    replicating: bool = False  # both replica threads running (for `dualbeat status`)
    lag: int = -1  # seconds behind its source, -1 when unknown
    semisync: bool = False  # as a source, currently waiting for replica acknowledgements
    maintenance_version: int = 0  # grows at every maintenance change; the highest wins

    def __post_init__(self) -> None:
        _check_int("boot_id", self.boot_id, 0)
        _check_int("seq", self.seq, 1)
        _check_int("epoch", self.epoch, 0)
        _check_int("maintenance_version", self.maintenance_version, 0)
        _check_int("ack_boot", self.ack_boot, 0)
        _check_int("ack_seq", self.ack_seq, 0)
        if not math.isfinite(self.sent_at):
            raise ValueError(f"Beat.sent_at must be a finite number, got {self.sent_at!r}")
        if not (math.isfinite(self.promise) and self.promise >= 0):
            raise ValueError(f"Beat.promise must be a finite number >= 0, got {self.promise!r}")


def _check_int(name: str, value: int, low: int) -> None:
    if not low <= value <= MAX_INT:
        raise ValueError(f"Beat.{name} must be in [{low}, 2**63-1], got {value!r}")
