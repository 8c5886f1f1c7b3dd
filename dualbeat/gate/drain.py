"""Drain what clients sent to a destroyed connection before the server could read it.

Why: destroying a socket (``SOCK_DESTROY``) resets the client and purges what the server
would have *sent*, but the bytes the client already sent stay in the server's receive
queue and are still handed to the server's next ``recv``. A frozen mysqld (SIGSTOP, a
stall) that thaws would read the statement a client sent just before the freeze, execute
it and commit it, after the peer has promoted and after the client saw its connection
reset: an in-doubt commit on the old active. So the gate takes a duplicate of each
destroyed socket's descriptor from the server process (``pidfd_getfd``, Linux 5.6+, root)
and reads the queue empty; the server then finds only the connection's error.

A statement the server had already read when it froze still runs when it thaws: no one
outside the process can stop that (``SetReadOnly`` after the thaw races it).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import socket
from dataclasses import dataclass
from pathlib import Path

_SYS_PIDFD_GETFD = 438  # the same number on every architecture (the generic syscall table)
_INODE = re.compile(r"\bino:(\d+)")
_libc = ctypes.CDLL(None, use_errno=True)


@dataclass(frozen=True)
class Owner:
    """The process and descriptor through which a server holds one socket (its inode)."""

    pid: int
    fd: int
    inode: int


def inode(ss_line: str) -> int | None:
    """The socket inode (``ino:``) of an ``ss -e`` line; None when it shows none."""
    found = _INODE.search(ss_line)
    return None if found is None or found[1] == "0" else int(found[1])


def owners(inodes: set[int], proc: Path = Path("/proc")) -> list[Owner]:
    """Who holds each of ``inodes``, read from ``/proc/PID/fd`` (what ``ss -p`` does, but
    only until every inode is found; a connection still in the accept queue has no
    owner). Slow next to the rest of the handoff (tens of ms): run after it."""
    wanted = {f"socket:[{i}]": i for i in inodes}
    found: list[Owner] = []
    for pid_dir in proc.iterdir():
        if not pid_dir.name.isdigit():
            continue
        try:
            fds = list((pid_dir / "fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target in wanted:
                found.append(Owner(int(pid_dir.name), int(fd.name), wanted.pop(target)))
        if not wanted:
            break
    return found


def drain(owner: Owner) -> int:
    """Read the socket's receive queue empty through a duplicate descriptor; the bytes
    removed. Never raises: a process or descriptor gone meanwhile has nothing to drain,
    and a descriptor number reused since it was listed (another inode) is left alone."""
    try:
        pidfd = os.pidfd_open(owner.pid)
    except OSError:
        return 0
    try:
        fd = _libc.syscall(_SYS_PIDFD_GETFD, pidfd, owner.fd, 0)
        if fd < 0:
            return 0
        if os.fstat(fd).st_ino != owner.inode:
            os.close(fd)
            return 0
        removed = 0
        with socket.socket(fileno=fd) as sock:
            sock.setblocking(False)
            with contextlib.suppress(OSError):  # empty (EAGAIN) or the destroy's error
                while chunk := sock.recv(65536):
                    removed += len(chunk)
        return removed
    finally:
        os.close(pidfd)
