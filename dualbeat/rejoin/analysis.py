"""``dualbeat rejoin NODE --analyze``: the I/O half of the lost-writes review.

Steps, all read-only (package rule 1):

1. Both servers' executed GTID sets; ``missing`` = what NODE executed and the active
   did not, restricted to NODE's own writes (``originated_by`` its server_id / uuid), so
   the active's own newest writes that NODE applied are never mistaken for lost ones.
   The same code path finds an old active's unreplicated writes and errant transactions
   written on a passive node: both are "transactions NODE wrote that the active lacks".
2. Those transactions from NODE's binary logs (``dualbeat.mysql.binlog.read``).
3. For each row event, the table's columns from NODE's ``information_schema`` (the @N of
   the log are ordinal positions), values in canonical form, and the row the active holds
   now for the same primary key: ``report.Classifier`` decides the conflict class.
4. The ``Analysis``, saved by ``save`` as ``STATE_DIR/rejoin/<UTC time>-analysis.json``
   of NODE's state directory, where ``history`` and the later ``--reapply``/``--discard``/
   ``--accept`` steps find it.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from pathlib import Path

from dualbeat.config import Config
from dualbeat.core.gtid import parse_gtid_set
from dualbeat.errors import UsageError
from dualbeat.mysql import lookup
from dualbeat.mysql.binlog import read as binlog
from dualbeat.mysql.binlog.text import RowEvent, Transaction
from dualbeat.mysql.binlog.values import Column, Flavor, TableDef, Value, comparable, from_binlog
from dualbeat.mysql.connection import Server
from dualbeat.mysql.endpoints import endpoint
from dualbeat.mysql.internal import client_view
from dualbeat.rejoin.report import (
    Analysis,
    Classifier,
    Conflict,
    Image,
    LostTransaction,
    RowChange,
    Verdict,
)

__all__ = ["analyze", "report_dir", "save"]


def analyze(
    config: Config,
    node: str,
    *,
    timeout: float = binlog.DEFAULT_TIMEOUT,
    tool: str | None = None,
    reapplied: frozenset[str] = frozenset(),
) -> Analysis:
    """Analyse ``node`` (the returning one) against the other node (the active);
    ``reapplied``: see ``report.Classifier``."""
    name = config.node(node).name
    active = config.peer_of(name).name
    with (
        Server(endpoint(config, name, admin=True)) as fenced,
        Server(endpoint(config, active, admin=True)) as act,
    ):
        return _Analyser(config, fenced, act, timeout, tool, reapplied).run()


class _Analyser:
    def __init__(
        self,
        config: Config,
        fenced: Server,
        act: Server,
        timeout: float,
        tool: str | None,
        reapplied: frozenset[str] = frozenset(),
    ) -> None:
        self.config, self.fenced, self.act = config, fenced, act
        self.timeout, self.tool, self.reapplied = timeout, tool, reapplied
        self.family = fenced.dialect.gtid_family
        if act.dialect.gtid_family != self.family:
            raise UsageError(
                f"{fenced.name} runs {fenced.dialect.version} and {act.name} runs "
                f"{act.dialect.version}: their GTIDs cannot be compared"
            )
        self.tables: dict[str, tuple[TableDef | None, TableDef | None]] = {}
        self.warnings: list[str] = []

    def run(self) -> Analysis:
        started = time.time()
        mine, theirs = lookup.server_state(self.fenced), lookup.server_state(self.act)
        node_set = parse_gtid_set(mine.executed, self.family)
        active_set = parse_gtid_set(theirs.executed, self.family)
        # dualbeat's own writes (schema, epoch row) are in its internal domains: never a
        # client's lost write, never a conflict to review (``mysql.internal``).
        internal = self.config.internal_domains()
        difference = client_view(node_set, internal) - client_view(active_set, internal)
        missing = difference.originated_by(mine.origin)
        other = difference - missing
        if theirs.read_only:
            self.warnings.append(
                f"{self.act.name} is read-only: it is not serving writes, so it may not be "
                "the active node; the classes below compare with it anyway"
            )
        if not mine.read_only:
            self.warnings.append(
                f"{self.fenced.name} is writable: writes it takes after this analysis are "
                "not in this report"
            )
        if other:
            self.warnings.append(
                f"{self.fenced.name} also holds {other.count()} transaction(s) it did not "
                f"write that {self.act.name} lacks ({other}); they are not analysed"
            )
        record = lookup.epoch_record(self.act)
        read = binlog.read_transactions(self.fenced, missing, timeout=self.timeout, tool=self.tool)
        if read.unread:
            self.warnings.append(
                f"{read.unread.count()} missing transaction(s) are in none of "
                f"{self.fenced.name}'s binary logs (purged?): {read.unread}"
            )
        classifier = Classifier(self._lookup, self.reapplied)
        transactions = tuple(self._transaction(t, classifier) for t in read.transactions)
        return Analysis(
            cluster=self.config.cluster,
            node=self.fenced.name,
            active=self.act.name,
            flavor=self.family,
            created_at=started,
            origin=mine.origin,
            node_executed=node_set.format(),
            active_executed=active_set.format(),
            missing=missing.format(),
            missing_count=missing.count(),
            other_missing=other.format(),
            unread=read.unread.format(),
            binlog_files=read.files,
            tool=read.tool,
            takeover=record.takeover if record else None,
            tables={name: self._table_json(name) for name in self.tables},
            transactions=transactions,
            warnings=tuple(self.warnings),
        )

    # --- tables -----------------------------------------------------------------------

    def _defs(
        self, qualified: str, schema: str, table: str
    ) -> tuple[TableDef | None, TableDef | None]:
        if qualified not in self.tables:
            self.tables[qualified] = (
                lookup.describe(self.fenced, schema, table),
                lookup.describe(self.act, schema, table),
            )
        return self.tables[qualified]

    def _table_note(self, qualified: str) -> str:
        mine, theirs = self.tables[qualified]
        if mine is None:
            return f"no longer exists on {self.fenced.name}: columns are shown as @N"
        if not mine.primary_key:
            return "has no primary key: its rows cannot be looked up on the active"
        if theirs is None:
            return f"does not exist on {self.act.name}"
        if not mine.same_shape(theirs):
            return f"has different columns or primary key on {self.act.name}"
        return ""

    def _table_json(self, qualified: str) -> dict[str, object]:
        mine = self.tables[qualified][0]
        return {
            "columns": [c.as_json() for c in mine.columns] if mine else [],
            "primary_key": list(mine.primary_key) if mine else [],
            "note": self._table_note(qualified),
        }

    def _lookup(self, qualified: str, key: Mapping[str, Value]) -> Image | None:
        theirs = self.tables[qualified][1]
        assert theirs is not None
        return lookup.fetch_row(self.act, theirs, key)

    # --- rows -------------------------------------------------------------------------

    def _transaction(self, txn: Transaction, classifier: Classifier) -> LostTransaction:
        rows = tuple(self._row(txn, row, classifier) for row in txn.rows)
        return LostTransaction(
            gtid=txn.gtid.text,
            server_id=txn.server_id if txn.gtid.server_id is None else txn.gtid.server_id,
            timestamp=txn.timestamp,
            binlog_file=txn.file,
            position=txn.position,
            complete=txn.complete,
            statements=tuple(_printable(s) for s in txn.statements),
            rows=rows,
        )

    def _row(self, txn: Transaction, row: RowEvent, classifier: Classifier) -> RowChange:
        qualified = row.qualified
        mine, _theirs = self._defs(qualified, row.schema, row.table)
        columns, mismatch = _columns_for(mine, row, txn.columns.get(qualified))
        before = _image(row.before, columns, self.family)
        after = _image(row.after, columns, self.family)
        note = self._table_note(qualified) or mismatch
        keys = mine.primary_key if mine else ()
        key_before, key_after = _key(before, keys), _key(after, keys)
        shown_key = key_after if row.kind == "insert" else key_before
        if note or columns is None:
            verdict = Verdict(Conflict.UNCLASSIFIED, note=f"{qualified} {note}")
        elif shown_key is None:
            verdict = Verdict(Conflict.UNCLASSIFIED, note="the primary key cannot be compared")
        else:
            verdict = classifier.classify(
                txn.gtid.text, qualified, row.kind, key_before, key_after, before
            )
        return RowChange(
            table=qualified,
            kind=row.kind,
            key=shown_key,
            before=before,
            after=after,
            conflict=verdict.conflict,
            active_row=verdict.active_row,
            note=verdict.note,
            follows=verdict.follows,
        )


def _columns_for(
    table: TableDef | None, row: RowEvent, logged_names: tuple[str, ...] | None
) -> tuple[dict[int, Column] | None, str]:
    """Position → column for the row's images, or None and why, when the table's current
    columns cannot be read as the logged ones."""
    if table is None:
        return None, ""
    positions = set(row.before or {}) | set(row.after or {})
    by_position = {c.position: c for c in table.columns}
    if logged_names is not None:  # MySQL binlog_row_metadata=FULL: names as written
        by_name = {c.name: c for c in table.columns}
        if all(n in by_name for n in logged_names):
            by_position = {i: by_name[n] for i, n in enumerate(logged_names, start=1)}
    if not positions <= set(by_position):
        return None, "has fewer columns now than the logged rows (columns dropped since?)"
    if len(positions) != len(by_position):
        return None, (
            "has more columns than the logged rows (binlog_row_image is not FULL, or "
            "columns were added since): images cannot be compared"
        )
    return by_position, ""


def _image(
    values: dict[int, str] | None, columns: dict[int, Column] | None, family: str
) -> Image | None:
    if values is None:
        return None
    flavor: Flavor = "mariadb" if family == "mariadb" else "mysql"
    out: Image = {}
    for position, literal in sorted(values.items()):
        column = columns.get(position) if columns else None
        if column is None:
            out[f"@{position}"] = {"raw": _printable(literal)}
        else:
            out[column.name] = from_binlog(literal, column, flavor)
    return out


def _key(image: Image | None, names: tuple[str, ...]) -> Image | None:
    if image is None or not names or any(n not in image for n in names):
        return None
    key = {n: image[n] for n in names}
    return key if all(comparable(v) for v in key.values()) else None


def _printable(text: str) -> str:
    """Log text for JSON: raw bytes that are not UTF-8 become U+FFFD."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


# --- saving ---------------------------------------------------------------------------------


def report_dir(config: Config, node: str) -> Path:
    return config.state_dir(node) / "rejoin"


def save(analysis: Analysis, config: Config) -> Path:
    """Write the report under the node's state directory, atomically, readable by root
    only (it holds row data). Returns its path."""
    directory = report_dir(config, analysis.node)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(analysis.created_at))
    path = directory / f"{stamp}-analysis.json"
    serial = 1
    while path.exists():  # two analyses in one second: keep both
        serial += 1
        path = directory / f"{stamp}-{serial}-analysis.json"
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(analysis.to_json(), f, indent=2, sort_keys=False)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)
    return path
