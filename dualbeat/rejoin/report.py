"""The lost-writes report: what a node wrote that the active lacks, row by row, classified.

Pure data and pure decisions: ``Classifier`` takes a lookup callable (the active's row for
a primary key), so the classes are unit-tested with a dict; ``Analysis`` has a versioned
JSON form that ``dualbeat rejoin --reapply/--discard/--accept`` and ``history`` read back
(``Analysis.from_json``), so those steps act on what the operator reviewed.

Conflict class of a row change, decided against the active *now*:

    safe                UPDATE/DELETE: the active's row equals the before image (nobody
                        touched it since); INSERT: the key is free on the active.
                        Re-applying it is exactly what the lost transaction did.
    conflict_changed    UPDATE/DELETE: the active's row differs from the before image:
                        it changed on the active since.
    conflict_key_taken  INSERT (or an UPDATE moving the key) whose key exists on the active.
    conflict_missing    UPDATE/DELETE of a row the active no longer has.
    unclassified        cannot be decided: no primary key, the table is missing or differs
                        on the active, or the key has a type that cannot be compared.

A row touched again by a later lost change (insert then update, delete then re-insert)
inherits the class of its *first* lost change (``follows`` names that transaction): the
chain as a whole is safe exactly when its start is.

JSON schema (``kind`` "dualbeat.rejoin.analysis", ``version`` 1)::

    {
      "kind": "dualbeat.rejoin.analysis", "version": 1,
      "cluster": str, "node": str (the returning node), "active": str,
      "flavor": "mariadb" | "mysql",
      "created_at": float (Unix s), "created": str (ISO 8601 UTC),
      "origin": str (node's server_id / server_uuid: whose writes count as its own),
      "node_executed": GTID set, "active_executed": GTID set,
      "missing": GTID set (node's own transactions the active lacks: analysed),
      "missing_count": int,
      "other_missing": GTID set (on the node, not on the active, not written by it),
      "unread": GTID set (part of "missing" no binary log holds any more),
      "binlog_files": [str], "tool": str,
      "takeover": object | null (the active's dualbeat.epoch takeover record),
      "tables": {"db.t": {"columns": [{"name", "position", "data_type",
                  "column_type", "charset"}], "primary_key": [str], "note": str}},
      "summary": {"transactions": int, "rows": int, "statements": int,
                  "classes": {class: int}},
      "warnings": [str],
      "transactions": [{
        "gtid": str, "server_id": int | null, "timestamp": float | null,
        "time": str | null, "binlog_file": str, "position": int | null,
        "complete": bool, "tables": [str],
        "statements": [str] (original SQL from the log's annotations, DDL, or
                             statement-logged DML),
        "classes": [class],
        "rows": [{"table": "db.t", "kind": "insert" | "update" | "delete",
                  "key": {col: value} | null, "before": {col: value} | null,
                  "after": {col: value} | null, "class": class,
                  "active_row": {col: value} | null, "note": str,
                  "follows": gtid | null}]
      }]
    }

Values are JSON scalars or ``{"hex": ...}`` / ``{"raw": ...}`` (``dualbeat.mysql.binlog.values``).
Images carry every column (``binlog_row_image=FULL``); a column the log did not name is
keyed ``@N``.
"""

from __future__ import annotations

import enum
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Analysis",
    "Classifier",
    "Conflict",
    "LostTransaction",
    "RowChange",
    "Verdict",
    "iso_time",
    "same_row",
]

KIND = "dualbeat.rejoin.analysis"
VERSION = 1

Value = Any  # dualbeat.mysql.binlog.values.Value; kept loose here: the report is plain JSON data
Image = dict[str, Value]
Lookup = Callable[[str, Mapping[str, Value]], Image | None]


class Conflict(enum.Enum):
    SAFE = "safe"
    CHANGED = "conflict_changed"
    KEY_TAKEN = "conflict_key_taken"
    MISSING = "conflict_missing"
    UNCLASSIFIED = "unclassified"


def _comparable(value: Value) -> bool:
    return not (isinstance(value, dict) and "raw" in value)


def same_row(image: Mapping[str, Value], row: Mapping[str, Value]) -> bool:
    """True when ``row`` holds ``image``'s value in every column both can compare."""
    for column, value in image.items():
        if column not in row:
            return False
        if _comparable(value) and _comparable(row[column]) and value != row[column]:
            return False
    return True


def _key_id(table: str, key: Mapping[str, Value]) -> str:
    return table + "\0" + json.dumps(key, sort_keys=True, default=str)


@dataclass(frozen=True)
class Verdict:
    conflict: Conflict
    active_row: Image | None = None
    note: str = ""
    follows: str | None = None


class Classifier:
    """Classifies row changes in log order, remembering which rows lost changes touched.

    ``lookup(table, key)`` returns the active's current row for a primary key (canonical
    values) or None; it is called at most twice per change. ``reapplied``: transactions
    an interrupted run of the same rejoin already re-applied on the active (its marker
    rows say so): the active holds their result, so they and what follows them count as
    safe instead of as conflicts with themselves."""

    def __init__(self, lookup: Lookup, reapplied: frozenset[str] = frozenset()) -> None:
        self._lookup = lookup
        self._reapplied = reapplied
        self._touched: dict[str, tuple[Conflict, str]] = {}

    def classify(
        self,
        gtid: str,
        table: str,
        kind: str,
        key_before: Mapping[str, Value] | None,
        key_after: Mapping[str, Value] | None,
        before: Image | None,
    ) -> Verdict:
        """The verdict on one change; ``key_before`` is the before image's primary key
        (UPDATE/DELETE), ``key_after`` the after image's (INSERT/UPDATE)."""
        first = key_after if kind == "insert" else key_before
        if first is None:
            raise ValueError(f"{kind} of {table} in {gtid} without a key")
        ident = _key_id(table, first)
        if gtid in self._reapplied:
            verdict = Verdict(Conflict.SAFE, note="re-applied on the active by an earlier run")
        elif ident in self._touched:
            conflict, origin = self._touched[ident]
            verdict = Verdict(conflict, note="follows an earlier lost change", follows=origin)
        else:
            verdict = self._first_touch(table, kind, first, before)
        if kind == "update" and key_after is not None and dict(key_after) != dict(first):
            moved = _key_id(table, key_after)
            if moved not in self._touched and verdict.conflict is Conflict.SAFE:
                taken = self._lookup(table, key_after)
                if taken is not None:
                    verdict = Verdict(
                        Conflict.KEY_TAKEN, taken, "the new primary key exists on the active"
                    )
            self._touched.setdefault(moved, (verdict.conflict, gtid))
        self._touched.setdefault(ident, (verdict.conflict, gtid))
        return verdict

    def _first_touch(
        self, table: str, kind: str, key: Mapping[str, Value], before: Image | None
    ) -> Verdict:
        row = self._lookup(table, key)
        if kind == "insert":
            return Verdict(Conflict.SAFE) if row is None else Verdict(Conflict.KEY_TAKEN, row)
        if row is None:
            return Verdict(Conflict.MISSING)
        if before is not None and same_row(before, row):
            return Verdict(Conflict.SAFE, row)
        return Verdict(Conflict.CHANGED, row)


@dataclass(frozen=True)
class RowChange:
    table: str
    kind: str  # insert | update | delete
    key: Image | None
    before: Image | None
    after: Image | None
    conflict: Conflict
    active_row: Image | None = None
    note: str = ""
    follows: str | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "table": self.table,
            "kind": self.kind,
            "key": self.key,
            "before": self.before,
            "after": self.after,
            "class": self.conflict.value,
            "active_row": self.active_row,
            "note": self.note,
            "follows": self.follows,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> RowChange:
        return cls(
            table=str(d["table"]),
            kind=str(d["kind"]),
            key=d.get("key"),
            before=d.get("before"),
            after=d.get("after"),
            conflict=Conflict(d["class"]),
            active_row=d.get("active_row"),
            note=str(d.get("note", "")),
            follows=d.get("follows"),
        )


def iso_time(ts: float | None) -> str | None:
    if ts is None:
        return None
    whole = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts))
    micros = round((ts - int(ts)) * 1_000_000)
    return f"{whole}.{micros:06d}Z" if micros else f"{whole}Z"


@dataclass(frozen=True)
class LostTransaction:
    gtid: str
    server_id: int | None
    timestamp: float | None
    binlog_file: str
    position: int | None
    complete: bool
    statements: tuple[str, ...] = ()
    rows: tuple[RowChange, ...] = ()

    @property
    def tables(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(r.table for r in self.rows))

    @property
    def classes(self) -> tuple[Conflict, ...]:
        """The distinct classes of its rows, in ``Conflict`` order; a transaction with
        statements but no row events (DDL, statement-logged DML) is unclassified."""
        found = {r.conflict for r in self.rows}
        if not self.rows:
            found.add(Conflict.UNCLASSIFIED)
        return tuple(c for c in Conflict if c in found)

    def to_json(self) -> dict[str, object]:
        return {
            "gtid": self.gtid,
            "server_id": self.server_id,
            "timestamp": self.timestamp,
            "time": iso_time(self.timestamp),
            "binlog_file": self.binlog_file,
            "position": self.position,
            "complete": self.complete,
            "tables": list(self.tables),
            "statements": list(self.statements),
            "classes": [c.value for c in self.classes],
            "rows": [r.to_json() for r in self.rows],
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> LostTransaction:
        return cls(
            gtid=str(d["gtid"]),
            server_id=d.get("server_id"),
            timestamp=d.get("timestamp"),
            binlog_file=str(d.get("binlog_file", "")),
            position=d.get("position"),
            complete=bool(d.get("complete", False)),
            statements=tuple(d.get("statements", ())),
            rows=tuple(RowChange.from_json(r) for r in d.get("rows", ())),
        )


@dataclass(frozen=True)
class Analysis:
    """One analysis of ``node`` against ``active`` (see the module docstring's schema)."""

    cluster: str
    node: str
    active: str
    flavor: str
    created_at: float
    origin: str
    node_executed: str
    active_executed: str
    missing: str
    missing_count: int
    other_missing: str = ""
    unread: str = ""
    binlog_files: tuple[str, ...] = ()
    tool: str = ""
    takeover: dict[str, Any] | None = None
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)
    transactions: tuple[LostTransaction, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def has_missing(self) -> bool:
        """Does the node hold transactions of its own that the active lacks?"""
        return self.missing_count > 0

    def class_counts(self) -> dict[str, int]:
        counts = {c.value: 0 for c in Conflict}
        for txn in self.transactions:
            for row in txn.rows:
                counts[row.conflict.value] += 1
        return counts

    def summary(self) -> dict[str, object]:
        return {
            "transactions": len(self.transactions),
            "rows": sum(len(t.rows) for t in self.transactions),
            "statements": sum(len(t.statements) for t in self.transactions if not t.rows),
            "classes": self.class_counts(),
        }

    def to_json(self) -> dict[str, object]:
        return {
            "kind": KIND,
            "version": VERSION,
            "cluster": self.cluster,
            "node": self.node,
            "active": self.active,
            "flavor": self.flavor,
            "created_at": self.created_at,
            "created": iso_time(self.created_at),
            "origin": self.origin,
            "node_executed": self.node_executed,
            "active_executed": self.active_executed,
            "missing": self.missing,
            "missing_count": self.missing_count,
            "other_missing": self.other_missing,
            "unread": self.unread,
            "binlog_files": list(self.binlog_files),
            "tool": self.tool,
            "takeover": self.takeover,
            "tables": self.tables,
            "summary": self.summary(),
            "warnings": list(self.warnings),
            "transactions": [t.to_json() for t in self.transactions],
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Analysis:
        """Read a saved report back; a report of another kind or version is refused."""
        if d.get("kind") != KIND or d.get("version") != VERSION:
            raise ValueError(
                f"not a version-{VERSION} rejoin analysis: kind {d.get('kind')!r}, "
                f"version {d.get('version')!r}"
            )
        return cls(
            cluster=str(d["cluster"]),
            node=str(d["node"]),
            active=str(d["active"]),
            flavor=str(d["flavor"]),
            created_at=float(d["created_at"]),
            origin=str(d["origin"]),
            node_executed=str(d["node_executed"]),
            active_executed=str(d["active_executed"]),
            missing=str(d["missing"]),
            missing_count=int(d["missing_count"]),
            other_missing=str(d.get("other_missing", "")),
            unread=str(d.get("unread", "")),
            binlog_files=tuple(d.get("binlog_files", ())),
            tool=str(d.get("tool", "")),
            takeover=d.get("takeover"),
            tables=dict(d.get("tables", {})),
            transactions=tuple(LostTransaction.from_json(t) for t in d.get("transactions", ())),
            warnings=tuple(d.get("warnings", ())),
        )
