"""Rejoin on real data, in the lab: a large table, a node that returns fenced holding lost
writes (in either direction), and ``dualbeat rejoin`` run, timed, or killed at a step.

Shared by ``tests/integration/test_rejoin_large.py`` and ``bench/resync.py``.

Why the table is filled on both servers with their binary logs off: replicating 200 MB of
row events would take longer than the rest of the test; the same deterministic
``INSERT ... SELECT`` from MariaDB's sequence engine on each side gives identical data
(the checksum after every rejoin proves it) without a single GTID.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dualbeat.mysql.connection import Server
from dualbeat.mysql.dialect import Statement
from dualbeat_lab.errors import SandboxError
from dualbeat_lab.sandbox import agents, faults, lab, mariadb
from dualbeat_lab.sandbox.lab import LabInfo

ROW_BYTES = 1000  # the pad column: about 1 KB of data per row
CHUNK_ROWS = 20_000


def sql(info: LabInfo, node: str, *statements: str) -> list[dict[str, Any]]:
    """Run statements as root on ``node`` (its socket); the last one's rows."""
    rows: list[dict[str, Any]] = []
    with Server(info.node(node).root_endpoint()) as server:
        for text in statements:
            rows = server.query(Statement(text))
    return rows


def wait(condition: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SandboxError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.2)


def fill(info: LabInfo, megabytes: int) -> float:
    """``app.big`` with about ``megabytes`` MB of rows on both servers, unlogged; returns
    the seconds it took (both servers in parallel)."""
    rows = megabytes * (1 << 20) // ROW_BYTES
    errors: list[BaseException] = []

    def one(node: str) -> None:
        try:
            with Server(mariadb.root_endpoint(info.lab, node, read_timeout=600.0)) as server:
                server.query(Statement("SET SESSION sql_log_bin = 0"))
                server.query(Statement("DROP TABLE IF EXISTS app.big"))
                server.query(
                    Statement(
                        "CREATE TABLE app.big (id BIGINT PRIMARY KEY, "
                        f"pad VARCHAR({ROW_BYTES}) NOT NULL) ENGINE=InnoDB"
                    )
                )
                for first in range(1, rows + 1, CHUNK_ROWS):
                    last = min(rows, first + CHUNK_ROWS - 1)
                    server.query(
                        Statement(
                            "INSERT INTO app.big SELECT seq, REPEAT(CHAR(65 + seq % 26), "
                            f"{ROW_BYTES - 10}) FROM app.seq_{first}_to_{last}"
                        )
                    )
        except BaseException as exc:  # reported by the caller's thread
            errors.append(exc)

    started = time.monotonic()
    threads = [threading.Thread(target=one, args=(n.name,)) for n in info.nodes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return time.monotonic() - started


def lose_writes(info: LabInfo, rows: int, tag: str) -> tuple[str, str]:
    """The active writes ``rows`` rows that its peer never receives, dies (kill -9), the
    peer takes over, and the old active returns fenced. Returns (fenced, new active).

    The rows go into ``app.lost_<tag>``, created first and replicated, so every lost
    change is a row change of a table both servers have (the flashback's case)."""
    old = agents.settled(info)
    if old is None:
        raise SandboxError("no settled active node to take the lost writes")
    new = next(n.name for n in info.nodes if n.name != old)
    table = f"app.lost_{tag}"
    sql(info, old, f"CREATE TABLE {table} (id INT PRIMARY KEY, v VARCHAR(40)) ENGINE=InnoDB")
    wait(lambda: sql(info, new, f"SHOW TABLES FROM app LIKE 'lost_{tag}'"), 30, f"{table} on {new}")
    for node in (old, new):  # old's commits must neither wait for new nor reach it
        sql(
            info,
            node,
            "SET GLOBAL rpl_semi_sync_master_enabled = OFF",
            "SET GLOBAL rpl_semi_sync_slave_enabled = OFF",
        )
    sql(info, new, "STOP SLAVE SQL_THREAD")
    values = ", ".join(f"({i}, 'lost {tag} {i}')" for i in range(1, rows + 1))
    sql(
        info,
        old,
        f"INSERT INTO {table} VALUES {values}",
        f"UPDATE {table} SET v = 'x' WHERE id = 1",
    )
    faults.kill_mysqld(info.lab, old)
    wait(lambda: agents.settled(info) == new, 60, f"{new} to take over")
    lab.server(info.lab.state_dir, old, "start")
    wait(lambda: _role(info, old) == "fenced", 60, f"{old} to come back fenced")
    return old, new


def _role(info: LabInfo, node: str) -> str | None:
    status = agents.status(info, node)
    return None if status is None else str(status["role"])


@dataclass(frozen=True)
class Run:
    code: int | None  # None: killed
    output: str
    seconds: float
    lines: tuple[tuple[float, str], ...] = ()  # (seconds since the start, line)

    def at(self, text: str) -> float | None:
        """When the first line holding ``text`` came out (None: never)."""
        return next((s for s, line in self.lines if text in line), None)


def rejoin(info: LabInfo, node: str, *args: str, kill_at: str | None = None,
           kill_after: float = 0.0, timeout: float = 900.0) -> Run:  # fmt: skip
    """``dualbeat rejoin NODE ARGS`` where NODE's agent runs; with ``kill_at``, the whole
    command (and the tools it runs) is killed with SIGKILL ``kill_after`` seconds after a
    line of its output contains that text."""
    argv = ["ip", "netns", "exec", node, sys.executable, "-m", "dualbeat", "rejoin", node,
            *args, "-c", str(info.config_path)]  # fmt: skip
    env = {**os.environ, "COLUMNS": "200"}
    started = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True, env=env)  # fmt: skip
    assert proc.stdout is not None
    lines: list[tuple[float, str]] = []
    killed = False
    timer = threading.Timer(timeout, lambda: os.killpg(proc.pid, signal.SIGKILL))
    timer.start()
    try:
        for line in proc.stdout:
            lines.append((time.monotonic() - started, line))
            if kill_at is not None and kill_at in line:
                time.sleep(kill_after)
                killed = proc.poll() is None
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                break
        proc.wait()
    finally:
        timer.cancel()
    text = "".join(line for _, line in lines)
    return Run(None if killed else proc.returncode, text, time.monotonic() - started, tuple(lines))


def replicating_both_ways(info: LabInfo) -> bool:
    for node in info.nodes:
        status = sql(info, node.name, "SHOW SLAVE STATUS")
        if not status or (status[0]["Slave_IO_Running"], status[0]["Slave_SQL_Running"]) != (
            "Yes",
            "Yes",
        ):
            return False
    return True
