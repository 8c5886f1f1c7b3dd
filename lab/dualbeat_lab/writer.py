"""The lab's one writer client: writes through an address and logs every attempt, for drills,
benches and chaos.

Run it where an application would, in the client namespace (``command()`` builds this)::

    ip netns exec client python -m dualbeat_lab.writer --host 10.77.0.100 \\
        --user app --password-file F --duration 30 --interval 0.01 --log writes.jsonl

Why it looks like this:

* **Connection profiles** (``Profile``): ``tight`` (connect 0.5 s, read 2 s; the default) and
  ``driver-defaults`` (connect 10 s, no read timeout) are what applications run with; the
  benches measure with them, because a timeout shorter than the users' hides what they
  suffer (a client blocked on a frozen server). ``test-bounds`` (connect 0.2 s, read 0.5 s)
  is for tests only: a test must never wait on a timeout it does not study.
* **Two key spaces** (``KeySpace``): ``shared`` rows in ``app.writes`` keyed by ``seq`` (the
  drills and ``present_seqs``), and ``per-writer`` rows in ``app.chaos_writes`` keyed
  ``(writer, seq)`` with the ``dualbeat.epoch`` read on the same connection before each
  INSERT, so several chaos writers never collide and the checker can group writes by
  (server, epoch).
* **One JSON line per attempt**, flushed at once: the log is the ground truth for the RTO,
  the longest gap and the lost-write check, and it may be tailed while the writer runs.
* **A new ``seq`` for every attempt**: an INSERT that timed out may have committed, so a
  retry with the same key would turn an unknown outcome into a duplicate. Only an INSERT
  that *returned* is acked; the lost-write check concerns only those.
* ``sent_at`` is taken just before the INSERT goes out (the start of the attempt when no
  connection could be made): "after the fault" means *sent* after it.
* ``server_id`` is asked once per connection: it shows which server took each write.
* SIGTERM ends the run at once when the writer waits (on the server, where without a read
  timeout it could wait for ever, or between ticks), else after the line being logged; an
  attempt cut off while it waited on the server is not logged. The handler takes no lock:
  a ``threading.Event.set()`` from a handler deadlocks when the signal lands while the
  main thread holds that Event's lock inside its own ``wait()`` (a CI run hung so).
"""

from __future__ import annotations

import argparse
import contextlib
import enum
import json
import os
import signal
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from types import FrameType
from typing import IO, Any

import pymysql

from dualbeat.errors import MysqlError
from dualbeat.mysql.connection import classify

_DUPLICATE_KEY = 1062
_MIN_SETUP_RETRY = 0.05


class Profile(enum.Enum):
    """How long the client waits: to connect, and for an answer (None: for ever)."""

    TIGHT = "tight"
    DRIVER_DEFAULTS = "driver-defaults"
    TEST_BOUNDS = "test-bounds"

    @property
    def connect_timeout(self) -> float:
        return {"tight": 0.5, "driver-defaults": 10.0, "test-bounds": 0.2}[self.value]

    @property
    def read_timeout(self) -> float | None:
        return {"tight": 2.0, "driver-defaults": None, "test-bounds": 0.5}[self.value]


BENCH_PROFILES = (Profile.TIGHT, Profile.DRIVER_DEFAULTS)  # what applications run with


class KeySpace(enum.Enum):
    """Which table the writer fills, and how its rows are keyed."""

    SHARED = "shared"  # app.writes, keyed by seq: one writer (drills)
    PER_WRITER = "per-writer"  # app.chaos_writes, keyed (writer, seq), epoch read per write

    @property
    def table(self) -> str:
        return "writes" if self is KeySpace.SHARED else "chaos_writes"


CHAOS_TABLE = KeySpace.PER_WRITER.table
_CREATE = {
    KeySpace.SHARED: "CREATE TABLE IF NOT EXISTS writes ("
    " seq BIGINT PRIMARY KEY, sent_at DOUBLE, writer VARCHAR(32)) ENGINE=InnoDB",
    KeySpace.PER_WRITER: f"CREATE TABLE IF NOT EXISTS {CHAOS_TABLE} (writer VARCHAR(32) NOT NULL,"
    " seq BIGINT NOT NULL, sent_at DOUBLE NOT NULL, epoch BIGINT NULL,"
    " PRIMARY KEY (writer, seq)) ENGINE=InnoDB",
}
CHAOS_CREATE = _CREATE[KeySpace.PER_WRITER]
_TABLE_EXISTS = (
    "SELECT COUNT(*) FROM information_schema.tables"
    " WHERE table_schema = DATABASE() AND table_name = %s"
)
_NEXT_SEQ = {
    KeySpace.SHARED: "SELECT COALESCE(MAX(seq), 0) + 1 FROM writes",
    KeySpace.PER_WRITER: f"SELECT COALESCE(MAX(seq), 0) + 1 FROM {CHAOS_TABLE} WHERE writer = %s",
}
_INSERT = {
    KeySpace.SHARED: "INSERT INTO writes (writer, seq, sent_at) VALUES (%s, %s, %s)",
    KeySpace.PER_WRITER: f"INSERT INTO {CHAOS_TABLE} (writer, seq, sent_at, epoch)"
    " VALUES (%s, %s, %s, %s)",
}
_SERVER_ID = "SELECT @@server_id"
_EPOCH = "SELECT epoch FROM dualbeat.epoch WHERE id = 1"


@dataclass(frozen=True)
class WriteRecord:
    """One write attempt as logged: acked only if the INSERT returned."""

    seq: int
    sent_at: float
    acked_at: float | None
    server_id: int | None
    error: str | None
    writer: str = ""
    epoch: int | None = None  # per-writer key space only

    @property
    def acked(self) -> bool:
        return self.acked_at is not None

    @property
    def key(self) -> tuple[str, int]:
        return (self.writer, self.seq)

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WriteRecord:
        def opt(name: str, kind: type[int] | type[float] | type[str]) -> Any:
            value = data.get(name)
            return None if value is None else kind(value)

        return cls(
            seq=int(data["seq"]),
            sent_at=float(data["sent_at"]),
            acked_at=opt("acked_at", float),
            server_id=opt("server_id", int),
            error=opt("error", str),
            writer=str(data.get("writer", "")),
            epoch=opt("epoch", int),
        )


def load_log(path: Path | str) -> list[WriteRecord]:
    """The records of a writer log in the order written; none when it does not exist yet.

    A last line without its newline is a write in progress (the writer is still running)
    and is left out; any other unreadable line is an error naming the file and line.
    """
    path = Path(path)
    if not path.exists():
        return []
    records = []
    for number, line in enumerate(path.read_text().split("\n")[:-1], start=1):
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


class Interrupted(BaseException):
    """Raised by the SIGTERM handler into a writer that waits on the server (not an Exception:
    nothing on the way may swallow it)."""


class Writer:
    """Inserts one row per ``interval`` and logs every attempt.

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
        keys: KeySpace = KeySpace.SHARED,
        profile: Profile = Profile.TIGHT,
    ) -> None:
        if interval <= 0:
            raise ValueError("interval must be positive")
        self.interval = interval
        self.name = (name or f"writer-{os.getpid()}")[:32]
        self.keys = keys
        self.stopping = False  # set by stop(); a plain flag, safe from a signal handler
        self.waiting = False  # in a server call or a pause: a stop may cut it short
        self.address = f"{host}:{port}"
        # ssl_disabled: PyMySQL 2.x otherwise builds a TLS context (loading the system CA
        # store, 25-45 ms here) for every connection, which would be measured as failover.
        self._params: dict[str, Any] = {
            "host": host, "port": port, "user": user, "password": password,
            "database": database, "connect_timeout": profile.connect_timeout,
            "read_timeout": profile.read_timeout, "write_timeout": profile.read_timeout,
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
        self.stopping = True

    def _pause(self, seconds: float) -> None:
        """Sleep, marked as waiting so that a stop signal ends the sleep at once."""
        self.waiting = True
        try:
            time.sleep(seconds)
        finally:
            self.waiting = False

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
            args = (self.name,) if self.keys is KeySpace.PER_WRITER else ()
            self._next_seq = max(self._next_seq, int(self._first(_NEXT_SEQ[self.keys], args)))
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
        while not self.stopping and time.monotonic() < deadline:
            self.waiting = True
            try:
                if not self._first(_TABLE_EXISTS, (self.keys.table,)):
                    self._first(_CREATE[self.keys])  # only when missing: read_only refuses it
                self._resync_seq()
                return True
            except (pymysql.err.Error, OSError) as exc:
                err = classify(self.address, exc)
                print(f"writer: setup: {short_error(err)}", file=sys.stderr, flush=True)
                self._forget_connection()
            finally:
                self.waiting = False
            self._pause(wait)
        return False

    def attempt(self) -> WriteRecord:
        """One write: (re)connect, (read the epoch,) INSERT, and the record of what happened."""
        self.attempts += 1
        seq, sent_at, server_id, epoch = self._next_seq, time.time(), None, None
        self.waiting = True
        try:
            self._connect()
            self._resync_seq()
            seq, server_id = self._next_seq, self._server_id
            if self.keys is KeySpace.PER_WRITER:
                raw = self._first(_EPOCH)
                epoch = None if raw is None else int(raw)
            sent_at = time.time()
            row = (self.name, seq, sent_at) + ((epoch,) if self.keys is KeySpace.PER_WRITER else ())
            self._first(_INSERT[self.keys], row)
            acked_at = time.time()
        except (pymysql.err.Error, OSError) as exc:  # what classify() knows; bugs propagate
            err = classify(self.address, exc)
            if err.code == _DUPLICATE_KEY:  # another writer used this seq: skip past its rows
                self._resync = True
            self._forget_connection()
            return WriteRecord(seq, sent_at, None, server_id, short_error(err), self.name, epoch)
        finally:
            self.waiting = False
            self._next_seq = seq + 1  # a new seq for every attempt, whatever its outcome
        self.acked += 1
        return WriteRecord(seq, sent_at, acked_at, server_id, None, self.name, epoch)

    def run(self, duration: float, log: IO[str]) -> bool:
        """Write for ``duration`` seconds (setup included) or until ``stop``; log each attempt.

        Returns False when the table could not be set up before the end (nothing written).
        """
        end = time.monotonic() + duration
        try:
            if not self.setup(end):
                return self.stopping
            tick = time.monotonic()
            while not self.stopping:
                now = time.monotonic()
                if now >= end:
                    break
                if tick > now:
                    self._pause(min(tick, end) - now)
                    continue
                log.write(self.attempt().to_json() + "\n")
                log.flush()
                tick += self.interval
                now = time.monotonic()
                if tick < now:  # hung in a timeout: resume on the grid, no burst
                    tick += (now - tick) // self.interval * self.interval + self.interval
            return True
        except Interrupted:
            return True
        finally:
            self._forget_connection()
            log.flush()


def command(
    host: str,
    password_file: Path,
    log: Path,
    duration: float,
    *,
    namespace: str = "client",
    user: str = "app",
    interval: float = 0.01,
    name: str | None = None,
    keys: KeySpace = KeySpace.SHARED,
    profile: Profile = Profile.TIGHT,
) -> list[str]:
    """The argv that runs a writer inside ``namespace`` (for ``subprocess.Popen``).

    ``ip netns exec`` execs in place, so the Popen's pid is the writer's: SIGTERM it to stop.
    """
    return [
        "ip", "netns", "exec", namespace, sys.executable, "-m", "dualbeat_lab.writer",
        "--host", host, "--user", user, "--password-file", str(password_file),
        "--duration", f"{duration:g}", "--interval", f"{interval:g}", "--log", str(log),
        "--keys", keys.value, "--profile", profile.value,
        *(["--name", name] if name else []),
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dualbeat_lab.writer",
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
    parser.add_argument(
        "--keys",
        choices=[k.value for k in KeySpace],
        default="shared",
        help="shared (app.writes, by seq) or per-writer (app.chaos_writes)",
    )
    parser.add_argument("--profile", choices=[p.value for p in Profile], default="tight",
                        help="connection timeouts (default: tight)")  # fmt: skip
    args = parser.parse_args(argv)

    password = args.password_file.read_text().strip()
    writer = Writer(args.host, args.user, password, port=args.port, database=args.database,
                    interval=args.interval, name=args.name, keys=KeySpace(args.keys),
                    profile=Profile(args.profile))  # fmt: skip

    def on_signal(signum: int, frame: FrameType | None) -> None:
        writer.stop()
        if writer.waiting:  # maybe on a server with no read timeout: do not wait it out
            raise Interrupted

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    with args.log.open("a", encoding="utf-8") as out:
        ready = writer.run(args.duration, out)
    print(
        f"writer {writer.name}: {writer.attempts} attempts, {writer.acked} acked"
        + ("" if ready else f"; could not create {args.database}.{writer.keys.table} in time"),
        file=sys.stderr,
        flush=True,
    )
    return 0 if ready else 1


if __name__ == "__main__":
    sys.exit(main())
