"""What a human reads: ``dualbeat status`` (both nodes side by side, links, decisions),
``dualbeat history`` (the event table) and ``dualbeat status --watch`` (the live view).

Pure functions from the agent's JSON (status answer, history records) to rich renderables,
so the three views agree and each is testable without a terminal.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from dualbeat.agent.status import AgentStatus, LeaseView
from dualbeat.core.roles import Role

_ROLE_STYLE = {
    "active": "bold green",
    "standby": "cyan",
    "fenced": "bold red",
    "starting": "yellow",
}
_CODE_STYLE = {
    "PROMOTED": "bold green",
    "DEMOTED": "yellow",
    "MAINTENANCE_ON": "bold magenta",
    "MAINTENANCE_OFF": "magenta",
    "REJOIN_REPORT": "cyan",
}
_PHASES = (
    ("detect_s", "detect"),
    ("fence_s", "fence"),
    ("apply_s", "apply"),
    ("promote_s", "promote"),
    ("vip_s", "VIP"),
    ("total_s", "total"),
)


def _yes(value: object) -> str:
    if value is None:
        return "?"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _lag(seconds: object) -> str:
    return "?" if seconds is None else f"{seconds} s"


def _seconds(value: object) -> str:
    return "-" if value is None else f"{value} s"


def _votes(lease: LeaseView) -> str:
    """The votes that keep an active writable (arbiter mode), and the ping nodes."""
    ping = "" if lease.ping_ok is None else f"; ping nodes reachable: {_yes(lease.ping_ok)}"
    if not lease.arbiter:
        return f"classic mode (no arbiter){ping}"
    key = f"held, {_seconds(lease.valid_s)} left" if lease.held else "not held"
    holder = f" (holder: {lease.holder})" if lease.holder else ""
    return (
        f"arbiter key: {key}{holder}; peer's promise: {_seconds(lease.peer_promise_s)}; "
        f"our promise: {_seconds(lease.promised_s)}{ping}"
    )


def _clock(ts: float, *, day: bool = False) -> str:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S" if day else "%H:%M:%S", time.localtime(ts))
    return f"{stamp}.{int(ts % 1 * 1000):03d}"


def _role(role: Role | str | None, unknown: str = "?") -> Text:
    """A role, styled: from a status (``Role``) or a history record (its value)."""
    name = role.value if isinstance(role, Role) else (role or unknown)
    return Text(name, style=_ROLE_STYLE.get(name, ""))


def _value(value: object) -> str:
    """An enum by its value, anything else as text (``None`` as ``?``)."""
    return "?" if value is None else str(getattr(value, "value", value))


def nodes_table(st: AgentStatus) -> Table:
    me, peer, mysql, vip = st.node, st.peer_view, st.mysql, st.vip
    nodes = Table(title=f"dualbeat {st.cluster}: seen from {me}", show_header=True)
    nodes.add_column("")
    nodes.add_column(f"{me} (this node)")
    nodes.add_column(f"{st.peer} (peer)")
    nodes.add_row("role", _role(st.role), _role(peer.role, "unheard"))
    nodes.add_row("epoch", str(st.epoch), str(peer.epoch))
    nodes.add_row("maintenance", _yes(st.maintenance), _yes(peer.maintenance))
    nodes.add_row("MySQL", mysql.health.value, _value(peer.mysql))
    nodes.add_row("writable", _yes(mysql.writable), _yes(peer.writable))
    nodes.add_row("holds VIP", _yes(vip.held), _yes(peer.vip_held))
    nodes.add_row("replicating", _yes(mysql.replicating), _yes(peer.replicating))
    nodes.add_row("lag", _lag(mysql.lag_s), _lag(peer.lag_s))
    nodes.add_row("semi-sync (source)", _yes(mysql.semisync_active), _yes(peer.semisync_active))
    nodes.add_row("executed GTIDs", mysql.executed, peer.executed or "")
    nodes.add_row(
        "heard",
        "",
        "never" if peer.silent_s is None else f"{peer.silent_s * 1000:.0f} ms ago",
    )
    nodes.add_row("peer MySQL over SQL", "", _yes(peer.sql_reachable))
    return nodes


def links_table(st: AgentStatus) -> Table:
    links = Table(title="heartbeat links")
    for col in ("link", "last heard", "sent", "received", "send errors", "dropped"):
        links.add_column(col)
    for name, link in st.links.items():
        age = "never" if link.age_s is None else f"{link.age_s * 1000:.0f} ms"
        dropped = ", ".join(f"{k}={v}" for k, v in sorted(link.dropped.items())) or "-"
        links.add_row(name, age, str(link.sent), str(link.received), str(link.send_errors), dropped)
    return links


def _banners(st: AgentStatus) -> list[Text]:
    vip = st.vip
    parts = []
    if st.maintenance:
        parts.append(
            Text(
                "MAINTENANCE MODE: automation paused on both nodes (no failover, no demotion, "
                "no fencing); `dualbeat maintenance off` resumes",
                style="bold magenta",
            )
        )
    if st.fenced_reason:
        parts.append(Text(f"FENCED: {st.fenced_reason}", style="bold red"))
    last = st.rejoin.last
    if last:
        parts.append(
            Text(
                f"automatic rejoin ([rejoin] auto = {st.rejoin.auto}): {last.get('code')} "
                f"at {_clock(float(last.get('ts', 0)), day=True)}: {last.get('text', '')}",
                style="bold cyan",
            )
        )
    finding = "" if st.finding is None else st.finding.value
    parts.append(Text(f"finding: {finding}; VIP {vip.address} (carrier {_yes(vip.carrier)})"))
    parts.append(Text(_votes(st.lease)))
    return parts


def render_status(st: AgentStatus) -> Group:
    events = events_table(st.recent, title="recent decisions")
    return Group(nodes_table(st), *_banners(st), links_table(st), events)


def detail(event: Mapping[str, Any]) -> str:
    """The evidence worth a glance: phase timings, a fence time, a report path."""
    evidence = event.get("evidence") or {}
    if not isinstance(evidence, Mapping):
        return ""
    if event.get("code") == "PROMOTED":
        return ", ".join(
            f"{label} {evidence[key]:.3f} s"
            for key, label in _PHASES
            if isinstance(evidence.get(key), int | float)
        )
    if "fence_s" in evidence:
        return f"fence {evidence['fence_s']:.3f} s"
    if "report" in evidence:
        return f"report {evidence['report']}"
    return ""


def events_table(
    events: Sequence[Mapping[str, Any]], *, title: str, day: bool = False, nodes: bool = False
) -> Table:
    table = Table(title=title)
    columns = ["time", *(["node", "role", "epoch"] if nodes else []), "code", "text"]
    for col in columns:
        table.add_column(col, overflow="fold", no_wrap=col == "time")
    for event in events:
        code = str(event.get("code", "?"))
        text = str(event.get("text", ""))
        if extra := detail(event):
            text += f" ({extra})"
        cells: list[str | Text] = [_clock(float(event["ts"]), day=day)]
        if nodes:
            cells += [str(event.get("node")), _role(event.get("role")), str(event.get("epoch"))]
        table.add_row(*cells, Text(code, style=_CODE_STYLE.get(code, "")), Text(text))
    return table


def render_history(events: Sequence[Mapping[str, Any]], source: str) -> Table:
    return events_table(events, title=f"history of {source}", day=True, nodes=True)


def render_watch(
    node: str,
    status: AgentStatus | None,
    error: str,
    events: Sequence[Mapping[str, Any]],
    *,
    interval: float,
    now: float,
) -> Group:
    """One frame of ``status --watch``: the agent's view, or why there is none, and the
    latest events from the node's own history file (readable with the agent down)."""
    header = Text(
        f"dualbeat status --watch on {node}: {_clock(now)}, every {interval:g} s (Ctrl-C quits)",
        style="dim",
    )
    if status is None:
        body: list[Any] = [
            Panel(
                Text(f"agent unreachable: {error}", style="bold red"),
                title=f"{node}: no answer",
                border_style="red",
            )
        ]
    else:
        body = [nodes_table(status), *_banners(status), links_table(status)]
    return Group(header, *body, events_table(events, title=f"latest events on {node}"))
