"""Rebuild a fenced node from the active: save its binary logs, copy the active's data
onto it, and restart its GTID history at the copy's position.

Why a logical copy (``mariadb-dump | mariadb``): it needs nothing but the two servers'
SQL ports and the family's own client tools, works across hosts, file systems and minor
versions, and shows progress as a byte count; a physical copy (``mariabackup``) is faster
for large data but needs the data directory and a stopped server on the node. The copy
runs ``--single-transaction`` on the active (InnoDB tables: no lock held while copying) and
records the active's binary-log position at that snapshot; the load runs with the node's
binary log off (``sql_log_bin=0``), so the copy is never replicated back.

Why the GTID history restarts (``Dialect.restart_history``): after the copy the node holds
exactly the active's data at the position, and must forget its own lost transactions (or
it would look errant and be fenced again) and ask the active for what came after.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from dualbeat.errors import MysqlQueryError, UsageError
from dualbeat.mysql import tools
from dualbeat.mysql.connection import Server
from dualbeat.rejoin import sql

__all__ = [
    "Copy",
    "PositionScan",
    "copy_data",
    "data_size",
    "databases",
    "dump_position",
    "save_binlogs",
]

_CHUNK = 1 << 16
# The statement that names the copy's GTID position, at the start of a line: MariaDB's
# ``-- SET GLOBAL gtid_slave_pos='...'`` (10.11 prints it at the *end* of the dump), MySQL's
# ``SET @@GLOBAL.GTID_PURGED=/*!80000 '+'*/ '...'`` (its set may span lines).
_STARTS = {
    "mariadb": re.compile(rb"(?:--\s*)?SET\s+GLOBAL\s+gtid_slave_pos\s*=", re.IGNORECASE),
    "mysql": re.compile(rb"(?:--\s*|/\*\s*)?SET\s+@@GLOBAL\.GTID_PURGED\s*=", re.IGNORECASE),
}
_VALUE = re.compile(rb"=\s*(?:/\*!\d+\s*'\+'\s*\*/\s*)?'([^']*)'")
_DECIDE = 64  # bytes of a line that tell whether it starts the position statement
_LONGEST_STATEMENT = 1 << 20  # no GTID position is longer; a longer "statement" is data


@dataclass(frozen=True)
class Copy:
    databases: tuple[str, ...]
    position: str  # the active's GTID position the copy was taken at
    bytes: int


class PositionScan:
    """Finds the dump's GTID position statement wherever the dump writes it, as the dump
    streams by, in bounded memory.

    Only a statement that begins a line counts: the dump's data never begins a line (the
    dump escapes newlines inside strings), so a look-alike inside a row is ignored. Kept
    in memory: the head of the current line until it is known not to start the statement
    (``_DECIDE`` bytes), and the statement itself. Where the dump names a position twice
    the last one wins.
    """

    def __init__(self, family: str) -> None:
        self._start = _STARTS["mariadb" if family == "mariadb" else "mysql"]
        self._line = bytearray()  # the current line's head, or the statement being read
        self._skip = False  # the rest of the current line cannot hold the statement
        self._in_statement = False
        self.position: str | None = None

    def feed(self, chunk: bytes) -> None:
        pos = 0
        while pos < len(chunk):
            newline = chunk.find(b"\n", pos)
            end = len(chunk) if newline < 0 else newline + 1
            if not self._skip:
                self._line += chunk[pos:end]
                self._check(line_ended=newline >= 0)
            if newline >= 0 and not self._in_statement:
                self._line.clear()
                self._skip = False
            pos = end

    def _check(self, line_ended: bool) -> None:
        if not self._in_statement:
            if self._start.match(self._line) is None:
                if line_ended or len(self._line) >= _DECIDE:
                    self._line.clear()
                    self._skip = not line_ended
                return
            self._in_statement = True
        found = _VALUE.search(self._line)
        if found is not None:
            self.position = "".join(found.group(1).decode("utf-8", "replace").split())
        if found is not None or len(self._line) > _LONGEST_STATEMENT:
            self._in_statement = False
            self._line.clear()
            self._skip = not line_ended


def dump_position(text: str, family: str) -> str | None:
    """The GTID position a dump was taken at, wherever in ``text`` the dump states it."""
    scan = PositionScan(family)
    scan.feed(text.encode())
    return scan.position


def _tail(stream: IO[bytes]) -> str:
    stream.seek(0)
    return " ".join(stream.read().decode("utf-8", "replace").split())[-600:]


def save_binlogs(server: Server, files: tuple[str, ...], dest: Path, timeout: float) -> list[Path]:
    """Byte-exact copies of ``files`` of ``server``'s binary logs in ``dest`` (replayable
    with ``mariadb-binlog``/``mysqlbinlog``), read over the replication protocol."""
    dest.mkdir(parents=True, exist_ok=True, mode=0o700)
    flavor = server.dialect.version.flavor
    program = tools.find_tool("binlog", flavor, "the discarded transactions are saved with it")
    with tools.option_file(server.endpoint) as options, tempfile.TemporaryFile() as err:
        argv = [
            program, *tools.connection_args(server.endpoint, options, flavor),
            "--read-from-remote-server", "--raw", f"--result-file={dest}/", *files,
        ]  # fmt: skip
        try:
            code = subprocess.run(argv, stderr=err, timeout=timeout, check=False).returncode
        except subprocess.TimeoutExpired as exc:
            raise MysqlQueryError(
                server.name, f"saving the binary logs took > {timeout:g} s"
            ) from exc
        if code != 0:
            raise MysqlQueryError(server.name, f"saving the binary logs failed: {_tail(err)}")
    saved = [dest / f for f in files]
    if missing := [p.name for p in saved if not p.exists()]:
        raise MysqlQueryError(server.name, f"saving the binary logs left out {missing}")
    return saved


def databases(server: Server) -> tuple[str, ...]:
    """``server``'s non-system databases (what a copy moves)."""
    return tuple(str(r["name"]) for r in server.query(sql.user_schemas()))


def _estimate(server: Server, databases: tuple[str, ...]) -> int:
    rows = server.query(sql.data_size(databases))
    return int(str(rows[0]["n"])) if rows else 0


def data_size(server: Server) -> int:
    """The bytes of data in ``server``'s non-system databases (what a copy moves)."""
    names = databases(server)
    return _estimate(server, names) if names else 0


def copy_data(
    source: Server, target: Server, progress: Callable[[int, int], None] = lambda _d, _t: None
) -> Copy:
    """Copy every non-system database of ``source`` onto ``target`` (dropping and
    re-creating each there), unlogged on ``target``. ``progress(done, estimate)`` gets the
    bytes streamed so far and the source's data size (a dump is text: it may exceed it)."""
    flavor = source.dialect.version.flavor
    family = source.dialect.gtid_family
    names = databases(source)
    if not names:
        raise UsageError(f"{source.name} has no databases to copy")
    estimate = _estimate(source, names)
    dump_tool = tools.find_tool("dump", flavor, "the node is rebuilt with it")
    client_tool = tools.find_tool("client", flavor, "the copy is loaded with it")
    position_flags = (
        ["--master-data=2", "--gtid"] if family == "mariadb" else ["--set-gtid-purged=COMMENTED"]
    )
    with (
        tools.option_file(source.endpoint) as src_opts,
        tools.option_file(target.endpoint) as dst_opts,
        tempfile.TemporaryFile() as dump_err,
        tempfile.TemporaryFile() as load_err,
    ):
        dump = subprocess.Popen(
            [
                dump_tool, *tools.connection_args(source.endpoint, src_opts, flavor),
                "--single-transaction", *position_flags, "--routines", "--events", "--triggers",
                "--hex-blob", "--add-drop-database", "--databases", *names,
            ],
            stdout=subprocess.PIPE, stderr=dump_err,
        )  # fmt: skip
        loader = [client_tool, *tools.connection_args(target.endpoint, dst_opts, flavor)]
        load = subprocess.Popen(
            [*loader, "--binary-mode"],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=load_err,
        )  # fmt: skip
        assert dump.stdout is not None and load.stdin is not None
        pump = _Pump(dump.stdout, load.stdin, lambda n: progress(n, estimate), family)
        thread = threading.Thread(target=pump.run, name="copy", daemon=True)
        thread.start()
        thread.join()
        dumped, loaded = dump.wait(), load.wait()
        if loaded != 0 or pump.error:  # first: a dead loader also kills the dump (EPIPE)
            detail = _tail(load_err) or pump.error
            raise MysqlQueryError(target.name, f"loading the copy failed: {detail}")
        if dumped != 0:
            raise MysqlQueryError(source.name, f"the dump failed: {_tail(dump_err)}")
    position = pump.scan.position
    if position is None:
        raise MysqlQueryError(source.name, "the dump does not say which GTID position it holds")
    return Copy(names, position, pump.done)


class _Pump:
    """Streams the dump into the loader, unlogged, finding its GTID position on the way
    (``scan``) and counting bytes."""

    def __init__(
        self,
        src: IO[bytes],
        dst: IO[bytes],
        progress: Callable[[int], None],
        family: str,
    ) -> None:
        self.src, self.dst, self.progress = src, dst, progress
        self.scan = PositionScan(family)
        self.done = 0
        self.error = ""

    def run(self) -> None:
        try:
            self.dst.write(sql.LOAD_PROLOGUE)
            while chunk := self.src.read(_CHUNK):
                self.scan.feed(chunk)
                self.dst.write(chunk)
                self.done += len(chunk)
                self.progress(self.done)
        except OSError as exc:  # the loader died: its stderr says why
            self.error = str(exc)
        finally:
            self.src.close()
            try:
                self.dst.close()
            except OSError as exc:
                self.error = self.error or str(exc)
