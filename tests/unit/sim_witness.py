"""The simulator's arbiter: a lease store on the world clock with the etcd arbiter's
rules (``dualbeat.arbiter``), answering the core's lease actions as the agent's lease
worker would. The network (loss, partitions, an arbiter that is down) is the world's.

Like etcd, it keeps two things: the leased key, which a release or an expiry deletes,
and the floor (``dualbeat.arbiter.Floor``), the highest epoch it ever granted, which
nothing deletes. A refusal names the holder and the highest epoch known, as the lease
worker's ``view()`` after a refused ``acquire`` does.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from dualbeat.arbiter import Floor
from dualbeat.core.actions import AcquireLease, ReleaseLease, RenewLease
from dualbeat.core.observations import ActionDone, LeaseAnswered, Observation


@dataclass(frozen=True)
class Lease:
    holder: str
    epoch: int
    expires: float


class Witness:
    def __init__(self) -> None:
        self.lease: Lease | None = None
        self.floor: Floor | None = None

    def answer(
        self, node: str, action: AcquireLease | RenewLease | ReleaseLease, sent: float, ttl: float
    ) -> Observation:
        """The answer to ``action`` from ``node``, sent at ``sent``: a lease counts from
        the send, so ``valid_until`` is conservative for the holder."""
        lease = self.lease if self.lease and self.lease.expires > sent else None
        match action:
            case AcquireLease(epoch=epoch):
                free = lease is None or lease.holder == node
                if free and (self.floor is None or self.floor.admits(node, epoch)):
                    self.lease = Lease(node, epoch, sent + ttl)
                    self.floor = Floor(node, epoch)  # admitted: never below the old one
                    return LeaseAnswered(action, sent + ttl)
                # Every grant raised the floor: it is the highest epoch known, held or not.
                floor = self.floor.epoch if self.floor else None
                return LeaseAnswered(action, None, lease.holder if lease else None, floor)
            case RenewLease():
                if lease is not None and lease.holder == node:
                    self.lease = replace(lease, expires=sent + ttl)
                    return LeaseAnswered(action, sent + ttl)
                return LeaseAnswered(action, None)
            case ReleaseLease():
                if lease is not None and lease.holder == node:
                    self.lease = None
                return ActionDone(action)
