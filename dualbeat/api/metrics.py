"""Prometheus metrics of one agent, served at ``/metrics``.

Why prometheus-client: it is the reference client, renders the text format correctly
(escaping, ``_total``/``_bucket`` suffixes, HELP/TYPE) and offers custom collectors.

Two kinds of figures. Those that mirror the agent's current state (role, epoch,
heartbeat age per link, drops, probe latency, lag, semi-sync) are read from
``Agent.status()`` at scrape time by a collector, so they can never drift from what
``dualbeat status`` shows. Those that count events (failovers, switchovers, decisions,
phase durations) are fed each decision record as the agent writes it to its event log:
the phases come from the ``PROMOTED`` reason's evidence, which the core computes from its
own clock (detect: last sign of life to decision; apply: relay log applied; promote_vip:
epoch, writable, VIP; total).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from dualbeat.agent.status import AgentStatus
from dualbeat.core.findings import Finding
from dualbeat.core.roles import Health, Role
from dualbeat.heartbeat.codec import DropReason

#: Findings whose promotion replaces a failed or unreachable active.
FAILOVER_FINDINGS = {Finding.PEER_DEAD.value, Finding.TAKEOVER_NOW.value}
#: Phase label -> evidence key of the PROMOTED record (fence: of the DEMOTED record, on
#: the node that left the active role). Keys a version of the core lacks are skipped.
PHASES = {
    "detect": "detect_s",
    "apply": "apply_s",
    "promote": "promote_s",
    "vip": "vip_s",
    "promote_vip": "promote_vip_s",
    "total": "total_s",
}
FENCE = ("DEMOTED", "fence_s")
_BUCKETS = (0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0)


def promotion_kind(record: dict[str, Any]) -> str | None:
    """``failover``, ``switchover`` or None (an election at start-up) for a PROMOTED
    record. A yield without a final position is the old active giving up after its own
    MySQL failed: a failover too."""
    if record.get("code") != "PROMOTED":
        return None
    evidence = record.get("evidence") or {}
    if evidence.get("planned"):
        return "switchover"
    finding = evidence.get("finding")
    if finding in FAILOVER_FINDINGS or finding == Finding.PEER_YIELDED.value:
        return "failover"
    return None


class AgentMetrics:
    """The registry of one agent; ``observe`` takes each decision record."""

    def __init__(self, status: Callable[[], AgentStatus]) -> None:
        self.registry = CollectorRegistry()
        self.decisions = Counter(
            "dualbeat_decisions",
            "Decision reasons recorded, by reason code.",
            ["code"],
            registry=self.registry,
        )
        self.failovers = Counter(
            "dualbeat_failovers", "Promotions of this node after a failure.", registry=self.registry
        )
        self.switchovers = Counter(
            "dualbeat_switchovers",
            "Promotions of this node by a planned, lossless switchover.",
            registry=self.registry,
        )
        self.phases = Histogram(
            "dualbeat_failover_phase_seconds",
            "Duration of each phase of a takeover by this node (detect, apply, promote_vip, "
            "total), as timed by the core.",
            ["phase"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        for phase in (*PHASES, "fence"):
            self.phases.labels(phase)
        self.registry.register(_StatusCollector(status))

    def observe(self, record: dict[str, Any]) -> None:
        self.decisions.labels(str(record.get("code"))).inc()
        evidence = record.get("evidence") or {}
        if record.get("code") == FENCE[0] and isinstance(evidence.get(FENCE[1]), int | float):
            self.phases.labels("fence").observe(float(evidence[FENCE[1]]))
        kind = promotion_kind(record)
        if kind is None:
            return
        (self.failovers if kind == "failover" else self.switchovers).inc()
        for phase, key in PHASES.items():
            value = evidence.get(key)
            if isinstance(value, int | float):
                self.phases.labels(phase).observe(float(value))


def _number(value: object) -> float:
    """A gauge value: NaN for unknown, as Prometheus expects."""
    if value is None:
        return math.nan
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return float(value)
    return math.nan


class _StatusCollector(Collector):
    def __init__(self, status: Callable[[], AgentStatus]) -> None:
        self.status = status

    def collect(self) -> Iterator[Metric]:
        s = self.status()
        role = GaugeMetricFamily(
            "dualbeat_role", "1 for the role this node holds.", labels=["role"]
        )
        for r in Role:
            role.add_metric([r.value], 1.0 if s.role is r else 0.0)
        yield role
        yield GaugeMetricFamily("dualbeat_epoch", "This node's epoch.", value=s.epoch)
        m, vip = s.mysql, s.vip
        gauges = {
            "dualbeat_mysql_healthy": (
                "1 when the local MySQL is healthy.",
                m.health is Health.HEALTHY,
            ),
            "dualbeat_mysql_writable": ("1 when the local MySQL is writable.", m.writable),
            "dualbeat_replicating": ("1 when both replica threads run.", m.replicating),
            "dualbeat_replication_lag_seconds": ("Seconds behind the source.", m.lag_s),
            "dualbeat_semisync_active": (
                "1 while commits wait for a semi-sync acknowledgement.",
                m.semisync_active,
            ),
            "dualbeat_monitor_probe_latency_seconds": (
                "Duration of the last probe of the local MySQL.",
                m.probe_latency_s,
            ),
            "dualbeat_vip_held": ("1 when this node holds the VIP.", vip.held),
            "dualbeat_peer_silent_seconds": (
                "Seconds since the peer's last heartbeat on any link.",
                s.peer_view.silent_s,
            ),
        }
        for name, (doc, value) in gauges.items():
            yield GaugeMetricFamily(name, doc, value=_number(value))
        age = GaugeMetricFamily(
            "dualbeat_heartbeat_age_seconds",
            "Seconds since the last authenticated heartbeat on each link.",
            labels=["link"],
        )
        sent = CounterMetricFamily(
            "dualbeat_heartbeat_sent", "Heartbeats sent per link.", labels=["link"]
        )
        received = CounterMetricFamily(
            "dualbeat_heartbeat_received", "Datagrams read per link.", labels=["link"]
        )
        dropped = CounterMetricFamily(
            "dualbeat_heartbeat_dropped",
            "Datagrams dropped per link and reason (bad_signature: wrong key or forged).",
            labels=["link", "reason"],
        )
        for link, st in sorted(s.links.items()):
            age.add_metric([link], _number(st.age_s))
            sent.add_metric([link], st.sent)
            received.add_metric([link], st.received)
            for reason in DropReason:
                dropped.add_metric([link, reason.value], st.dropped.get(reason.value, 0))
        yield from (age, sent, received, dropped)
