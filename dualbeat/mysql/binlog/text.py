"""Read the text ``mysqlbinlog`` / ``mariadb-binlog --base64-output=DECODE-ROWS -v`` prints.

Why parse text rather than the binary log: the binary format differs between MySQL and
MariaDB and between versions (row event v1/v2, compressed events, table-map metadata,
transaction payloads), and the server's own client tool already decodes all of it. Its
``-v`` output is stable and was recorded for these tests from MariaDB 10.11 (and from
MySQL 8.0's documented layout), so the parser is a pure function over lines.

What it recognises, per event (every event starts with ``# at POS`` and a header line
``#YYMMDD HH:MM:SS server id N  end_log_pos P [CRC32 0x..] <what>``):

* ``GTID D-S-N [ddl|trans|...]`` (MariaDB): a new transaction with GTID ``D-S-N``;
* ``GTID  last_committed=...`` then ``SET @@SESSION.GTID_NEXT= 'uuid[:tag]:n'`` (MySQL);
  ``ANONYMOUS``/``AUTOMATIC`` are not GTIDs;
* ``# original_commit_timestamp=MICROSECONDS`` (MySQL 8) or ``SET TIMESTAMP=S`` as the
  transaction's time, else the header's date read as UTC (the tool runs with ``TZ=UTC``);
* ``Annotate_rows:`` ``#Q>`` lines (MariaDB) and ``Rows_query`` ``# `` lines (MySQL): the
  original statement of the row events that follow;
* ``Table_map: `db`.`t``` and, with MySQL's ``binlog_row_metadata=FULL``, the column
  names in ``# Columns(`a` INT, ...)``;
* row events: ``### INSERT INTO `db`.`t``` / ``### UPDATE`` / ``### DELETE FROM`` with
  ``### WHERE`` (before image) and ``### SET`` (after image), values ``###   @N=literal``
  (a ``-vv`` type comment after the literal is dropped);
* ``Query`` events: statements other than session settings, ``BEGIN`` and ``COMMIT``
  (DDL, or DML logged as a statement);
* ``Xid = N`` / ``COMMIT`` ends a transaction; ``Rotate to FILE`` names the next file.

Values stay the literal text the tool printed (for example ``-1 (4294967295)``,
``'caf\\xe9'`` with raw bytes, ``b'0101'``): their meaning depends on the column type,
which ``dualbeat.mysql.binlog.values`` knows. Raw bytes survive as surrogate escapes: decode the
tool's output with ``errors="surrogateescape"``.
"""

from __future__ import annotations

import calendar
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["BinlogParser", "Gtid", "RowEvent", "Transaction", "parse"]

RowKind = Literal["insert", "update", "delete"]

_HEADER = re.compile(
    r"^#(\d{6})\s+(\d{1,2}):(\d{2}):(\d{2})\s+server id (\d+)\s+end_log_pos (\d+)"
    r"(?:\s+CRC32 0x[0-9a-fA-F]+)?\s+(.*)$"
)
_AT = re.compile(r"^# at (\d+)\s*$")
_MARIADB_GTID = re.compile(r"^GTID (\d+)-(\d+)-(\d+)\b")
_GTID_NEXT = re.compile(r"^SET @@SESSION\.GTID_NEXT\s*=\s*'([^']*)'", re.IGNORECASE)
_COMMIT_TS = re.compile(r"^# original_commit_timestamp=(\d+)")
_SET_TIMESTAMP = re.compile(r"^SET TIMESTAMP=(\d+(?:\.\d+)?)/\*!\*/;")
_TABLE_MAP = re.compile(r"^Table_map: `((?:[^`]|``)*)`\.`((?:[^`]|``)*)`")
_ROTATE = re.compile(r"^Rotate to (\S+)")
_ROW_START = re.compile(r"^### (INSERT INTO|UPDATE|DELETE FROM) `((?:[^`]|``)*)`\.`((?:[^`]|``)*)`")
_VALUE = re.compile(r"^###   @(\d+)=(.*)$", re.DOTALL)
_VV_COMMENT = re.compile(r"\s*/\* [A-Z][^*]*? meta=\d+ nullable=\d is_null=\d \*/\s*$")
_COLUMN_NAME = re.compile(r"^#\s+(?:Columns\()?`((?:[^`]|``)*)`")
_TERMINATOR = "/*!*/;"
_IGNORED_STATEMENT = re.compile(
    r"^(?:BEGIN|START TRANSACTION|COMMIT|ROLLBACK|XA \w+.*|use `.*|/\*.*"
    r"|SET (?:TIMESTAMP|INSERT_ID|LAST_INSERT_ID|@@session\.|@@SESSION\.|TRANSACTION ).*)$",
    re.DOTALL,
)
_KINDS: dict[str, RowKind] = {"INSERT INTO": "insert", "UPDATE": "update", "DELETE FROM": "delete"}


@dataclass(frozen=True)
class Gtid:
    """One transaction's GTID: ``source`` is the MariaDB domain id (as text) or the MySQL
    ``uuid`` / ``uuid:tag``; ``server_id`` is MariaDB's (None for MySQL, whose GTID names
    the server by its uuid)."""

    family: Literal["mysql", "mariadb"]
    source: str
    seq: int
    server_id: int | None = None

    @property
    def text(self) -> str:
        if self.family == "mariadb":
            return f"{self.source}-{self.server_id}-{self.seq}"
        return f"{self.source}:{self.seq}"

    @property
    def alone(self) -> str:
        """The set of this one transaction, as ``core.gtid`` parses it (a MariaDB GTID
        alone is a position, every seq up to its own: ``D-S-N..N`` is just N)."""
        if self.family == "mariadb":
            return f"{self.source}-{self.server_id}-{self.seq}..{self.seq}"
        return self.text

    @classmethod
    def from_text(cls, text: str) -> Gtid | None:
        """A GTID as the tools print it (``0-1-5`` or ``uuid[:tag]:7``); None otherwise."""
        if m := re.fullmatch(r"(\d+)-(\d+)-(\d+)", text.strip()):
            return cls("mariadb", m[1], int(m[3]), int(m[2]))
        source, _, seq = text.strip().rpartition(":")
        if source and seq.isdigit() and re.fullmatch(r"[0-9a-fA-F-]{36}(?::\w+)?", source):
            return cls("mysql", source.lower(), int(seq))
        return None


def _unquote_ident(name: str) -> str:
    return name.replace("``", "`")


@dataclass
class RowEvent:
    """One row change: ``before``/``after`` map column positions (1-based) to literals."""

    kind: RowKind
    schema: str
    table: str
    before: dict[int, str] | None = None
    after: dict[int, str] | None = None

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.table}"


@dataclass
class Transaction:
    """Everything the log holds about one transaction (see the module docstring)."""

    gtid: Gtid
    file: str
    position: int | None
    timestamp: float | None = None
    server_id: int | None = None
    rows: list[RowEvent] = field(default_factory=list)
    statements: list[str] = field(default_factory=list)
    columns: dict[str, tuple[str, ...]] = field(default_factory=dict)  # from table maps
    complete: bool = False

    @property
    def tables(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(r.qualified for r in self.rows))


def _header_time(m: re.Match[str]) -> float | None:
    """The header's wall-clock date, read as UTC (the tool ran with TZ=UTC)."""
    try:
        parsed = time.strptime(f"{m[1]} {m[2]}:{m[3]}:{m[4]}", "%y%m%d %H:%M:%S")
    except ValueError:
        return None
    return float(calendar.timegm(parsed))


class BinlogParser:
    """Feed lines, collect transactions. ``wanted`` decides, per GTID, whether a
    transaction is kept: unwanted ones are skipped without building their rows, so a
    large log costs time but no memory."""

    def __init__(self, first_file: str = "", wanted: Callable[[Gtid], bool] | None = None):
        self.file = first_file
        self.wanted = wanted or (lambda _g: True)
        self.done: list[Transaction] = []
        self._txn: Transaction | None = None
        self._keep = False
        self._began = False  # BEGIN / START TRANSACTION seen: a multi-event transaction
        self._exact_time = False  # the timestamp came from original_commit_timestamp
        self._header_ts: float | None = None  # of the GTID event
        self._header_server: int | None = None
        self._commit_ts: float | None = None  # MySQL prints it before GTID_NEXT
        self._pos: int | None = None  # of the event being read
        self._gtid_pos: int | None = None  # of MySQL's GTID event, until GTID_NEXT
        self._event = ""  # what the current event's body lines are
        self._chunk: list[str] = []
        self._row: RowEvent | None = None
        self._image: dict[int, str] | None = None
        self._table: str | None = None
        self._names: list[str] | None = None
        self._annotation: list[str] = []

    # --- transactions -------------------------------------------------------------

    def _finish(self) -> None:
        self._end_event()
        if self._txn is not None and self._keep:
            self.done.append(self._txn)
        self._txn, self._keep, self._row, self._image = None, False, None, None
        self._began = self._exact_time = False

    def _begin(self, gtid: Gtid, position: int | None) -> None:
        self._finish()
        txn = Transaction(gtid, self.file, position, self._header_ts, self._header_server)
        if self._commit_ts is not None:
            txn.timestamp, self._exact_time = self._commit_ts, True
        self._txn, self._keep, self._commit_ts = txn, self.wanted(gtid), None

    @property
    def _active(self) -> Transaction | None:
        return self._txn if self._keep else None

    # --- lines ----------------------------------------------------------------------

    def feed(self, line: str) -> None:
        line = line.rstrip("\r\n")
        if m := _AT.match(line):
            self._end_event()
            self._pos = int(m[1])
        elif m := _HEADER.match(line):
            self._end_event()
            self._header(m)
        else:
            self._body(line)

    def _header(self, m: re.Match[str]) -> None:
        what = m[7].strip()
        if g := _MARIADB_GTID.match(what):
            self._header_ts, self._header_server = _header_time(m), int(m[5])
            self._begin(Gtid("mariadb", g[1], int(g[3]), int(g[2])), self._pos)
            self._event = "query"  # its body holds START TRANSACTION
        elif what.startswith(("GTID", "Anonymous_GTID")):
            self._finish()  # MySQL: the GTID itself follows in SET @@SESSION.GTID_NEXT
            self._header_ts, self._header_server = _header_time(m), int(m[5])
            self._event, self._gtid_pos = "mysql_gtid", self._pos
        elif r := _ROTATE.match(what):
            self._finish()
            self.file = r[1]
        elif what.startswith("Query"):
            self._event = "query"
        elif what.startswith("Annotate_rows"):
            self._event = "annotate"
        elif what.startswith("Rows_query"):
            self._event = "rows_query"
        elif t := _TABLE_MAP.match(what):
            self._event, self._names = "table_map", []
            self._table = f"{_unquote_ident(t[1])}.{_unquote_ident(t[2])}"
        elif re.match(r"(Write|Update|Delete)_rows", what):
            self._event = "rows"
        elif what.startswith("Xid"):
            self._event = "xid"

    def _body(self, line: str) -> None:
        if self._event == "mysql_gtid":
            if m := _COMMIT_TS.match(line):
                self._commit_ts = int(m[1]) / 1_000_000
            elif m := _GTID_NEXT.match(line):
                gtid = Gtid.from_text(m[1])  # None for ANONYMOUS: not kept
                if gtid is not None:
                    self._begin(gtid, self._gtid_pos)
            return
        txn = self._active
        if txn is None:
            return
        match self._event:
            case "annotate" if line.startswith("#Q>"):
                self._annotation.append(line[3:].removeprefix(" "))
            case "rows_query" if line.startswith("#"):
                self._annotation.append(line[1:].removeprefix(" "))
            case "table_map" if line.startswith("#"):
                self._column_line(line)
            case "rows" if line.startswith("###"):
                self._row_line(txn, line)
            case "query":
                self._query_line(txn, line)
            case "xid" if line.startswith("COMMIT"):
                txn.complete = True
            case _:
                pass

    def _column_line(self, line: str) -> None:
        if self._names is None or not line.startswith(("# Columns(", "#  ")):
            return
        m = _COLUMN_NAME.match(line)
        if m is None:
            self._names = None  # metadata without names (binlog_row_metadata=MINIMAL)
        else:
            self._names.append(_unquote_ident(m[1]))

    def _row_line(self, txn: Transaction, line: str) -> None:
        if m := _ROW_START.match(line):
            row = RowEvent(_KINDS[m[1]], _unquote_ident(m[2]), _unquote_ident(m[3]))
            txn.rows.append(row)
            self._row, self._image = row, None
        elif line.rstrip() in ("### WHERE", "### SET") and self._row is not None:
            self._image = {}
            if line.rstrip() == "### WHERE":
                self._row.before = self._image
            else:
                self._row.after = self._image
        elif (m := _VALUE.match(line)) and self._image is not None:
            self._image[int(m[1])] = _VV_COMMENT.sub("", m[2]).rstrip(" ")

    def _query_line(self, txn: Transaction, line: str) -> None:
        if m := _SET_TIMESTAMP.match(line):
            if not self._exact_time:
                txn.timestamp = float(m[1])
            return
        if not line.endswith(_TERMINATOR):
            self._chunk.append(line)
            return
        self._chunk.append(line[: -len(_TERMINATOR)])
        statement = "\n".join(self._chunk).strip()
        self._chunk = []
        if statement in ("BEGIN", "START TRANSACTION"):
            self._began = True
        elif statement in ("COMMIT", "ROLLBACK"):
            txn.complete = True
        elif statement and not _IGNORED_STATEMENT.match(statement):
            txn.statements.append(statement)
            if not self._began:
                txn.complete = True  # a statement of its own (DDL): nothing follows

    def _end_event(self) -> None:
        """An event ended: flush what it was collecting."""
        txn = self._active
        if self._annotation and txn is not None:
            txn.statements.append("\n".join(self._annotation).rstrip())
        if self._event == "table_map" and self._table and self._names and txn is not None:
            txn.columns[self._table] = tuple(self._names)
        self._annotation, self._chunk, self._table, self._names = [], [], None, None
        self._event = ""

    def close(self) -> list[Transaction]:
        """End of output: the last transaction is kept too (``complete`` says whether its
        end was seen). Returns every kept transaction in log order."""
        self._finish()
        return self.done


def parse(
    lines: Iterable[str], first_file: str = "", wanted: Callable[[Gtid], bool] | None = None
) -> list[Transaction]:
    """Parse a whole output (recorded text, or an iterator over a running tool's stdout)."""
    parser = BinlogParser(first_file, wanted)
    for line in lines:
        parser.feed(line)
    return parser.close()


def iter_lines(data: bytes) -> Iterator[str]:
    """Lines of raw tool output, bytes kept as surrogate escapes."""
    yield from data.decode("utf-8", errors="surrogateescape").splitlines()
