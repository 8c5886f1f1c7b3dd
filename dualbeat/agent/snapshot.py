"""Building an ``AgentStatus`` from the agent's state: what ``Agent.status()`` returns.

Apart from the runtime so that the event loop's module stays about the loop; a pure
function of the state and the few facts the state does not hold (names, link counters,
the last probe's latency, the recent decisions, the time now on the agent's clock, the
boot-time one of ``agent.clock``, which also counts a suspend)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dualbeat.agent import statefile
from dualbeat.agent.status import (
    AgentStatus,
    FailbackView,
    LeaseView,
    LinkView,
    MysqlView,
    PeerView,
    RejoinView,
    VipView,
)
from dualbeat.core.state import NodeState
from dualbeat.heartbeat.link import LinkStats


@dataclass(frozen=True)
class View:
    """What the status says that the node's state does not hold: fixed at start."""

    node: str
    peer: str
    cluster: str
    vip: str | None
    arbiter: bool
    auto_failback: bool
    rejoin_auto: str = "internal"


def snapshot(
    s: NodeState,
    view: View,
    *,
    links: Mapping[str, LinkStats],
    probe_latency: float | None,
    recent: list[dict[str, Any]],
    now: float,
    last_auto_rejoin: dict[str, Any] | None = None,
) -> AgentStatus:
    p, beat = s.peer, s.peer.beat
    silent = None if p.heard_at is None else round(now - p.heard_at, 3)
    takeover = statefile.to_json(s.durable)["last_takeover"]
    return AgentStatus(
        node=view.node,
        peer=view.peer,
        cluster=view.cluster,
        role=s.role,
        epoch=s.durable.epoch,
        finding=s.finding,
        fenced_reason=s.durable.fenced_reason,
        promoting=s.promotion is not None,
        yielding=s.yielding,
        failback=FailbackView(
            auto=view.auto_failback,
            ready_for_s=(
                None if s.failback_ready_since is None else round(now - s.failback_ready_since, 3)
            ),
            last_at=s.durable.last_failback_at,
        ),
        maintenance=s.durable.maintenance,
        mysql=MysqlView(
            health=s.local.health,
            writable=s.local.writable,
            replicating=s.local.replicating,
            lag_s=s.local.lag,
            executed=str(s.local.executed or ""),
            received=str(s.local.received or ""),
            semisync_active=s.local.semisync_active,
            detail=s.local.last_detail,
            probe_latency_s=probe_latency,
        ),
        vip=VipView(address=view.vip, held=s.vip_held, carrier=s.carrier),
        peer_view=PeerView(silent_s=silent, sql_reachable=p.sql_reachable)
        if beat is None
        else PeerView(
            role=beat.role,
            epoch=beat.epoch,
            mysql=beat.mysql,
            writable=beat.writable,
            vip_held=beat.vip_held,
            replicating=beat.replicating,
            lag_s=beat.lag,
            semisync_active=beat.semisync,
            maintenance=beat.maintenance,
            executed=str(beat.executed or ""),
            silent_s=silent,
            sql_reachable=p.sql_reachable,
        ),
        links={
            name: LinkView(
                age_s=None if st.last_received is None else round(now - st.last_received, 3),
                sent=st.sent,
                received=st.received,
                send_errors=st.send_errors,
                dropped={r.value: n for r, n in st.dropped.items()},
            )
            for name, st in links.items()
        },
        last_takeover=takeover if isinstance(takeover, dict) else None,
        lease=_lease(s, view, now),
        recent=recent,
        rejoin=RejoinView(view.rejoin_auto, s.auto_rejoin_tries, last_auto_rejoin),
    )


def _lease(s: NodeState, view: View, now: float) -> LeaseView:
    """The votes: the arbiter key, the peer's promise, ours, the ping nodes."""
    ev, p = s.evidence, s.peer
    return LeaseView(
        arbiter=view.arbiter,
        held=ev.lease is not None,
        valid_s=None if ev.lease is None else round(ev.lease.valid_until - now, 3),
        holder=ev.holder,
        peer_promise_s=None if p.promise_until is None else round(p.promise_until - now, 3),
        promised_s=round(ev.promised_until - now, 3) if ev.promising else None,
        ping_ok=ev.ping_ok,
        high_water=str(s.high_water) if s.high_water is not None else "",
    )
