"""Translation between the core's state and the wire: our Beat out, the peer's PeerBeat in."""

from __future__ import annotations

import time

from dualbeat.core.gtid import parse_reported
from dualbeat.core.observations import PeerBeat
from dualbeat.core.roles import Health, Role
from dualbeat.core.state import NodeState
from dualbeat.heartbeat.message import Beat


def outgoing(cluster: str, node: str, state: NodeState, seq: int) -> Beat:
    """Our heartbeat. A demoting node still says ``active`` and announces ``yielding``
    only once its VIP is released, so the peer never takes over while clients can still
    reach this node."""
    local = state.local
    return Beat(
        cluster=cluster,
        node=node,
        boot_id=state.boot_id,
        seq=seq,
        sent_at=time.time(),
        epoch=state.durable.epoch,
        role=Role.ACTIVE if state.demoting else state.role,
        mysql=local.health,
        executed=str(local.executed) if local.executed is not None else "",
        received=str(local.received) if local.received is not None else "",
        vip_held=bool(state.vip_held),
        # A failed server's last known state is stale: never advertise it as writable.
        writable=bool(local.writable) and local.health is not Health.FAILED,
        yielding=state.yielding and not state.demoting,
        maintenance=state.durable.maintenance,
        maintenance_version=state.durable.maintenance_version,
        promise_until=0.0,
        wants_takeover=state.wants_takeover,
        final=str(state.final_executed) if state.yielding and state.final_executed else "",
        replicating=bool(local.replicating),
        lag=-1 if local.lag is None else local.lag,
        semisync=bool(local.semisync_active),
    )


def incoming(beat: Beat, family: str | None) -> PeerBeat:
    """The peer's beat as the core sees it; GTID text is parsed in our server's family."""
    return PeerBeat(
        node=beat.node,
        boot_id=beat.boot_id,
        epoch=beat.epoch,
        role=beat.role,
        mysql=beat.mysql,
        writable=beat.writable,
        vip_held=beat.vip_held,
        yielding=beat.yielding,
        executed=parse_reported(beat.executed, family),
        received=parse_reported(beat.received, family),
        wants_takeover=beat.wants_takeover,
        final=parse_reported(beat.final, family),
        replicating=beat.replicating,
        lag=None if beat.lag < 0 else beat.lag,
        semisync=beat.semisync,
        maintenance=beat.maintenance,
        maintenance_version=beat.maintenance_version,
    )
