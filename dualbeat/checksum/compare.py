"""``dualbeat checksum``: compare the data of both servers, chunk by chunk, reading only.

Our own take on pt-table-checksum's idea, for a pair whose passive must never be written:

1. Tables: user schemas on both servers (``--database``/``--table`` filters); a table on
   one server only, or with different columns, is reported without being read.
2. Each table is walked along its primary key (else its first unique NOT NULL key) in
   chunks of ``chunk_size`` rows, with boundaries read on the *reference* (the active by
   default). The first and last chunks are open-ended, so rows the peer has beyond the
   reference's key range are counted too. A table without such a key is one chunk.
3. Each chunk is digested on both servers at once (``checksum.sql`` documents the formula).
   Before a table, the peer is given time to apply everything the reference had executed
   (bounded). A busy active still changes rows between the two reads, so a differing
   chunk is re-checked up to ``rechecks`` times, each time in the order reference digest,
   reference GTIDs, peer catch-up, peer digest: the peer then holds at least what the
   reference digested, and a difference that survives is not replication lag.
4. A chunk that still differs is listed row by row, (key, row digest) on both sides,
   classified as only on the reference, only on the peer, or different on both.

Nothing is written anywhere: plain consistent-read SELECTs in a session set ``READ ONLY``
(no checksum table as pt-table-checksum keeps: on the passive that write would be an
errant transaction). ``checksum_pair`` is the entry point (the CLI and rejoin call it).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TypedDict, Unpack

from dualbeat.checksum import sql
from dualbeat.checksum.report import (
    ChecksumReport,
    ChunkDiff,
    ChunkRange,
    Digest,
    RowDiff,
    TableResult,
    TableStatus,
    both_reads,
    classify_rows,
    classify_unkeyed,
    estimate_chunks,
    select_tables,
)
from dualbeat.config import Config
from dualbeat.core.gtid import parse_gtid_set
from dualbeat.errors import MysqlQueryError
from dualbeat.mysql.connection import Server
from dualbeat.mysql.control import read_only_state
from dualbeat.mysql.dialect import Statement, ThreadState
from dualbeat.mysql.endpoints import endpoint

__all__ = ["ChecksumOptions", "ChecksumProgress", "checksum_pair", "checksum_servers"]

WAIT_SLICE = 0.5  # seconds; the catch-up wait re-checks the peer's applier this often
MIN_WAIT = 0.01  # seconds; MySQL reads a zero timeout as "wait forever"


@dataclass(frozen=True)
class ChecksumProgress:
    """Reported after every chunk, and once more with ``finished`` at a table's end."""

    table: str
    chunks_done: int
    chunks_estimated: int
    rows: int
    finished: bool = False


Progress = Callable[[ChecksumProgress], None]


class ChecksumOptions(TypedDict, total=False):
    """What to compare and how hard to try: ``checksum_servers``' keywords, which the
    layers above it (``checksum_pair``, ``ops.pair.checksum``) pass through untouched, so
    each is written, with its default, once."""

    databases: Sequence[str]
    tables: Sequence[str]
    chunk_size: int
    rechecks: int
    catchup_timeout: float
    list_limit: int
    progress: Progress


def _ignore(_: ChecksumProgress) -> None:
    """Default progress callback: say nothing."""


def checksum_pair(
    config: Config,
    *,
    reference: str | None = None,
    read_timeout: float = 300.0,
    **options: Unpack[ChecksumOptions],
) -> ChecksumReport:
    """Compare the two servers of ``config`` and return what differs.

    ``reference``: the node whose key ranges are walked; default the writable node, or
    the first node when none or both are writable. ``read_timeout`` bounds one statement
    (a large table without a key is one statement). ``options`` as ``checksum_servers``.
    Raises the ``MysqlError`` of a server that cannot be reached or refuses the account.
    """
    a, b = (Server(endpoint(config, node.name, read_timeout=read_timeout)) for node in config.nodes)
    with a, b:
        if reference is None:
            writable = [s for s in (a, b) if not read_only_state(s)]
            reference = writable[0].name if len(writable) == 1 else a.name
        ref, peer = (a, b) if config.node(reference).name == a.name else (b, a)
        return checksum_servers(ref, peer, **options)


def checksum_servers(
    reference: Server,
    peer: Server,
    *,
    databases: Sequence[str] = (),
    tables: Sequence[str] = (),
    chunk_size: int = 1000,
    rechecks: int = 3,
    catchup_timeout: float = 30.0,
    list_limit: int = 10_000,
    progress: Progress = _ignore,
) -> ChecksumReport:
    """``checksum_pair`` for two open servers (``reference`` walks the keys).

    ``list_limit``: a differing chunk with more rows than this on either side is reported
    without listing its rows. The defaults here are the only ones: ``checksum_pair`` and
    ``ops.pair.checksum`` pass their ``ChecksumOptions`` through."""
    if chunk_size < 1 or rechecks < 0 or list_limit < 1:
        raise ValueError("chunk_size and list_limit must be positive, rechecks not negative")
    started = time.monotonic()
    for server in (reference, peer):  # every later statement runs READ ONLY, in UTC
        server.execute(*sql.session_setup())
    listed = {s.name: _tables(s) for s in (reference, peer)}
    chosen = select_tables([*listed[reference.name], *listed[peer.name]], databases, tables)
    walk = _Walk(reference, peer, chunk_size, rechecks, catchup_timeout, list_limit, progress)
    with walk.pool:
        results = []
        for schema, name in chosen:
            on = [s.name for s in (reference, peer) if (schema, name) in listed[s.name]]
            results.append(walk.table(schema, name, listed[reference.name], on))
    return ChecksumReport(
        reference=reference.name,
        peer=peer.name,
        chunk_size=chunk_size,
        tables=tuple(results),
        seconds=time.monotonic() - started,
    )


def _tables(server: Server) -> dict[tuple[str, str], int]:
    """``{(schema, table): estimated rows}`` of one server."""
    return {
        (str(r["db"]), str(r["name"])): int(r["est"] or 0) for r in server.query(sql.list_tables())
    }


def _spec(server: Server, schema: str, name: str, estimated: int) -> sql.TableSpec:
    columns = sql.parse_columns(server.query(sql.table_columns(schema, name)))
    key = sql.choose_key(columns, server.query(sql.unique_keys(schema, name)))
    return sql.TableSpec(schema, name, columns, key, estimated)


class _CatchUp:
    """Waits until the peer has applied what the reference has executed *now*.

    Bounded by ``timeout`` per wait. The GTID algebra, not the server-side wait alone,
    decides: MariaDB's ``MASTER_GTID_WAIT`` watches ``gtid_slave_pos``, which lacks the
    peer's own domain. Once a wait has failed (applier stopped, or too far behind), later
    waits of the run only look, so a broken replica costs one timeout, not one per table.
    """

    def __init__(self, reference: Server, peer: Server, timeout: float) -> None:
        self.reference, self.peer, self.timeout = reference, peer, timeout
        self.gave_up = False

    def wait(self) -> bool:
        d = self.peer.dialect
        target_text = _executed(self.reference)
        target = parse_gtid_set(target_text, d.gtid_family)
        deadline = time.monotonic() + self.timeout
        slice_ = max(MIN_WAIT, min(WAIT_SLICE, self.peer.endpoint.read_timeout / 2))
        while not target <= parse_gtid_set(_executed(self.peer), d.gtid_family):
            status = d.parse_replica_status(self.peer.query(d.replica_status()))
            remaining = deadline - time.monotonic()
            if (
                self.gave_up
                or status is None
                or status.sql_state is not ThreadState.RUNNING
                or remaining < MIN_WAIT
            ):
                self.gave_up = True
                return False
            self.peer.query(d.wait_for_gtids(target_text, min(remaining, slice_)))
        return True


def _executed(server: Server) -> str:
    name = server.dialect.executed_gtids_var()
    return server.variables([name]).get(name, "")


class _Walk:
    """One run's walk over tables: both servers, the catch-up, the worker for the peer."""

    def __init__(
        self,
        reference: Server,
        peer: Server,
        chunk_size: int,
        rechecks: int,
        catchup_timeout: float,
        list_limit: int,
        progress: Progress,
    ) -> None:
        self.reference, self.peer = reference, peer
        self.chunk_size, self.rechecks, self.list_limit = chunk_size, rechecks, list_limit
        self.progress = progress
        self.catchup = _CatchUp(reference, peer, catchup_timeout)
        # The peer's statement runs beside the reference's: half the wall time per chunk.
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="checksum-peer")

    def table(
        self, schema: str, name: str, estimates: dict[tuple[str, str], int], on: list[str]
    ) -> TableResult:
        if len(on) == 1:
            return TableResult(schema, name, TableStatus.MISSING, note=f"only on {on[0]}")
        started = time.monotonic()
        try:
            spec = _spec(self.reference, schema, name, estimates.get((schema, name), 0))
            theirs = sql.parse_columns(self.peer.query(sql.table_columns(schema, name)))
            if theirs != spec.columns:
                note = "column definitions differ: " + _column_difference(spec.columns, theirs)
                return TableResult(schema, name, TableStatus.COLUMNS_DIFFER, note=note)
            result = self._walk(spec)
        except MysqlQueryError as exc:  # e.g. dropped meanwhile; unavailability propagates
            for server in (self.reference, self.peer):  # a failed statement closed it
                server.execute(*sql.session_setup())
            return TableResult(schema, name, TableStatus.ERROR, note=str(exc))
        return TableResult(
            schema,
            name,
            TableStatus.DIFFERENT if result.diffs else TableStatus.EQUAL,
            key=spec.key,
            rows=result.rows,
            peer_rows=result.peer_rows,
            chunks=result.chunks,
            rechecked=result.rechecked,
            diffs=tuple(result.diffs),
            caught_up=result.caught_up,
            seconds=time.monotonic() - started,
            note=_note(spec, result.caught_up, self.peer.name),
        )

    def _walk(self, spec: sql.TableSpec) -> _Tally:
        tally = _Tally(caught_up=self.catchup.wait())
        estimated = estimate_chunks(spec.estimated_rows, self.chunk_size, bool(spec.key))
        lower: sql.Key | None = None
        while True:
            upper = self._next_upper(spec, lower)
            chunk = ChunkRange(tally.chunks, lower, upper)
            ours, theirs = self._digest_both(spec, chunk)
            if ours != theirs:
                diff = self._recheck(spec, chunk, ours, theirs, tally)
                if diff is not None:
                    tally.diffs.append(diff)
                    ours, theirs = diff.reference, diff.peer
            tally.add(ours, theirs)
            estimated = max(estimated, tally.chunks + (upper is not None))
            self.progress(
                ChecksumProgress(spec.full_name, tally.chunks, estimated, tally.rows, False)
            )
            if upper is None:
                break
            lower = upper
        self.progress(
            ChecksumProgress(spec.full_name, tally.chunks, tally.chunks, tally.rows, True)
        )
        return tally

    def _next_upper(self, spec: sql.TableSpec, lower: sql.Key | None) -> sql.Key | None:
        if not spec.key:
            return None
        rows = self.reference.query(sql.next_upper(spec, lower, self.chunk_size))
        return sql.key_of(rows[0], len(spec.key)) if rows else None

    def _digest_both(self, spec: sql.TableSpec, chunk: ChunkRange) -> tuple[Digest, Digest]:
        statement = sql.chunk_digest(spec, chunk.lower, chunk.upper)
        theirs = self.pool.submit(_digest, self.peer, statement)
        try:
            ours = _digest(self.reference, statement)
        except BaseException:
            wait([theirs])  # the peer's connection must be idle before anyone reuses it
            raise
        return ours, theirs.result()

    def _recheck(
        self, spec: sql.TableSpec, chunk: ChunkRange, ours: Digest, theirs: Digest, tally: _Tally
    ) -> ChunkDiff | None:
        """Compare a differing chunk again; list the rows of one that keeps differing.
        None when the difference went away: it was lag, or a write racing the reads.

        Each re-check reads the reference, waits for the peer to apply what the reference
        had executed by then, reads the peer, then the reference again. The peer matches
        if it shows either reference state: it holds at least the first, and may already
        hold a write the reference took in between (the second).
        """
        statement = sql.chunk_digest(spec, chunk.lower, chunk.upper)
        tally.rechecked += 1
        for _ in range(self.rechecks):
            ours = _digest(self.reference, statement)
            tally.caught_up &= self.catchup.wait()
            theirs = _digest(self.peer, statement)
            if theirs == ours:
                return None
            later = _digest(self.reference, statement)
            if theirs == later:
                return None
        listable = max(ours.rows, theirs.rows) <= self.list_limit
        rows = self._list_rows(spec, chunk, tally) if listable else None
        if rows == ():  # every row agreed when listed: the writes had settled
            return None
        return ChunkDiff(chunk, ours, theirs, self.rechecks + 1, rows or (), rows is not None)

    def _list_rows(
        self, spec: sql.TableSpec, chunk: ChunkRange, tally: _Tally
    ) -> tuple[RowDiff, ...] | None:
        """The differing rows, read like a re-check (reference, catch-up, peer, reference):
        a row is reported only if the peer's differs from *both* reference reads, so a row
        written between the reads is not mistaken for a difference. None: too many rows."""
        statement = sql.chunk_rows(spec, chunk.lower, chunk.upper, self.list_limit + 1)
        before = self.reference.query(statement)
        tally.caught_up &= self.catchup.wait()
        theirs = self.peer.query(statement)
        after = self.reference.query(statement)
        if max(len(before), len(theirs), len(after)) > self.list_limit:
            return None
        if not spec.key:
            digests = [str(r["h"]) for r in theirs]
            return both_reads(
                classify_unkeyed([str(r["h"]) for r in before], digests),
                classify_unkeyed([str(r["h"]) for r in after], digests),
            )
        width = len(spec.key)
        peer_rows = [(sql.key_of(r, width), str(r["h"])) for r in theirs]
        first = classify_rows(((sql.key_of(r, width), str(r["h"])) for r in before), peer_rows)
        second = classify_rows(((sql.key_of(r, width), str(r["h"])) for r in after), peer_rows)
        return both_reads(first, second)


@dataclass
class _Tally:
    """A table's running totals during its walk (mutable; frozen into ``TableResult``)."""

    caught_up: bool
    chunks: int = 0
    rows: int = 0
    peer_rows: int = 0
    rechecked: int = 0
    diffs: list[ChunkDiff] = field(default_factory=list)

    def add(self, ours: Digest, theirs: Digest) -> None:
        self.chunks += 1
        self.rows += ours.rows
        self.peer_rows += theirs.rows


def _digest(server: Server, statement: Statement) -> Digest:
    row = server.query(statement)[0]
    return Digest(int(row["n"] or 0), int(row["digest"] or 0))


def _note(spec: sql.TableSpec, caught_up: bool, peer: str) -> str:
    notes = [] if spec.key else ["no key: compared whole"]
    if not caught_up:
        notes.append(f"{peer} had not caught up: differences may be replication lag")
    return "; ".join(notes)


def _column_difference(ours: Sequence[sql.Column], theirs: Sequence[sql.Column]) -> str:
    def show(columns: Sequence[sql.Column]) -> str:
        return ", ".join(f"{c.name} {c.column_type}" for c in columns)

    only_ours = [c for c in ours if c not in theirs]
    only_theirs = [c for c in theirs if c not in ours]
    if not only_ours and not only_theirs:
        return "same columns in a different order"
    return f"reference has [{show(only_ours)}], peer has [{show(only_theirs)}]"
