"""Where in the binary log the client gate was shut: commits there acknowledged no client.

Why: a frozen mysqld that thaws finishes the statements it had read before it froze, and
may commit one before the agent makes it read-only, after the peer promoted. That is an
in-doubt write (its client saw its connection reset), and it fences the node as a write
the active lacks. It was committed while the gate was shut: every client connection was
destroyed before the commit (its acknowledgement could reach no one) and no new one could
be made. So it is not a lost write, and the node may discard it by itself
(``ops.rejoin.auto_resolve``) instead of waiting for an operator.

How it is known which transactions those are: once the gate has destroyed the client
connections (and drained them), the size of the server's current binary log is taken from
the file itself, through the server process's open descriptors (``/proc/PID/fd``: no SQL,
so a frozen server is no obstacle). Every byte past that size was written after the
destroy. When the gate opens again, the file's size is taken again. A transaction that
starts within ``[start, end)`` of that file was committed while the gate was shut; the
file must still be the same one (its inode and its first bytes, which hold the time it
was created: a ``RESET MASTER`` makes a new file under the old name, maybe on the same
inode). A window that spans a rotation counts only its first file; one still open counts
for nothing.

A window also reaches back before ``start`` when the semi-sync counters prove it
(``gate.acks``): a transaction of the same file before ``start`` and not in
``unacked_after`` (a probe's executed GTID set) was still waiting for the standby's
acknowledgement when the gate shut, so no client was told it committed either (the
commit caught by a link that went down).

The scope is the gate's (``ruleset``): clients that connect over the network. A client on
the database host itself, on the unix socket, is not cut off by the gate, and a statement
of its committed in a window would be taken for in-doubt too; clients of an HA pair
connect through the VIP.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TypeVar

from dualbeat.core.gtid import GtidParseError, parse_gtid_set

FILE_NAME = "gate-windows.json"
#: Windows kept: the newest ones; a node is fenced for the last one or two.
KEEP = 8
_SEQUENCE = re.compile(r"\.(\d{6,})$")
log = logging.getLogger("dualbeat.gate")
_T = TypeVar("_T")


@dataclass(frozen=True)
class Window:
    """``[start, end)`` of one binary-log file (by path and identity) written while the gate
    was shut; ``end`` None while the gate is still shut. ``unacked_after``: the executed
    GTID set after which every transaction before ``start`` was still waiting for its
    acknowledgement when the gate shut (``gate.acks``); None when nothing proves it."""

    path: str
    identity: str  # the file's inode and first bytes (``file_identity``)
    start: int
    end: int | None = None
    unacked_after: str | None = None

    def holds(self, file: str, position: int | None, gtid: str) -> bool:
        """Whether transaction ``gtid``, starting at ``position`` of binary log ``file``
        (its name, as the server lists it), was acknowledged to no client by this window:
        written while the gate was shut, or before, still waiting for its acknowledgement
        when it shut; the file being still the same one."""
        if (
            self.end is None
            or position is None
            or position >= self.end
            or os.path.basename(self.path) != os.path.basename(file)
        ):
            return False
        if position < self.start and (
            self.unacked_after is None or _within(gtid, self.unacked_after)
        ):
            return False
        return file_identity(self.path) == self.identity


def _within(gtid: str, gtids: str) -> bool:
    """Whether transaction ``gtid`` is in the set ``gtids``; True when either does not
    parse (then the transaction is not claimed: the safe side)."""
    # Here, not at the top: the agent loads the binary-log reader only for a rejoin.
    from dualbeat.mysql.binlog.text import Gtid

    found = Gtid.from_text(gtid)
    if found is None:
        return True
    try:
        return parse_gtid_set(found.alone, found.family).issubset(
            parse_gtid_set(gtids, found.family)
        )
    except (GtidParseError, TypeError):
        return True


def current_binlog(pid: int, base: str, proc: Path = Path("/proc")) -> tuple[str, str, int] | None:
    """(path, identity, size) of the newest binary log that process ``pid`` holds open, the
    one named ``base`` (``@@log_bin_basename``) plus a sequence number; None when none
    is (no such process, no permission, binary logging off)."""
    newest: tuple[int, str] | None = None
    try:
        fds = list((proc / str(pid) / "fd").iterdir())
    except OSError:
        return None
    for fd in fds:
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        found = _SEQUENCE.search(target)
        if found and target[: found.start()] == base:
            number = int(found[1])
            if newest is None or number > newest[0]:
                newest = (number, target)
    if newest is None:
        return None
    identity = file_identity(newest[1])
    if identity is None:
        return None
    return newest[1], identity, os.stat(newest[1]).st_size


#: The magic number, the format description event's header (with its timestamp: when the
#: file was created) and the start of its body.
_HEAD = 32


def file_identity(path: str) -> str | None:
    """``inode:first bytes in hex`` of the file at ``path`` (None: no such file)."""
    try:
        with open(path, "rb") as f:
            return f"{os.fstat(f.fileno()).st_ino}:{f.read(_HEAD).hex()}"
    except OSError:
        return None


class Windows:
    """The windows of one node, kept in ``STATE_DIR/gate-windows.json`` (the automatic
    rejoin reads them, possibly after the agent restarted). Only the agent that shut the
    gate knows whether it stayed shut: a window left open in the file by an earlier run
    is dropped, never closed (``Recorder``)."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / FILE_NAME

    def load(self) -> list[Window]:
        """The windows saved; none when the file is missing or unreadable (then nothing
        counts as in-doubt: the safe side)."""
        try:
            items = json.loads(self.path.read_text())
            return [Window(**item) for item in items]
        except (OSError, ValueError, TypeError):
            return []

    def closed(self) -> list[Window]:
        return [w for w in self.load() if w.end is not None]

    def open(self, pid: int, base: str, unacked_after: str | None = None) -> Window | None:
        """Open a window at the end of ``pid``'s current binary log; None when the file
        cannot be found."""
        found = current_binlog(pid, base)
        if found is None:
            return None
        window = Window(*found, unacked_after=unacked_after)
        self._save([*self.closed(), window][-KEEP:])
        return window

    def close(self) -> Window | None:
        """Close the open window at its file's size now; dropped when the file is gone
        or was replaced meanwhile. The closed window, or None."""
        windows = self.load()
        if not windows or windows[-1].end is not None:
            return None
        last = windows[-1]
        if file_identity(last.path) != last.identity:
            self._save(windows[:-1])
            return None
        closed = replace(last, end=os.stat(last.path).st_size)
        self._save([*windows[:-1], closed])
        return closed

    def drop_open(self) -> None:
        windows = self.load()
        if windows and windows[-1].end is None:
            self._save(windows[:-1])

    def _save(self, windows: list[Window]) -> None:
        """Atomically (a torn file would read as no window: safe, but the windows lost)."""
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps([asdict(w) for w in windows], indent=1) + "\n")
        os.replace(tmp, self.path)


class Recorder:
    """What the gate calls, each under the gate's lock: ``opened`` after shut number
    ``shut`` destroyed (and drained) the connections of server process ``pid``, at
    ``at`` (monotonic), while that shut still holds; ``closing`` before the gate opens.
    ``binlog_base``: the server's ``@@log_bin_basename`` as last probed (None: not known
    yet, nothing is recorded); ``unacked_after``: what the semi-sync counters prove for
    a shut at a time (``gate.acks``); ``on_open``: told of each window opened (the agent
    tells its core)."""

    def __init__(
        self,
        windows: Windows,
        binlog_base: Callable[[], str | None],
        on_open: Callable[[Window], None] = lambda _w: None,
        unacked_after: Callable[[float], str | None] = lambda _at: None,
    ) -> None:
        self.windows, self.binlog_base, self.on_open = windows, binlog_base, on_open
        self.unacked_after = unacked_after
        self._shut: int | None = None  # the shut whose window is open in the file
        self._guard(self.windows.drop_open, "an earlier run's open window")

    def opened(self, pid: int, shut: int, at: float) -> None:
        base = self.binlog_base()
        if base is None or self._shut == shut:
            return
        unacked = self.unacked_after(at)
        window = self._guard(lambda: self.windows.open(pid, base, unacked), "in-doubt window")
        if window is not None:
            self._shut = shut
            log.info(
                "client gate shut at %s:%d%s",
                window.path,
                window.start,
                "" if unacked is None else f"; commits waiting for an ack after {unacked}",
            )
            self.on_open(window)

    def closing(self) -> None:
        if self._shut is None:
            self._guard(self.windows.drop_open, "a stale open window")
            return
        self._shut = None
        window = self._guard(self.windows.close, "in-doubt window")
        if window is not None:
            log.info("client gate opens at %s:%s", window.path, window.end)

    def _guard(self, step: Callable[[], _T], what: str) -> _T | None:
        """Run a step on the file; on failure remove it (an open window that could not be
        closed must never be closed later, over a time the gate was open)."""
        try:
            return step()
        except OSError as exc:
            log.warning("%s: %s; in-doubt windows dropped", what, exc)
            with contextlib.suppress(OSError):
                self.windows.path.unlink()
            return None
