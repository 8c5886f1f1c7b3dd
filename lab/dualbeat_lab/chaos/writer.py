"""One chaos writer: inserts through the VIP and logs each attempt with its server and epoch.

Run several, each in its own process in the client namespace (``command()`` builds the
argv). It differs from ``dualbeat_lab.sandbox.writer`` in three ways the checker needs:

* **its own key space**: rows are keyed ``(writer, seq)`` in ``app.chaos_writes``, so
  writers never collide and a writer never reuses a key (its ``seq`` only grows, one per
  attempt), even after a failover to a server that lacks its latest rows; a lost write
  can then never be "found" because another write reused its key;
* **the epoch**: before each INSERT the writer reads ``dualbeat.epoch`` on the same
  connection (the epoch of the promotion that made this server writable), so the checker
  can group acknowledged writes by (server, epoch) and compare those periods;
* ``sent_at``/``acked_at`` around the INSERT alone, so an acknowledged write's interval
  brackets its commit.

Connection handling, timeouts and error classification are the sandbox writer's
(``CONNECT_TIMEOUT``/``READ_TIMEOUT``, ``classify``, ``short_error``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from types import FrameType
from typing import IO, Any

import pymysql

from dualbeat.mysql.connection import classify
from dualbeat_lab.sandbox.writer import CONNECT_TIMEOUT, READ_TIMEOUT, short_error

TABLE = "chaos_writes"
CREATE = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} (writer VARCHAR(32) NOT NULL, seq BIGINT NOT NULL,"
    " sent_at DOUBLE NOT NULL, epoch BIGINT NULL, PRIMARY KEY (writer, seq)) ENGINE=InnoDB"
)
_SERVER_ID = "SELECT @@server_id"
_EPOCH = "SELECT epoch FROM dualbeat.epoch WHERE id = 1"
_NEXT_SEQ = f"SELECT COALESCE(MAX(seq), 0) + 1 FROM {TABLE} WHERE writer = %s"
_INSERT = f"INSERT INTO {TABLE} (writer, seq, sent_at, epoch) VALUES (%s, %s, %s, %s)"


@dataclass(frozen=True)
class Attempt:
    """One write attempt as logged; acknowledged only if ``acked_at`` is set."""

    writer: str
    seq: int
    sent_at: float
    acked_at: float | None
    server_id: int | None
    epoch: int | None
    error: str | None

    @property
    def acked(self) -> bool:
        return self.acked_at is not None

    @property
    def key(self) -> tuple[str, int]:
        return (self.writer, self.seq)

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Attempt:
        def opt(name: str, kind: type[int] | type[float] | type[str]) -> Any:
            value = data.get(name)
            return None if value is None else kind(value)

        return cls(
            writer=str(data["writer"]),
            seq=int(data["seq"]),
            sent_at=float(data["sent_at"]),
            acked_at=opt("acked_at", float),
            server_id=opt("server_id", int),
            epoch=opt("epoch", int),
            error=opt("error", str),
        )


def load_log(path: Path) -> list[Attempt]:
    """The attempts of one writer log; a last line without its newline is still being written."""
    if not path.exists():
        return []
    attempts = []
    for number, line in enumerate(path.read_text().split("\n")[:-1], start=1):
        if line.strip():
            try:
                attempts.append(Attempt.from_json(json.loads(line)))
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{path}:{number}: not a chaos writer record: {exc}") from exc
    return attempts


class ChaosWriter:
    """Writes one row per ``interval`` (fixed grid, missed ticks skipped) until stopped."""

    def __init__(
        self, host: str, user: str, password: str, name: str, *, interval: float = 0.02
    ) -> None:
        self.name = name[:32]
        self.interval = interval
        self.stop_event = threading.Event()
        self.address = f"{host}:3306"
        self._params: dict[str, Any] = {
            "host": host, "port": 3306, "user": user, "password": password,
            "database": "app", "connect_timeout": CONNECT_TIMEOUT,
            "read_timeout": READ_TIMEOUT, "write_timeout": READ_TIMEOUT,
            "autocommit": True, "ssl_disabled": True,
        }  # fmt: skip
        self._conn: pymysql.connections.Connection[Any] | None = None
        self._server_id: int | None = None
        self._next_seq: int | None = None  # read once from the table, then only grows

    def _first(self, sql: str, args: tuple[object, ...] = ()) -> Any:
        if self._conn is None:
            conn = pymysql.connect(**self._params)
            self._conn = conn
            with conn.cursor() as cur:
                cur.execute(_SERVER_ID)
                row = cur.fetchone()
            self._server_id = int(row[0]) if row else None
        with self._conn.cursor() as cur:
            cur.execute(sql, args or None)
            row = cur.fetchone()
        return row[0] if row else None

    def _forget(self) -> None:
        conn, self._conn, self._server_id = self._conn, None, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    def attempt(self) -> Attempt:
        """Connect if needed, read the epoch, INSERT; the record of what happened."""
        sent_at, server_id, epoch = time.time(), None, None
        seq = self._next_seq or 0
        try:
            if self._next_seq is None:  # the table is created by the chaos run's setup
                self._next_seq = int(self._first(_NEXT_SEQ, (self.name,)))
            seq = self._next_seq
            raw = self._first(_EPOCH)
            epoch, server_id = (None if raw is None else int(raw)), self._server_id
            sent_at = time.time()
            self._first(_INSERT, (self.name, seq, sent_at, epoch))
            acked_at = time.time()
        except (pymysql.err.Error, OSError) as exc:
            self._forget()
            return Attempt(self.name, seq, sent_at, None, server_id, epoch, short_error(
                classify(self.address, exc)
            ))  # fmt: skip
        finally:
            if self._next_seq is not None and seq == self._next_seq:
                self._next_seq = seq + 1  # a fresh key for every attempt that got one
        return Attempt(self.name, seq, sent_at, acked_at, server_id, epoch, None)

    def run(self, duration: float, log: IO[str]) -> None:
        end = time.monotonic() + duration
        tick = time.monotonic()
        try:
            while not self.stop_event.is_set() and time.monotonic() < end:
                now = time.monotonic()
                if tick > now:
                    self.stop_event.wait(tick - now)
                    continue
                log.write(self.attempt().to_json() + "\n")
                log.flush()
                tick += self.interval
                now = time.monotonic()
                if tick < now:  # hung in a timeout: back on the grid, no burst
                    tick += (now - tick) // self.interval * self.interval + self.interval
        finally:
            self._forget()


def command(
    host: str, password_file: Path, name: str, log: Path, duration: float, interval: float
) -> list[str]:
    """The argv running one writer in the client namespace (SIGTERM stops it cleanly)."""
    return [
        "ip", "netns", "exec", "client", sys.executable, "-m", "dualbeat_lab.chaos.writer",
        "--host", host, "--password-file", str(password_file), "--name", name,
        "--log", str(log), "--duration", f"{duration:g}", "--interval", f"{interval:g}",
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dualbeat_lab.chaos.writer",
        description="Insert one row per interval into app.chaos_writes; log every attempt.",
    )
    parser.add_argument("--host", required=True)
    parser.add_argument("--user", default="app")
    parser.add_argument("--password-file", type=Path, required=True)
    parser.add_argument("--name", required=True, help="this writer's key space")
    parser.add_argument("--log", type=Path, required=True, help="JSON lines, appended")
    parser.add_argument("--duration", type=float, required=True)
    parser.add_argument("--interval", type=float, default=0.02)
    args = parser.parse_args(argv)
    password = args.password_file.read_text().strip()
    writer = ChaosWriter(args.host, args.user, password, args.name, interval=args.interval)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        writer.stop_event.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    with args.log.open("a", encoding="utf-8") as out:
        writer.run(args.duration, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
