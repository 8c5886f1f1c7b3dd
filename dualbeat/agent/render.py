"""``dualbeat status`` as a human reads it: both nodes side by side, then links and events."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

_ROLE_STYLE = {
    "active": "bold green",
    "standby": "cyan",
    "fenced": "bold red",
    "starting": "yellow",
}


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


def _votes(lease: dict[str, Any]) -> str:
    """The votes that keep an active writable (arbiter mode), and the ping nodes."""
    ping = (
        "" if lease.get("ping_ok") is None else f"; ping nodes reachable: {_yes(lease['ping_ok'])}"
    )
    if not lease.get("arbiter"):
        return f"classic mode (no arbiter){ping}"
    key = f"held, {_seconds(lease['valid_s'])} left" if lease["held"] else "not held"
    holder = f" (holder: {lease['holder']})" if lease.get("holder") else ""
    return (
        f"arbiter key: {key}{holder}; peer's promise: {_seconds(lease['peer_promise_s'])}; "
        f"our promise: {_seconds(lease['promised_s'])}{ping}"
    )


def render_status(st: dict[str, Any]) -> Group:
    me, peer, mysql, vip = st["node"], st["peer_view"], st["mysql"], st["vip"]
    nodes = Table(title=f"dualbeat {st['cluster']}: seen from {me}", show_header=True)
    nodes.add_column("")
    nodes.add_column(f"{me} (this node)")
    nodes.add_column(f"{st['peer']} (peer)")
    role = Text(st["role"], style=_ROLE_STYLE.get(st["role"], ""))
    peer_role = Text(peer["role"] or "unheard", style=_ROLE_STYLE.get(peer["role"] or "", ""))
    nodes.add_row("role", role, peer_role)
    nodes.add_row("epoch", str(st["epoch"]), str(peer["epoch"]))
    nodes.add_row("MySQL", mysql["health"], str(peer["mysql"]))
    nodes.add_row("writable", _yes(mysql["writable"]), _yes(peer["writable"]))
    nodes.add_row("holds VIP", _yes(vip["held"]), _yes(peer["vip_held"]))
    nodes.add_row("replicating", _yes(mysql["replicating"]), _yes(peer["replicating"]))
    nodes.add_row("lag", _lag(mysql["lag_s"]), _lag(peer["lag_s"]))
    nodes.add_row(
        "semi-sync (source)", _yes(mysql["semisync_active"]), _yes(peer["semisync_active"])
    )
    nodes.add_row("executed GTIDs", mysql["executed"], peer["executed"] or "")
    nodes.add_row(
        "heard",
        "",
        "never" if peer["silent_s"] is None else f"{peer['silent_s'] * 1000:.0f} ms ago",
    )
    nodes.add_row("peer MySQL over SQL", "", _yes(peer["sql_reachable"]))
    parts: list[Any] = [nodes]
    if st["fenced_reason"]:
        parts.append(Text(f"FENCED: {st['fenced_reason']}", style="bold red"))
    parts.append(
        Text(f"finding: {st['finding']}; VIP {vip['address']} (carrier {_yes(vip['carrier'])})")
    )
    parts.append(Text(_votes(st.get("lease") or {})))
    links = Table(title="heartbeat links")
    for col in ("link", "last heard", "sent", "received", "send errors", "dropped"):
        links.add_column(col)
    for name, link in st["links"].items():
        age = "never" if link["age_s"] is None else f"{link['age_s'] * 1000:.0f} ms"
        dropped = ", ".join(f"{k}={v}" for k, v in sorted(link["dropped"].items())) or "-"
        links.add_row(
            name, age, str(link["sent"]), str(link["received"]), str(link["send_errors"]), dropped
        )
    parts.append(links)
    events = Table(title="recent decisions")
    for col in ("time", "code", "text"):
        events.add_column(col, overflow="fold")
    for event in st["recent"]:
        at = (
            time.strftime("%H:%M:%S", time.localtime(event["ts"]))
            + f".{int(event['ts'] % 1 * 1000):03d}"
        )
        events.add_row(at, event["code"], event["text"])
    parts.append(events)
    return Group(*parts)
