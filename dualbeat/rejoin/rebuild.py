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

__all__ = ["Copy", "copy_data", "dump_position", "save_binlogs"]

_CHUNK = 1 << 16
_HEADER = 1 << 20  # the position is in the dump's first lines
_MARIADB_POSITION = re.compile(r"gtid_slave_pos\s*=\s*'([^']*)'", re.IGNORECASE)
_MYSQL_POSITION = re.compile(r"GTID_PURGED\s*=\s*(?:/\*!\d+\s*'\+'\s*\*/\s*)?'([^']*)'", re.I)


@dataclass(frozen=True)
class Copy:
    databases: tuple[str, ...]
    position: str  # the active's GTID position the copy was taken at
    bytes: int


def dump_position(header: str, family: str) -> str | None:
    """The GTID position a dump was taken at, from its header comments."""
    pattern = _MARIADB_POSITION if family == "mariadb" else _MYSQL_POSITION
    found = pattern.search(header)
    return None if found is None else "".join(found.group(1).split())


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


def _databases(server: Server) -> tuple[str, ...]:
    return tuple(str(r["name"]) for r in server.query(sql.user_schemas()))


def _estimate(server: Server, databases: tuple[str, ...]) -> int:
    rows = server.query(sql.data_size(databases))
    return int(str(rows[0]["n"])) if rows else 0


def copy_data(
    source: Server, target: Server, progress: Callable[[int, int], None] = lambda _d, _t: None
) -> Copy:
    """Copy every non-system database of ``source`` onto ``target`` (dropping and
    re-creating each there), unlogged on ``target``. ``progress(done, estimate)`` gets the
    bytes streamed so far and the source's data size (a dump is text: it may exceed it)."""
    flavor = source.dialect.version.flavor
    family = source.dialect.gtid_family
    databases = _databases(source)
    if not databases:
        raise UsageError(f"{source.name} has no databases to copy")
    estimate = _estimate(source, databases)
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
                "--hex-blob", "--add-drop-database", "--databases", *databases,
            ],
            stdout=subprocess.PIPE, stderr=dump_err,
        )  # fmt: skip
        loader = [client_tool, *tools.connection_args(target.endpoint, dst_opts, flavor)]
        load = subprocess.Popen(
            [*loader, "--binary-mode"],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=load_err,
        )  # fmt: skip
        assert dump.stdout is not None and load.stdin is not None
        pump = _Pump(dump.stdout, load.stdin, lambda n: progress(n, estimate))
        thread = threading.Thread(target=pump.run, name="copy", daemon=True)
        thread.start()
        thread.join()
        dumped, loaded = dump.wait(), load.wait()
        if loaded != 0 or pump.error:  # first: a dead loader also kills the dump (EPIPE)
            detail = _tail(load_err) or pump.error
            raise MysqlQueryError(target.name, f"loading the copy failed: {detail}")
        if dumped != 0:
            raise MysqlQueryError(source.name, f"the dump failed: {_tail(dump_err)}")
    position = dump_position(pump.header.decode("utf-8", "replace"), family)
    if position is None:
        raise MysqlQueryError(source.name, "the dump does not say which GTID position it holds")
    return Copy(databases, position, pump.done)


class _Pump:
    """Streams the dump into the loader, unlogged, keeping the header and a byte count."""

    def __init__(self, src: IO[bytes], dst: IO[bytes], progress: Callable[[int], None]) -> None:
        self.src, self.dst, self.progress = src, dst, progress
        self.header = b""
        self.done = 0
        self.error = ""

    def run(self) -> None:
        try:
            self.dst.write(sql.LOAD_PROLOGUE)
            while chunk := self.src.read(_CHUNK):
                if len(self.header) < _HEADER:
                    self.header += chunk[: _HEADER - len(self.header)]
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
