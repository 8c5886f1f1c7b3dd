"""A test client that writes through the VIP and logs every attempt, for drills and benchmarks.

Run it where an application would, in the client namespace (``command()`` builds this)::

    ip netns exec client python -m dualbeat_lab.sandbox.writer --host 10.77.0.100 \\
        --user app --password-file F --duration 30 --interval 0.01 --log writes.jsonl

Why it looks like this:

* **Short timeouts** (connect 0.2 s, read/write 0.5 s) and no TLS set-up: otherwise a client
  stuck on a frozen or partitioned server, or rebuilding a TLS context at every reconnect,
  measures itself instead of the failover (PLATFORM.md, "Clients and timing").
* **One JSON line per attempt**, flushed at once: the log is the ground truth for the RTO,
  the longest gap and the lost-write check, and it may be tailed while the writer runs.
* **A new ``seq`` for every attempt**: an INSERT that timed out may have committed, so a
  retry with the same key would turn an unknown outcome into a duplicate. Only an INSERT
  that *returned* is acked; the lost-write check concerns only those.
* ``sent_at`` is taken just before the INSERT goes out (the start of the attempt when no
  connection could be made): "after the fault" means *sent* after it.
* ``server_id`` is asked once per connection: it shows which server took each write.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from types import FrameType
from typing import IO, Any

import pymysql

from dualbeat.errors import MysqlError
from dualbeat.mysql.connection import classify

CONNECT_TIMEOUT = 0.2
READ_TIMEOUT = 0.5
_DUPLICATE_KEY = 1062
_MIN_SETUP_RETRY = 0.05

_CREATE = (
    "CREATE TABLE IF NOT EXISTS writes ("
    " seq BIGINT PRIMARY KEY, sent_at DOUBLE, writer VARCHAR(32)) ENGINE=InnoDB"
)
_TABLE_EXISTS = (
    "SELECT COUNT(*) FROM information_schema.tables"
    " WHERE table_schema = DATABASE() AND table_name = 'writes'"
)
_NEXT_SEQ = "SELECT COALESCE(MAX(seq), 0) + 1 FROM writes"
_SERVER_ID = "SELECT @@server_id"
_INSERT = "INSERT INTO writes (seq, sent_at, writer) VALUES (%s, %s, %s)"


@dataclass(frozen=True)
class WriteRecord:
    """One write attempt as logged: acked only if the INSERT returned."""

    seq: int
    sent_at: float
    acked_at: float | None
    server_id: int | None
    error: str | None

    @property
    def acked(self) -> bool:
        return self.acked_at is not None

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WriteRecord:
        acked, sid, err = data.get("acked_at"), data.get("server_id"), data.get("error")
        return cls(
            seq=int(data["seq"]),
            sent_at=float(data["sent_at"]),
            acked_at=None if acked is None else float(acked),
            server_id=None if sid is None else int(sid),
            error=None if err is None else str(err),
        )


def load_log(path: Path | str) -> list[WriteRecord]:
    """The records of a writer log, in the order written.

    A last line without its newline is a write in progress (the writer is still running)
    and is left out; any other unreadable line is an error.
    """
    text = Path(path).read_text()
    lines = text.split("\n")
    complete = lines[:-1]  # the part after the last newline is empty or still being written
    records = []
    for number, line in enumerate(complete, start=1):
        if not line.strip():
            continue
        try:
            records.append(WriteRecord.from_json(json.loads(line)))
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}:{number}: not a writer record: {exc}") from exc
    return records


def short_error(exc: BaseException) -> str:
    """A one-line description: the kind of failure, the error number and the message."""
    if isinstance(exc, MysqlError):
        kind = type(exc).__name__.removeprefix("Mysql").lower()
        code = f" {exc.code}" if exc.code is not None else ""
        text = f"{kind}{code}: {exc.detail}"
    else:
        text = f"{type(exc).__name__}: {exc}"
    return " ".join(text.split())[:160]


class Writer:
    """Inserts one row per ``interval`` into ``<database>.writes`` and logs every attempt.

    Ticks are on a fixed grid from the start; ticks missed while an attempt hung in a
    timeout are skipped, not caught up in a burst, so the rate after a failover is the
    normal rate.
    """

    def __init__(
        self,
        host: str,
        user: str,
        password: str,
        *,
        port: int = 3306,
        database: str = "app",
        interval: float = 0.01,
        name: str | None = None,
        connect_timeout: float = CONNECT_TIMEOUT,
        read_timeout: float = READ_TIMEOUT,
    ) -> None:
        if interval <= 0:
            raise ValueError("interval must be positive")
        self.interval = interval
        self.name = (name or f"writer-{os.getpid()}")[:32]
        self.database = database
        self.stop_event = threading.Event()
        self.address = f"{host}:{port}"
        # ssl_disabled: PyMySQL 2.x otherwise builds a TLS context (loading the system CA
        # store, 25-45 ms here) for every connection, which would be measured as failover.
        self._params: dict[str, Any] = {
            "host": host, "port": port, "user": user, "password": password,
            "database": database, "connect_timeout": connect_timeout,
            "read_timeout": read_timeout, "write_timeout": read_timeout,
            "autocommit": True, "ssl_disabled": True,
        }  # fmt: skip
        self._conn: pymysql.connections.Connection[Any] | None = None
        self._server_id: int | None = None  # of the current connection
        self._next_seq = 1
        self._resync = True
        self.attempts = 0
        self.acked = 0

    def stop(self) -> None:
        """Ask ``run`` to return after the attempt in progress (safe from a signal handler)."""
        self.stop_event.set()

    def _connect(self) -> pymysql.connections.Connection[Any]:
        """The current connection, opened if needed; a new one learns its server id once."""
        if self._conn is None:
            conn = pymysql.connect(**self._params)
            try:
                with conn.cursor() as cur:
                    cur.execute(_SERVER_ID)
                    row = cur.fetchone()
            except Exception:
                with contextlib.suppress(Exception):
                    conn.close()
                raise
            self._conn, self._server_id = conn, int(row[0]) if row else None
        return self._conn

    def _first(self, sql: str, args: tuple[object, ...] = ()) -> Any:
        """Run ``sql`` on the connection; the first column of its first row (or None)."""
        with self._connect().cursor() as cur:
            cur.execute(sql, args or None)
            row = cur.fetchone()
        return row[0] if row else None

    def _resync_seq(self) -> None:
        """Re-read the next free seq when asked to (at start, after a duplicate key)."""
        if self._resync:
            self._next_seq = max(self._next_seq, int(self._first(_NEXT_SEQ)))
            self._resync = False

    def _forget_connection(self) -> None:
        """Drop the connection after any error: a session that timed out is never reused."""
        conn, self._conn, self._server_id = self._conn, None, None
        if conn is not None:
            with contextlib.suppress(Exception):  # a broken socket has nothing to release
                conn.close()

    def setup(self, deadline: float) -> bool:
        """Create the table if missing, retrying until it works or ``deadline`` (monotonic)."""
        wait = max(self.interval, _MIN_SETUP_RETRY)
        while not self.stop_event.is_set() and time.monotonic() < deadline:
            try:
                if not self._first(_TABLE_EXISTS):
                    self._first(_CREATE)  # only when missing: read_only refuses even a no-op
                self._resync_seq()
                return True
            except (pymysql.err.Error, OSError) as exc:
                err = classify(self.address, exc)
                print(f"writer: setup: {short_error(err)}", file=sys.stderr, flush=True)
                self._forget_connection()
                self.stop_event.wait(wait)
        return False

    def attempt(self) -> WriteRecord:
        """One write: (re)connect, INSERT, and the record saying what happened."""
        self.attempts += 1
        seq, sent_at, server_id = self._next_seq, time.time(), None
        try:
            self._connect()
            self._resync_seq()
            seq, server_id = self._next_seq, self._server_id
            sent_at = time.time()
            self._first(_INSERT, (seq, sent_at, self.name))
            acked_at = time.time()
        except (pymysql.err.Error, OSError) as exc:  # what classify() knows; bugs propagate
            err = classify(self.address, exc)
            if err.code == _DUPLICATE_KEY:  # another writer used this seq: skip past its rows
                self._resync = True
            self._forget_connection()
            return WriteRecord(seq, sent_at, None, server_id, short_error(err))
        finally:
            self._next_seq = seq + 1  # a new seq for every attempt, whatever its outcome
        self.acked += 1
        return WriteRecord(seq, sent_at, acked_at, server_id, None)

    def run(self, duration: float, log: IO[str]) -> bool:
        """Write for ``duration`` seconds (setup included) or until ``stop``; log each attempt.

        Returns False when the table could not be set up before the end (nothing written).
        """
        end = time.monotonic() + duration
        try:
            if not self.setup(end):
                return self.stop_event.is_set()
            tick = time.monotonic()
            while not self.stop_event.is_set():
                now = time.monotonic()
                if now >= end:
                    break
                if tick > now:
                    self.stop_event.wait(min(tick, end) - now)
                    continue
                log.write(self.attempt().to_json() + "\n")
                log.flush()
                tick += self.interval
                now = time.monotonic()
                if tick < now:  # hung in a timeout: resume on the grid, no burst
                    tick += (now - tick) // self.interval * self.interval + self.interval
            return True
        finally:
            self._forget_connection()
            log.flush()


def run(
    host: str,
    user: str,
    password: str,
    duration: float,
    log: Path | str,
    *,
    interval: float = 0.01,
    port: int = 3306,
    database: str = "app",
    name: str | None = None,
    stop: threading.Event | None = None,
) -> Writer:
    """Run a writer in this thread, appending to ``log``; returns it (for its counters).

    ``stop`` lets another thread end the run early.
    """
    writer = Writer(
        host, user, password, port=port, database=database, interval=interval, name=name
    )
    if stop is not None:
        writer.stop_event = stop
    with Path(log).open("a", encoding="utf-8") as out:
        writer.run(duration, out)
    return writer


def command(
    host: str,
    password_file: Path,
    log: Path,
    duration: float,
    *,
    namespace: str = "client",
    user: str = "app",
    interval: float = 0.01,
) -> list[str]:
    """The argv that runs this writer inside ``namespace`` (for ``subprocess.Popen``).

    ``ip netns exec`` execs in place, so the Popen's pid is the writer's: SIGTERM it to stop.
    """
    return [
        "ip", "netns", "exec", namespace, sys.executable, "-m", "dualbeat_lab.sandbox.writer",
        "--host", host, "--user", user, "--password-file", str(password_file),
        "--duration", f"{duration:g}", "--interval", f"{interval:g}", "--log", str(log),
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dualbeat_lab.sandbox.writer",
        description="Write one row per interval through an address and log every attempt.",
    )
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, default=3306)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password-file", type=Path, required=True)
    parser.add_argument("--database", default="app")
    parser.add_argument("--duration", type=float, required=True, help="seconds, setup included")
    parser.add_argument("--interval", type=float, default=0.01)
    parser.add_argument("--name", help="value of the writer column (default writer-PID)")
    parser.add_argument("--log", type=Path, required=True, help="JSON lines, appended")
    args = parser.parse_args(argv)

    password = args.password_file.read_text().strip()
    writer = Writer(args.host, args.user, password, port=args.port, database=args.database,
                    interval=args.interval, name=args.name)  # fmt: skip

    def on_signal(signum: int, frame: FrameType | None) -> None:
        writer.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    with args.log.open("a", encoding="utf-8") as out:
        ready = writer.run(args.duration, out)
    print(
        f"writer {writer.name}: {writer.attempts} attempts, {writer.acked} acked"
        + ("" if ready else f"; could not create {args.database}.writes in time"),
        file=sys.stderr,
        flush=True,
    )
    return 0 if ready else 1


if __name__ == "__main__":
    sys.exit(main())
