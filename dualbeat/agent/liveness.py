"""The local server's process, seen from the kernel: gone, stopped, in I/O, or running.

Why: a failed probe alone cannot tell a dead server from a slow one. The process table
can. A server whose process is gone is dead for sure, and one stopped (SIGSTOP, a
debugger) answers nobody until someone resumes it: the monitor confirms either within
milliseconds (``Observers``). A process stuck in uninterruptible I/O (``D``) or running
normally is judged on a continuous failure window instead, at the usual interval, so a
busy server is never failed over on a blip.

The pid is found once from the kernel's socket table (``ss -l -p``: the process listening
on the MySQL port; no pid file, no SQL) and remembered with its start time, so a pid
reused by another process after a restart is never taken for the server.
"""

from __future__ import annotations

import enum
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

_PID = re.compile(r"pid=(\d+)")


class ProcessState(enum.Enum):
    GONE = "gone"  # no such process (or another one under the same pid)
    STOPPED = "stopped"  # T/t: stopped by a signal or a tracer
    DISK = "disk"  # D: uninterruptible I/O
    RUNNING = "running"  # R/S/I...: alive, scheduled normally
    UNKNOWN = "unknown"  # the pid was never found (a socket-only server, no permission)

    @property
    def conclusive(self) -> bool:
        """Whether a failed probe with the process in this state needs no further window."""
        return self in (ProcessState.GONE, ProcessState.STOPPED)


@dataclass(frozen=True)
class _Known:
    pid: int
    started: int  # field 22 of /proc/PID/stat, in clock ticks since boot


def _stat(pid: int) -> tuple[str, int] | None:
    """(state letter, start time) of ``pid``, or None when it does not exist."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()  # the name in parentheses may hold spaces
    return fields[0], int(fields[19])


class ServerProcess:
    """The process listening on ``port`` in this network namespace."""

    def __init__(self, port: int, timeout: float = 1.0) -> None:
        self.port, self.timeout = port, timeout
        self._known: _Known | None = None

    @property
    def pid(self) -> int | None:
        return None if self._known is None else self._known.pid

    def find(self) -> int | None:
        """Look the listener up (a subprocess, ~10 ms: called after a healthy probe when
        the process is not known or no longer the one remembered)."""
        try:
            out = subprocess.run(
                ["ss", "-l", "-t", "-n", "-p", "-H", f"sport = :{self.port}"],
                capture_output=True,
                text=True,
                timeout=self.timeout,
                check=False,
            ).stdout
        except (OSError, subprocess.TimeoutExpired):
            return None
        found = _PID.search(out)
        stat = None if found is None else _stat(int(found[1]))
        if found is None or stat is None:
            self._known = None
            return None
        self._known = _Known(int(found[1]), stat[1])
        return self._known.pid

    def state(self) -> ProcessState:
        """The remembered process's state now (reads one /proc file)."""
        if self._known is None:
            return ProcessState.UNKNOWN
        stat = _stat(self._known.pid)
        if stat is None or stat[1] != self._known.started or stat[0] in "ZX":
            return ProcessState.GONE
        if stat[0] in "Tt":
            return ProcessState.STOPPED
        if stat[0] == "D":
            return ProcessState.DISK
        return ProcessState.RUNNING

    def forget(self) -> None:
        """Drop the remembered process (it is gone: the next ``find`` looks again)."""
        self._known = None
