"""Read the transactions of a GTID set from a server's binary logs, with the server's tool.

``read_transactions(server, wanted)`` lists the binary logs (``SHOW BINARY LOGS``), skips
the files that begin after every wanted transaction was already logged (each file's first
events carry the GTID state at its start: MariaDB's ``Gtid_list``, MySQL's
``Previous_gtids``), runs ``mariadb-binlog``/``mysqlbinlog --read-from-remote-server
--base64-output=DECODE-ROWS --verbose`` over the rest, and keeps the wanted transactions
while the output streams (``binlog.text``), so a large log costs time, not memory.

Why the tool and not our own binlog client: it decodes every event version and column
type of its own server family; we only read its stable ``-v`` text. Why remotely: the
command may run on any host that reaches the server, with an ordinary account
(MariaDB: ``REPLICATION SLAVE`` and ``BINLOG MONITOR``; MySQL: ``REPLICATION SLAVE`` and
``REPLICATION CLIENT``), and never needs the data directory.

The password goes to the tool in a temporary option file (``dualbeat.mysql.tools``).
The tool runs with ``TZ=UTC`` (its header dates are local time) and a timeout; its
failures become ``dualbeat.errors``: access denied is ``MysqlMisconfigured``, an
unreachable server ``MysqlUnavailable``, a missing tool ``UsageError``.
"""

from __future__ import annotations

import bisect
import os
import subprocess
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from dualbeat.core.gtid import GtidParseError, GtidSet, MariadbGtidSet, parse_gtid_set
from dualbeat.errors import (
    MysqlError,
    MysqlMisconfigured,
    MysqlQueryError,
    MysqlUnavailable,
    UsageError,
)
from dualbeat.mysql import tools
from dualbeat.mysql.binlog.text import BinlogParser, Gtid, Transaction
from dualbeat.mysql.connection import Endpoint, Server
from dualbeat.mysql.dialect import Flavor, Statement
from dualbeat.mysql.replica_status import to_str

__all__ = ["BinlogRead", "first_needed", "read_transactions", "tool_command"]

DEFAULT_TIMEOUT = 300.0
_START_EVENTS = ("Gtid_list", "Previous_gtids")
_DENIED = ("access denied", "command denied", "privilege", "error 1045", "error 1227")
_UNREACHABLE = ("can't connect", "lost connection", "gone away", "timed out", "unknown host")


@dataclass(frozen=True)
class BinlogRead:
    """What the logs gave: the wanted transactions in log order, the files read, the tool,
    and ``unread``: wanted GTIDs no file holds (purged, or not logged at all)."""

    transactions: tuple[Transaction, ...]
    files: tuple[str, ...]
    tool: str
    unread: GtidSet


# --- which files --------------------------------------------------------------------------


def list_binlogs(server: Server) -> list[str]:
    """The server's binary log files, oldest first."""
    rows = server.query(Statement("SHOW BINARY LOGS"))
    return [to_str(r.get("Log_name")) for r in rows]


def start_state(server: Server, file: str) -> GtidSet | None:
    """The GTIDs logged before ``file`` began (None when its first events do not say)."""
    rows = server.query(Statement("SHOW BINLOG EVENTS IN %s LIMIT 4", (file,)))
    family = server.dialect.gtid_family
    for row in rows:
        if to_str(row.get("Event_type")) in _START_EVENTS:
            text = to_str(row.get("Info")).strip().removeprefix("[").removesuffix("]")
            try:
                return parse_gtid_set(text, family)
            except GtidParseError:
                return None
    return None


def first_needed(states: Sequence[GtidSet | None], wanted: GtidSet) -> int:
    """Index of the first file to read: the newest one known to have begun before any
    wanted transaction was logged (states only grow, so every later file began after
    one). A file whose state is unknown is never the reason to skip older files; when
    even the oldest file began after some wanted transaction, that part was purged and
    is reported unread."""
    index = 0
    for i, state in enumerate(states):
        if state is None:
            continue
        if state & wanted:
            break
        index = i
    return index


# --- which transactions -----------------------------------------------------------------


def _membership(wanted: GtidSet) -> Callable[[Gtid], bool]:
    """A fast ``gtid in wanted`` over merged intervals (bisect), without expanding them."""
    table: dict[str, list[tuple[int, int]]] = {}
    if isinstance(wanted, MariadbGtidSet):
        for domain, start, end in wanted.intervals():
            table.setdefault(str(domain), []).append((start, end))
    else:
        for uuid, tag, start, end in wanted.intervals():
            table.setdefault(f"{uuid}:{tag}" if tag else uuid, []).append((start, end))

    def contains(gtid: Gtid) -> bool:
        intervals = table.get(gtid.source.lower())
        if not intervals:
            return False
        i = bisect.bisect_right(intervals, (gtid.seq, float("inf"))) - 1
        return i >= 0 and intervals[i][0] <= gtid.seq <= intervals[i][1]

    return contains


def _found_set(transactions: Sequence[Transaction], family: str) -> GtidSet:
    texts = [t.gtid.alone for t in transactions]
    return parse_gtid_set(",".join(texts), "mariadb" if family == "mariadb" else "mysql")


# --- the tool -----------------------------------------------------------------------------


def tool_command(
    tool: str, endpoint: Endpoint, options: Path, files: Sequence[str], flavor: Flavor
) -> list[str]:
    """The argv (the option file must come first: the tools insist)."""
    return [
        tool, *tools.connection_args(endpoint, options, flavor), "--read-from-remote-server",
        "--base64-output=DECODE-ROWS", "--verbose", *files,
    ]  # fmt: skip


def _failure(node: str, code: int, stderr: str) -> MysqlError:
    detail = " ".join(stderr.split())[-600:] or f"exit status {code}"
    low = detail.lower()
    if any(word in low for word in _DENIED):
        return MysqlMisconfigured(
            node,
            f"reading the binary logs was refused: {detail} (check the password; the "
            "account needs REPLICATION SLAVE and BINLOG MONITOR / REPLICATION CLIENT)",
        )
    if any(word in low for word in _UNREACHABLE):
        return MysqlUnavailable(node, f"reading the binary logs failed: {detail}")
    return MysqlQueryError(node, f"reading the binary logs failed: {detail}")


def _run(argv: list[str], node: str, timeout: float, parser: BinlogParser) -> None:
    """Run the tool, feeding its stdout to ``parser`` line by line, within ``timeout``."""
    env = {**os.environ, "TZ": "UTC", "LC_ALL": "C"}
    with tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err, env=env)
        except OSError as exc:
            raise UsageError(f"cannot run {argv[0]}: {exc}") from exc
        expired = threading.Event()

        def kill() -> None:
            expired.set()
            proc.kill()

        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            assert proc.stdout is not None
            for raw in proc.stdout:
                parser.feed(raw.decode("utf-8", errors="surrogateescape"))
            code = proc.wait()
        finally:
            timer.cancel()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        err.seek(0)
        stderr = err.read().decode("utf-8", errors="replace")
    if expired.is_set():
        raise MysqlUnavailable(node, f"reading the binary logs took longer than {timeout:g} s")
    if code != 0:
        raise _failure(node, code, stderr)


def read_transactions(
    server: Server,
    wanted: GtidSet,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    tool: str | None = None,
) -> BinlogRead:
    """The transactions of ``wanted`` from ``server``'s binary logs (see the module doc)."""
    dialect = server.dialect
    family = dialect.gtid_family
    empty = parse_gtid_set("", family)
    if wanted.is_empty():
        return BinlogRead((), (), tool or "", empty)
    files = list_binlogs(server)
    if not files:
        return BinlogRead((), (), tool or "", wanted)
    states = [start_state(server, f) for f in files]
    files = files[first_needed(states, wanted) :]
    program = tool or tools.find_tool(
        "binlog", dialect.version.flavor, "the rejoin analysis reads the binary logs with it"
    )
    parser = BinlogParser(files[0], _membership(wanted))
    with tools.option_file(server.endpoint) as options:
        argv = tool_command(program, server.endpoint, options, files, dialect.version.flavor)
        _run(argv, server.endpoint.describe(), timeout, parser)
    found = parser.close()
    unread = wanted - _found_set(found, family) if found else wanted
    return BinlogRead(tuple(found), tuple(files), program, unread)
