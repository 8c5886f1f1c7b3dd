"""``rejoin --method flashback``: revert a fenced node's own lost transactions in place,
then restart its GTID history at the last position it shares with the active.

Why it is exact, and when it is allowed (``refusal``): ``mariadb-binlog --flashback``
turns each row event around (an insert becomes a delete of the same full row, an update
swaps its images), so reverting NODE's lost transactions, newest first, leaves NODE's rows
as they were before the first of them, which is the active's state at the last common
position. That holds only when every lost transaction is complete and row-based with full
images (no DDL, no statement-logged DML), NODE's history is MariaDB's, the lost
transactions are the tail of NODE's history in their GTID domains (so the tool selects
exactly them: their domains, from the first one's log position on), NODE holds nothing
else the active lacks, and each touched table has a primary key (so the rows can be
checked, below).

Why it is safe to run again (``RowState``): the revert is applied as ONE transaction with
NODE's binary log off (``sql_log_bin=0``), so a kill leaves it wholly applied or not at
all, and the touched rows themselves say which: each row either still holds what the lost
transactions left (``PENDING``: revert) or what was there before them (``REVERTED``:
already done, do not apply again). Anything else (``MIXED``) means someone else changed
those rows, and the flashback is refused. A marker row would have to be written on a
fenced, read-only node and kept out of replication; the rows need no marker. After the
history restart the lost transactions are no longer in NODE's GTID set, so a rejoin run
again finds nothing to revert and restarts the history at the same recorded position
(``journal``).
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from dualbeat.core.gtid import MariadbGtidSet
from dualbeat.errors import MysqlQueryError
from dualbeat.mysql import lookup, tools
from dualbeat.mysql.connection import Server
from dualbeat.mysql.dialect import Flavor
from dualbeat.rejoin import sql
from dualbeat.rejoin.report import Analysis, Image, same_row

__all__ = [
    "RowState",
    "Touched",
    "common_position",
    "refusal",
    "revert",
    "row_state",
    "script",
]

_START = "START TRANSACTION/*!*/;"
_COMMIT = ("COMMIT", "/*!*/;")


class RowState(Enum):
    PENDING = "pending"  # the rows hold what the lost transactions left: revert them
    REVERTED = "reverted"  # the rows hold what was there before: already reverted
    MIXED = "mixed"  # neither: something else changed them


@dataclass(frozen=True)
class Touched:
    """One row (table and primary key) the lost transactions touched: what it held before
    the first of them and after the last (None: no such row)."""

    table: str
    key: Image
    original: Image | None
    final: Image | None


def _sets(analysis: Analysis) -> tuple[MariadbGtidSet, MariadbGtidSet, MariadbGtidSet]:
    return (
        MariadbGtidSet.parse(analysis.node_executed),
        MariadbGtidSet.parse(analysis.active_executed),
        MariadbGtidSet.parse(analysis.missing),
    )


def refusal(analysis: Analysis) -> str | None:
    """Why NODE's lost transactions cannot be flashed back (None: they can)."""
    if analysis.flavor != "mariadb":
        return "flashback needs MariaDB (mariadb-binlog --flashback)"
    if analysis.other_missing:
        return (
            "NODE holds transactions it did not write that the active lacks "
            f"({analysis.other_missing})"
        )
    if analysis.unread:
        return f"some lost transactions are in no binary log any more ({analysis.unread})"
    for txn in analysis.transactions:
        if not txn.complete:
            return f"{txn.gtid} is only partly in the binary log"
        if not txn.rows:
            return f"{txn.gtid} is DDL or statement-logged DML: no row images to revert"
        for row in txn.rows:
            table = analysis.tables.get(row.table, {})
            columns = len(table.get("columns", ()))
            if not table.get("primary_key"):
                return f"{row.table} ({txn.gtid}) has no primary key: the revert cannot be checked"
            for image in (row.before, row.after):
                if image is not None and (
                    len(image) != columns or any(k.startswith("@") for k in image)
                ):
                    return f"{txn.gtid}: {row.table}'s row images are not full (binlog_row_image)"
    node, active, missing = _sets(analysis)
    for domain in missing.domains():
        tail = [(domain, active.last_seq(domain) + 1, node.last_seq(domain))]
        if [iv for iv in missing.intervals() if iv[0] == domain] != tail:
            return f"the lost transactions are not the newest of NODE's history in domain {domain}"
    try:
        common_position(analysis)
    except ValueError as exc:
        return str(exc)
    return None


def common_position(analysis: Analysis) -> str:
    """The last GTID position both servers hold: NODE's history without its lost tail
    (and without any of its internal writes the active lacks, which stay as data only)."""
    node, active, _ = _sets(analysis)
    return node.intersection(active).position()


def touched_rows(analysis: Analysis) -> list[Touched]:
    """Every row the lost transactions touched, with its first and last image."""
    original: dict[tuple[str, str], Image | None] = {}
    final: dict[tuple[str, str], Image | None] = {}
    keys: dict[tuple[str, str], Image] = {}

    def key_of(table: str, image: Image) -> tuple[str, str]:
        names = analysis.tables[table]["primary_key"]
        key = {n: image[n] for n in names}
        ident = (table, json.dumps(key, sort_keys=True, default=str))
        keys.setdefault(ident, key)
        return ident

    for txn in analysis.transactions:
        for row in txn.rows:
            if row.before is not None:
                kb = key_of(row.table, row.before)
                original.setdefault(kb, row.before)
                final[kb] = None
            if row.after is not None:
                ka = key_of(row.table, row.after)
                original.setdefault(ka, None)
                final[ka] = row.after
    return [Touched(t, keys[(t, k)], original[(t, k)], final[(t, k)]) for t, k in original]


def _same(a: Mapping[str, object] | None, b: Mapping[str, object] | None) -> bool:
    if a is None or b is None:
        return a is b
    return same_row(a, b) and same_row(b, a)


def row_state(touched: list[Touched], current: Callable[[Touched], Image | None]) -> RowState:
    """Where the touched rows stand; ``current`` reads a row on NODE now."""
    now = [current(t) for t in touched]
    if all(_same(n, t.final) for n, t in zip(now, touched, strict=True)):
        return RowState.PENDING
    if all(_same(n, t.original) for n, t in zip(now, touched, strict=True)):
        return RowState.REVERTED
    return RowState.MIXED


def node_row_state(fenced: Server, analysis: Analysis) -> RowState:
    """``row_state`` read on NODE by primary key."""
    defs = {}
    for table in analysis.tables:
        schema, _, name = table.partition(".")
        defs[table] = lookup.describe(fenced, schema, name)

    def current(t: Touched) -> Image | None:
        table = defs[t.table]
        return None if table is None else lookup.fetch_row(fenced, table, t.key)

    return row_state(touched_rows(analysis), current)


def one_transaction(text: str) -> tuple[str, int]:
    """The flashback output as one transaction (its first ``START TRANSACTION`` and last
    ``COMMIT`` kept, those between dropped), and how many transactions it held."""
    lines = text.split("\n")
    starts = [i for i, line in enumerate(lines) if line == _START]
    commits = [i for i, line in enumerate(lines[:-1]) if (line, lines[i + 1]) == _COMMIT]
    if not starts:
        return text, 0
    drop = set(starts[1:]) | {i + j for i in commits[:-1] for j in (0, 1)}
    kept = "\n".join(line for i, line in enumerate(lines) if i not in drop)
    return sql.LOAD_PROLOGUE.decode() + kept, len(starts)


def script(analysis: Analysis, saved: list[Path], dest: Path, timeout: float) -> Path:
    """Write the revert of NODE's lost transactions (from the saved binary logs) as one
    transaction to ``dest``; ``MysqlQueryError`` when the tool cannot, or selects other
    than exactly the lost transactions."""
    program = tools.find_tool("binlog", Flavor.MARIADB, "the flashback is made with it")
    domains = ",".join(map(str, _sets(analysis)[2].domains()))
    first = analysis.transactions[0] if analysis.transactions else None
    if first is None or first.position is None:
        raise MysqlQueryError(analysis.node, "the first lost transaction's log position is unknown")
    files = sorted(p for p in saved if p.name >= first.binlog_file)
    argv = [
        program, "--flashback", f"--do-domain-ids={domains}",
        f"--start-position={first.position}", *map(str, files),
    ]  # fmt: skip
    try:
        done = subprocess.run(argv, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise MysqlQueryError(
            analysis.node, f"mariadb-binlog --flashback took > {timeout:g} s"
        ) from exc
    if done.returncode != 0:
        detail = " ".join(done.stderr.decode("utf-8", "replace").split())[-400:]
        raise MysqlQueryError(analysis.node, f"mariadb-binlog --flashback failed: {detail}")
    text, count = one_transaction(done.stdout.decode("utf-8", "surrogateescape"))
    if count != analysis.missing_count:
        raise MysqlQueryError(
            analysis.node,
            f"mariadb-binlog --flashback selected {count} transaction(s), not the "
            f"{analysis.missing_count} lost ones (a mariadb-binlog older than 10.8 cannot "
            "select by GTID)",
        )
    dest.write_bytes(text.encode("utf-8", "surrogateescape"))
    dest.chmod(0o600)
    return dest


def revert(fenced: Server, path: Path, timeout: float) -> None:
    """Apply the revert script on NODE with its binary log off (the script's prologue),
    as one transaction."""
    flavor = fenced.dialect.version.flavor
    client = tools.find_tool("client", flavor, "the flashback is applied with it")
    with tools.option_file(fenced.endpoint) as options, tempfile.TemporaryFile() as err:
        argv = [client, *tools.connection_args(fenced.endpoint, options, flavor), "--binary-mode"]
        with path.open("rb") as stdin:
            try:
                code = subprocess.run(argv, stdin=stdin, stdout=subprocess.DEVNULL, stderr=err,
                                      timeout=timeout, check=False).returncode  # fmt: skip
            except subprocess.TimeoutExpired as exc:
                raise MysqlQueryError(fenced.name, f"the flashback took > {timeout:g} s") from exc
        if code != 0:
            err.seek(0)
            detail = " ".join(err.read().decode("utf-8", "replace").split())[-400:]
            raise MysqlQueryError(fenced.name, f"applying the flashback failed: {detail}")
