"""``dualbeat rejoin NODE --reapply``: the returning node's lost writes, re-applied on the
active from the row images of the analysis.

Which transactions: those whose every row is ``safe`` (untouched on the active since);
with ``include``, also those with conflicting rows, where NODE's version then wins. A
transaction is re-applied whole or not at all, in the order NODE committed them, each in
one transaction on the active, so a half-applied transaction is never left behind.
Everything else (DDL, statement-logged DML, tables without a primary key, values this
module cannot write back, conflicts without ``include``) is skipped, and so discarded
when NODE is rebuilt afterwards: the caller saves NODE's binary logs first.

Why new GTIDs on the active rather than NODE's originals: NODE is rebuilt from the active
afterwards (``rebuild``), so its old GTIDs vanish with its old binary logs and nothing can
apply them twice; the re-applied changes then reach NODE through ordinary replication.
The mapping from each original GTID to the new one is kept in the reapply record.

``plan`` is pure (rows and table definitions in, statements out); ``apply`` runs it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from dualbeat.mysql.binlog.values import (
    Column,
    TableDef,
    Value,
    comparable,
    key_arg,
    placeholder,
    quote_ident,
)
from dualbeat.mysql.connection import Server
from dualbeat.mysql.dialect import Statement
from dualbeat.rejoin import sql
from dualbeat.rejoin.report import Analysis, Conflict, Image, LostTransaction, RowChange

__all__ = ["Plan", "Skipped", "Step", "apply", "plan"]

_CONFLICTS = frozenset({Conflict.CHANGED, Conflict.KEY_TAKEN, Conflict.MISSING})


@dataclass(frozen=True)
class Step:
    """One lost transaction as the statements that redo it on the active."""

    gtid: str
    statements: tuple[Statement, ...]


@dataclass(frozen=True)
class Skipped:
    gtid: str
    why: str


@dataclass(frozen=True)
class Plan:
    steps: tuple[Step, ...]
    skipped: tuple[Skipped, ...]
    done: tuple[str, ...] = ()  # re-applied by an interrupted run of the same rejoin

    def to_json(self) -> dict[str, object]:
        return {
            "reapply": [s.gtid for s in self.steps],
            "skipped": [{"gtid": s.gtid, "why": s.why} for s in self.skipped],
            "already_reapplied": list(self.done),
        }


class _NotWritable(Exception):
    """A row this module cannot turn back into a statement (the message says why)."""


def plan(
    analysis: Analysis,
    tables: Mapping[str, TableDef],
    *,
    include: bool,
    done: frozenset[str] = frozenset(),
) -> Plan:
    """What to re-apply on the active; ``tables`` are the active's definitions by
    ``schema.table``; ``done``: what an interrupted run of this rejoin re-applied."""
    steps: list[Step] = []
    skipped: list[Skipped] = []
    already: list[str] = []
    for txn in analysis.transactions:
        if txn.gtid in done:
            already.append(txn.gtid)
            continue
        why = _refusal(txn, include)
        if why is None:
            try:
                steps.append(Step(txn.gtid, tuple(_statement(r, tables) for r in txn.rows)))
                continue
            except _NotWritable as exc:
                why = str(exc)
        skipped.append(Skipped(txn.gtid, why))
    return Plan(tuple(steps), tuple(skipped), tuple(already))


def _refusal(txn: LostTransaction, include: bool) -> str | None:
    if not txn.complete:
        return "the binary log holds only part of it (NODE crashed while logging it?)"
    if not txn.rows:
        return "DDL or statement-logged DML: no row images to re-apply"
    classes = set(txn.classes)
    if Conflict.UNCLASSIFIED in classes:
        notes = {r.note for r in txn.rows if r.conflict is Conflict.UNCLASSIFIED and r.note}
        return "unclassified rows" + (f" ({'; '.join(sorted(notes))})" if notes else "")
    if classes & _CONFLICTS and not include:
        names = ", ".join(c.value for c in Conflict if c in classes & _CONFLICTS)
        return f"conflicts with the active ({names}); --include re-applies it anyway"
    return None


def _statement(row: RowChange, tables: Mapping[str, TableDef]) -> Statement:
    table = tables.get(row.table)
    if table is None or not table.primary_key:
        raise _NotWritable(f"{row.table} is missing on the active or has no primary key")
    name = f"{quote_ident(table.schema)}.{quote_ident(table.name)}"
    safe = row.conflict is Conflict.SAFE
    if row.kind == "delete":
        return sql.delete_row(name, _where(table, row.before))
    if row.kind == "update" and safe:
        assign, args = _values(table, row.after)
        return sql.update_row(name, assign, args, _where(table, row.before))
    if row.kind in ("insert", "update"):
        # A safe insert must not meet the key (INSERT fails loudly if it now does); an
        # included conflict, or an update whose row is gone, writes NODE's version whole.
        assign, args = _values(table, row.after)
        return sql.write_row(name, assign, args, replace=not safe)
    raise _NotWritable(f"unknown row change {row.kind!r}")


def _values(table: TableDef, image: Image | None) -> tuple[list[tuple[str, str]], list[object]]:
    if not image:
        raise _NotWritable(f"{table.qualified}: the row image is empty")
    assign: list[tuple[str, str]] = []
    args: list[object] = []
    for column_name, value in image.items():
        column = _column(table, column_name)
        assign.append((quote_ident(column_name), placeholder(column)))
        args.append(_arg(table, column_name, value))
    return assign, args


def _where(table: TableDef, image: Image | None) -> Statement:
    if not image:
        raise _NotWritable(f"{table.qualified}: the before image is empty")
    terms, args = [], []
    for key in table.primary_key:
        if key not in image:
            raise _NotWritable(f"{table.qualified}: the row image lacks key column {key}")
        terms.append(f"{quote_ident(key)} = {placeholder(_column(table, key))}")
        args.append(_arg(table, key, image[key]))
    return sql.where(terms, args)


def _column(table: TableDef, name: str) -> Column:
    try:
        return table.column(name)
    except KeyError:
        raise _NotWritable(f"{table.qualified} has no column {name!r} on the active") from None


def _arg(table: TableDef, name: str, value: Value) -> object:
    if not comparable(value):
        raise _NotWritable(
            f"{table.qualified}.{name} holds a value of a type dualbeat cannot write"
        )
    return key_arg(value)


@dataclass(frozen=True)
class Applied:
    gtid: str  # NODE's original
    new_gtid: str  # the same change on the active


def apply(
    server: Server,
    the_plan: Plan,
    rejoin: str,
    progress: Callable[[Applied], None] = lambda _: None,
) -> list[Applied]:
    """Run each step as one transaction on the active, in order, with its marker row
    (``sql.mark_reapplied``: rejoin ``rejoin`` re-applied it). On a failure that
    transaction is rolled back and the error raised; the ones before it stay applied,
    and the caller has heard of each through ``progress``."""
    done: list[Applied] = []
    for step in the_plan.steps:
        # A failing statement closes the connection (``Server.query``), and the server
        # rolls the open transaction back with it: nothing half-applied stays.
        mark = sql.mark_reapplied(rejoin, step.gtid)
        server.execute(sql.BEGIN, *step.statements, mark, sql.COMMIT)
        rows = server.query(server.dialect.last_gtid())
        applied = Applied(step.gtid, str(rows[0]["gtid"] or "") if rows else "")
        done.append(applied)
        progress(applied)
    return done
