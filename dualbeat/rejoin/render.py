"""The lost-writes report as a DBA reads it: a summary, then one line per row change.

The JSON file holds everything; the screen shows what decides the next step: which
transactions, which keys, and for every conflict what the active holds instead.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from dualbeat.rejoin.report import Analysis, Conflict, LostTransaction, RowChange, iso_time

_STYLE = {
    Conflict.SAFE: "green",
    Conflict.CHANGED: "bold red",
    Conflict.KEY_TAKEN: "bold red",
    Conflict.MISSING: "yellow",
    Conflict.UNCLASSIFIED: "magenta",
}
_WIDTH = 60


def _value(value: Any) -> str:
    if isinstance(value, dict):
        if "hex" in value:
            return f"x'{value['hex']}'"
        return str(value.get("raw", value))
    return json.dumps(value, ensure_ascii=False)


def _short(text: str) -> str:
    return text if len(text) <= _WIDTH else text[: _WIDTH - 1] + "…"


def _key(key: Mapping[str, Any] | None) -> str:
    if not key:
        return "?"
    return ", ".join(f"{k}={_value(v)}" for k, v in key.items())


def _diff(a: Mapping[str, Any], b: Mapping[str, Any], arrow: str) -> str:
    parts = [
        f"{col}: {_value(a.get(col))} {arrow} {_value(b.get(col))}"
        for col in a
        if col in b and a.get(col) != b.get(col)
    ]
    return "; ".join(parts)


def detail(row: RowChange) -> str:
    """What the operator needs to see for this change, in one line."""
    match row.conflict:
        case Conflict.CHANGED if row.before and row.active_row:
            text = "active has " + _diff(row.before, row.active_row, "->")
        case Conflict.KEY_TAKEN if row.active_row:
            text = "active row: " + _key(row.active_row)
        case Conflict.MISSING:
            text = "row gone from the active"
        case Conflict.UNCLASSIFIED:
            text = row.note
        case _ if row.kind == "update" and row.before and row.after:
            text = _diff(row.before, row.after, "=>")
        case _ if row.kind == "insert" and row.after:
            text = _key(row.after)
        case _:
            text = ""
    if row.follows and row.conflict is not Conflict.UNCLASSIFIED:
        text = f"(as {row.follows}) {text}"
    return _short(text)


def _summary(a: Analysis) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    grid.add_row("returning node", f"{a.node} (its own writes: origin {a.origin})")
    grid.add_row("active", a.active)
    grid.add_row(
        f"{a.node} wrote, {a.active} lacks",
        f"{a.missing_count} transaction(s): {a.missing}" if a.has_missing else "nothing",
    )
    if a.takeover:
        t = a.takeover
        at = t.get("at")
        # Shown only when it is a wall-clock time (an agent's record may hold another clock).
        when = f" at {iso_time(at)}" if isinstance(at, int | float) and at > 1e9 else ""
        grid.add_row(
            "last takeover",
            f"epoch {t.get('epoch')}: {t.get('new_active')} took over from "
            f"{t.get('old_active')}{when} ({t.get('reason')})",
        )
    counts = a.class_counts()
    classes = Text()
    for c in Conflict:
        if counts[c.value]:
            classes.append(f"{c.value} {counts[c.value]}  ", style=_STYLE[c])
    if a.transactions:
        grid.add_row("row changes", classes)
    if a.binlog_files:
        grid.add_row("binary logs read", ", ".join(a.binlog_files))
    return grid


def _class(conflict: Conflict) -> Text:
    return Text(conflict.value, style=_STYLE[conflict])


def _rows(txns: tuple[LostTransaction, ...], limit: int) -> tuple[Table, int]:
    table = Table(show_lines=False, expand=False)
    for col in ("GTID", "time (UTC)", "change", "table", "key", "class", "detail"):
        table.add_column(col, overflow="fold")
    shown = hidden = 0
    for txn in txns:
        lines = [
            (r.kind, r.table, _short(_key(r.key)), _class(r.conflict), detail(r)) for r in txn.rows
        ]
        if not txn.rows:
            lines += [
                ("statement", "", "", _class(Conflict.UNCLASSIFIED), _short(" ".join(s.split())))
                for s in txn.statements
            ]
        for i, (kind, name, key, cls, text) in enumerate(lines):
            if shown >= limit:
                hidden += 1
                continue
            first = i == 0
            when = (iso_time(txn.timestamp) or "")[:19].replace("T", " ") if first else ""
            gtid = (txn.gtid + ("" if txn.complete else " (incomplete)")) if first else ""
            table.add_row(gtid, when, kind, name, key, cls, text)
            shown += 1
    return table, hidden


def render_analysis(a: Analysis, *, limit: int = 200) -> RenderableType:
    parts: list[RenderableType] = [
        Text(f"rejoin analysis: {a.node} against the active {a.active}", style="bold"),
        _summary(a),
    ]
    for warning in a.warnings:
        parts.append(Text(f"warning: {warning}", style="yellow"))
    if a.transactions:
        table, hidden = _rows(a.transactions, limit)
        parts.append(table)
        if hidden:
            parts.append(Text(f"... {hidden} more change(s) in the saved report", style="dim"))
    elif a.has_missing:
        parts.append(Text("none of the missing transactions could be read", style="bold red"))
    else:
        parts.append(
            Text(f"{a.node} holds nothing of its own that {a.active} lacks", style="green")
        )
    return Group(*parts)
