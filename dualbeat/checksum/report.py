"""What ``dualbeat checksum`` found, as frozen dataclasses, and the pure comparisons.

Kept apart from the walk (``checksum.py``) so that comparing digests, classifying
differing rows and choosing tables are plain unit tests. The two servers are called the
*reference* (where chunk boundaries are read: the active by default) and the *peer*.
"""

from __future__ import annotations

import datetime
import enum
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from dualbeat.checksum.sql import SYSTEM_SCHEMAS, Key
from dualbeat.errors import UsageError


class RowDiffKind(enum.Enum):
    ONLY_ON_REFERENCE = "only_on_reference"  # the peer lacks the row
    ONLY_ON_PEER = "only_on_peer"  # the peer has a row the reference lacks
    DIFFERENT = "different"  # both have the key, with different contents


@dataclass(frozen=True)
class RowDiff:
    """One differing row, by key. For a table without a key, ``key`` is ``(row digest,)``
    (there is nothing else to name the row by) and the kind is never ``DIFFERENT``."""

    key: Key
    kind: RowDiffKind


@dataclass(frozen=True)
class ChunkRange:
    """Rows with ``lower < key <= upper``; an end that is None is open (first/last chunk),
    both None is the whole table."""

    index: int
    lower: Key | None
    upper: Key | None

    def describe(self) -> str:
        if self.lower is None and self.upper is None:
            return "whole table"
        low = "first row" if self.lower is None else f"> {show_key(self.lower)}"
        high = "last row" if self.upper is None else f"<= {show_key(self.upper)}"
        return f"{low} .. {high}"


@dataclass(frozen=True)
class Digest:
    """A chunk as one server sees it: row count and the exact sum of row digests."""

    rows: int
    total: int


@dataclass(frozen=True)
class ChunkDiff:
    """A chunk that still differed after every re-check.

    ``checks``: how many times it was compared; ``rows_listed`` is False when the chunk
    held too many rows to list them (``rows`` is then empty).
    """

    chunk: ChunkRange
    reference: Digest
    peer: Digest
    checks: int
    rows: tuple[RowDiff, ...]
    rows_listed: bool


class TableStatus(enum.Enum):
    EQUAL = "equal"
    DIFFERENT = "different"
    MISSING = "missing"  # the table exists on one server only
    COLUMNS_DIFFER = "columns_differ"  # not compared: the definitions differ
    ERROR = "error"  # not compared: a statement failed (e.g. the table was dropped)


@dataclass(frozen=True)
class TableResult:
    schema: str
    name: str
    status: TableStatus
    key: tuple[str, ...] = ()  # empty: no usable key, compared whole
    rows: int = 0  # on the reference
    peer_rows: int = 0
    chunks: int = 0
    rechecked: int = 0  # chunks that differed at first and were compared again
    diffs: tuple[ChunkDiff, ...] = ()
    caught_up: bool = True  # the peer had applied what the reference had, at every wait
    seconds: float = 0.0
    note: str = ""

    @property
    def full_name(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def equal(self) -> bool:
        return self.status is TableStatus.EQUAL

    @property
    def differing_rows(self) -> int:
        return sum(len(d.rows) for d in self.diffs)


@dataclass(frozen=True)
class ChecksumReport:
    reference: str
    peer: str
    chunk_size: int
    tables: tuple[TableResult, ...]
    seconds: float

    @property
    def equal(self) -> bool:
        """True when every table was compared and no chunk differed."""
        return all(t.equal for t in self.tables)

    @property
    def rows(self) -> int:
        return sum(t.rows for t in self.tables)

    def as_json(self) -> dict[str, Any]:
        return {
            "equal": self.equal,
            "reference": self.reference,
            "peer": self.peer,
            "chunk_size": self.chunk_size,
            "rows": self.rows,
            "seconds": round(self.seconds, 3),
            "tables": [self._table_json(t) for t in self.tables],
        }

    def where(self, kind: RowDiffKind) -> str:
        """The kind in words, with node names: ``only on db1``, ``differs``."""
        if kind is RowDiffKind.ONLY_ON_REFERENCE:
            return f"only on {self.reference}"
        if kind is RowDiffKind.ONLY_ON_PEER:
            return f"only on {self.peer}"
        return "differs"

    def _table_json(self, t: TableResult) -> dict[str, Any]:
        return {
            "table": t.full_name,
            "status": t.status.value,
            "key": list(t.key),
            "rows": t.rows,
            "peer_rows": t.peer_rows,
            "chunks": t.chunks,
            "rechecked_chunks": t.rechecked,
            "differing_chunks": len(t.diffs),
            "differing_rows": t.differing_rows,
            "caught_up": t.caught_up,
            "seconds": round(t.seconds, 3),
            "note": t.note,
            "diffs": [
                {
                    "chunk": d.chunk.index,
                    "range": d.chunk.describe(),
                    "lower": json_key(d.chunk.lower),
                    "upper": json_key(d.chunk.upper),
                    self.reference: {"rows": d.reference.rows, "digest": f"{d.reference.total:x}"},
                    self.peer: {"rows": d.peer.rows, "digest": f"{d.peer.total:x}"},
                    "checks": d.checks,
                    "rows_listed": d.rows_listed,
                    "rows": [
                        {"key": json_key(r.key), "kind": r.kind.value, "where": self.where(r.kind)}
                        for r in d.rows
                    ],
                }
                for d in t.diffs
            ],
        }


# --- pure comparisons ----------------------------------------------------------------------


def classify_rows(
    reference: Iterable[tuple[Key, str]], peer: Iterable[tuple[Key, str]]
) -> tuple[RowDiff, ...]:
    """Differing rows of one chunk from ``(key, row digest)`` pairs of both sides: the
    reference's keys first, in its order, then keys only the peer has, in the peer's."""
    theirs = dict(peer)
    ours = dict(reference)
    diffs = [
        RowDiff(key, RowDiffKind.ONLY_ON_REFERENCE if key not in theirs else RowDiffKind.DIFFERENT)
        for key, digest in ours.items()
        if theirs.get(key) != digest
    ]
    diffs += [RowDiff(key, RowDiffKind.ONLY_ON_PEER) for key in theirs if key not in ours]
    return tuple(diffs)


def both_reads(first: Sequence[RowDiff], second: Sequence[RowDiff]) -> tuple[RowDiff, ...]:
    """Rows that differ in both comparisons of the peer with the two reads of the
    reference around it, classified by the second (the latest) read."""
    keys = {r.key for r in first}
    return tuple(r for r in second if r.key in keys)


def classify_unkeyed(reference: Iterable[str], peer: Iterable[str]) -> tuple[RowDiff, ...]:
    """Differing rows of a table without a key, as multisets of row digests: a row twice
    on one side and once on the other is one row ``only on`` the first."""
    ours, theirs = Counter(reference), Counter(peer)
    diffs = [
        RowDiff((digest,), RowDiffKind.ONLY_ON_REFERENCE)
        for digest in sorted((ours - theirs).elements())
    ]
    diffs += [
        RowDiff((digest,), RowDiffKind.ONLY_ON_PEER)
        for digest in sorted((theirs - ours).elements())
    ]
    return tuple(diffs)


def estimate_chunks(estimated_rows: int, chunk_size: int, keyed: bool) -> int:
    """Chunks a walk will take, from the server's row estimate: one per ``chunk_size``
    rows plus the open-ended last one (the whole table is one chunk without a key)."""
    if not keyed:
        return 1
    return max(0, estimated_rows) // max(1, chunk_size) + 1


def select_tables(
    available: Iterable[tuple[str, str]],
    databases: Sequence[str] = (),
    tables: Sequence[str] = (),
) -> list[tuple[str, str]]:
    """The ``(schema, table)`` pairs to compare, sorted: all of ``available`` without
    filters, else those in one of ``databases`` or named ``schema.table`` in ``tables``.

    Raises ``UsageError`` for a malformed or system-schema name, and for a filter that
    matches nothing on either server (a typo must not read as "all equal").
    """
    wanted: set[tuple[str, str]] = set()
    for name in tables:
        schema, dot, table = name.partition(".")
        if not dot or not schema or not table:
            raise UsageError(f"--table {name!r}: expected DATABASE.TABLE")
        wanted.add((schema, table))
    for schema in {*databases, *(s for s, _ in wanted)}:
        if schema.lower() in SYSTEM_SCHEMAS:
            raise UsageError(f"{schema!r} is a system schema: dualbeat checksum skips it")
    present = sorted(set(available))
    if not databases and not tables:
        return present
    chosen = [(s, t) for s, t in present if s in databases or (s, t) in wanted]
    unknown = sorted(f"{s}.{t}" for s, t in wanted - set(present))
    unknown += sorted(d for d in databases if not any(s == d for s, _ in present))
    if unknown:
        raise UsageError(f"no such table or database on either server: {', '.join(unknown)}")
    return chosen


# --- rendering helpers ---------------------------------------------------------------------


def json_value(value: object) -> object:
    """A key value as JSON: bytes as ``0x`` hex, decimals and times as their text."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    if isinstance(value, Decimal | datetime.date | datetime.time | datetime.timedelta):
        return str(value)
    return repr(value)


def json_key(key: Key | None) -> list[object] | None:
    return None if key is None else [json_value(v) for v in key]


def show_key(key: Key) -> str:
    """A key for people: ``42``, ``(1, 'x')``, ``0x00ff``."""
    values = [repr(v) if isinstance(v, str) else str(json_value(v)) for v in key]
    return values[0] if len(values) == 1 else "(" + ", ".join(values) + ")"
