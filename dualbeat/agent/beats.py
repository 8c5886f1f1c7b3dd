"""Translation between the core's state and the wire: our Beat out, the peer's PeerBeat in.

The lease promise crosses here (see ``dualbeat.core.lease``): our beat echoes the peer's
highest beat and promises ``promise`` seconds from its receipt; the peer's promise is
anchored on our own send time of the beat it echoes, kept in ``SentTimes``.

The peer's GTID texts are parsed through a small cache: on an idle pair they come back
unchanged beat after beat, and parsing them was the biggest part of handling a beat
(GTID sets are immutable, so one parsed set serves every beat that carries its text).
"""

from __future__ import annotations

import functools
import time
from collections import OrderedDict

from dualbeat.core.advertise import advert
from dualbeat.core.gtid import GtidSet, parse_reported
from dualbeat.core.observations import PeerBeat
from dualbeat.core.state import NodeState
from dualbeat.heartbeat.message import Beat


class SentTimes:
    """Our monotonic send time per beat sequence number (the last ``keep`` beats): enough
    to anchor any promise still worth having (a promise on an older beat has ended)."""

    def __init__(self, keep: int = 256) -> None:
        self.keep = keep
        self._times: OrderedDict[int, float] = OrderedDict()

    def sent(self, seq: int, at: float) -> None:
        self._times[seq] = at
        while len(self._times) > self.keep:
            self._times.popitem(last=False)

    def promise_until(self, beat: Beat, boot_id: int) -> float | None:
        """Until when (our clock) ``beat`` promises that its sender will not take over."""
        if beat.promise <= 0 or beat.ack_boot != boot_id:
            return None
        sent = self._times.get(beat.ack_seq)
        return None if sent is None else sent + beat.promise


def outgoing(cluster: str, node: str, state: NodeState, seq: int, promise: float = 0.0) -> Beat:
    """Our heartbeat: role, epoch and positions as ``core.advertise`` says (a demoting
    node still says ``active``, a promoting one what it was). ``promise`` goes out only
    while the core says we promise."""
    local, ad = state.local, advert(state)
    return Beat(
        cluster=cluster,
        node=node,
        boot_id=state.boot_id,
        seq=seq,
        sent_at=time.time(),
        epoch=ad.epoch,
        role=ad.role,
        mysql=local.health,
        executed=str(ad.executed) if ad.executed is not None else "",
        received=str(ad.received) if ad.received is not None else "",
        vip_held=bool(state.vip_held),
        writable=ad.writable,
        yielding=ad.yielding,
        maintenance=state.durable.maintenance,
        maintenance_version=state.durable.maintenance_version,
        promise=promise if state.evidence.promising else 0.0,
        ack_boot=state.peer.beat.boot_id if state.peer.beat is not None else 0,
        ack_seq=state.peer.seq,
        wants_takeover=state.wants_takeover,
        final=str(state.final_executed) if state.yielding and state.final_executed else "",
        replicating=bool(local.replicating),
        lag=-1 if local.lag is None else local.lag,
        semisync=bool(local.semisync_active),
    )


@functools.lru_cache(maxsize=8)
def _gtids(text: str, family: str | None) -> GtidSet | None:
    return parse_reported(text, family)


def incoming(
    beat: Beat, family: str | None, promise_until: float | None = None, *, our_boot: int
) -> PeerBeat:
    """The peer's beat as the core sees it; GTID text is parsed in our server's family.

    A yield counts only when the beat echoes ``our_boot``: the peer sent it after hearing
    this boot of ours. After our restart the replay window is empty and would accept a
    captured "yielding" beat of the peer's current boot; acting on it would promote us
    beside a live active."""
    return PeerBeat(
        node=beat.node,
        boot_id=beat.boot_id,
        epoch=beat.epoch,
        role=beat.role,
        mysql=beat.mysql,
        writable=beat.writable,
        vip_held=beat.vip_held,
        yielding=beat.yielding and beat.ack_boot == our_boot,
        executed=_gtids(beat.executed, family),
        received=_gtids(beat.received, family),
        wants_takeover=beat.wants_takeover,
        final=_gtids(beat.final, family),
        replicating=beat.replicating,
        lag=None if beat.lag < 0 else beat.lag,
        semisync=beat.semisync,
        maintenance=beat.maintenance,
        maintenance_version=beat.maintenance_version,
        seq=beat.seq,
        promise_until=promise_until,
    )
