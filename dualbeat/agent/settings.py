"""The configuration as the agent's parts take it: the decision core's ``CoreConfig`` and
the monitor's endpoint.

Why apart from ``runtime``: the tests and the tools build these for one node without an
agent, and the mapping is the one place that says which setting reaches the core.
"""

from __future__ import annotations

from dataclasses import replace

from dualbeat.config import Config, enforce_start_rules, lease_margin
from dualbeat.config.schema import DEFAULT_TIMING
from dualbeat.core.state import CoreConfig, Failback, Timing
from dualbeat.mysql.connection import Endpoint

__all__ = ["core_config", "monitor_endpoint"]


def core_config(config: Config, node: str) -> CoreConfig:
    hb, mon = config.heartbeat, config.monitor
    timing = Timing(
        keepalive=hb.keepalive,
        warntime=hb.warntime,
        deadtime=hb.deadtime,
        initdead=hb.initdead,
        alert_after=mon.alert_after,
        rise=mon.rise,
        apply_timeout=config.replication.apply_timeout,
        arp_refresh=config.vip.arp_refresh if config.vip else DEFAULT_TIMING.arp_refresh,
    )
    enforce_start_rules(config)  # the same rules ``load`` checks: a hand-built Config too
    arbiter, watchdog = config.arbiter, config.watchdog
    if arbiter is not None:
        timing = replace(timing, lease_ttl=arbiter.ttl, lease_margin=lease_margin(arbiter.ttl))
    priority = [n.name for n in config.nodes].index(node)
    fb = config.failback
    return CoreConfig(
        node=node,
        peer=config.peer_of(node).name,
        priority=priority,
        timing=timing,
        pre_promote_veto=config.hooks.pre_promote_can_veto,
        # Only the node that is not preferred (not first) ever hands back.
        failback=Failback(fb.holddown, fb.min_interval) if fb.auto and priority > 0 else None,
        arbiter=arbiter is not None,
        ping=bool(config.ping.nodes),
        fence=bool(config.fence.command),
        fence_required=config.fence.required,
        watchdog_timeout=watchdog.timeout if watchdog.enabled else 0.0,
        rejoin_auto=config.rejoin.auto,
    )


def monitor_endpoint(config: Config, node: str) -> Endpoint:
    n, mon = config.node(node), config.monitor
    return Endpoint(
        name=n.name,
        host=n.mysql_address,
        port=n.mysql_port,
        user=config.mysql.user,
        password=config.mysql.secret(),
        unix_socket=str(n.mysql_socket) if n.mysql_socket else None,
        connect_timeout=mon.connect_timeout,
        read_timeout=mon.query_timeout,
    )
