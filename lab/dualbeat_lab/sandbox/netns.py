"""Network namespaces, veths and bridges through iproute2, plus pid safety.

Why ``ip`` through subprocess rather than netlink: this is the lab, not the agent; the
commands are the ones an operator would type to inspect or repair it, and every failure is
reported with the exact command and its stderr.

Why the pid checks: pids wrap (``pid_max`` is 32768 on these machines), so a pid file left
by a killed run may name an unrelated process by the next day. A pid is only *ours* if it is
alive, not a zombie, and its network namespace is one the sandbox created.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from dualbeat_lab.errors import SandboxError

NETNS_DIR = Path("/run/netns")
_IP_TIMEOUT = 15.0
_POLL = 0.05

# Processes spawned by this Python process, so their exit status is collected (no zombies)
# and ``subprocess`` does not warn about them.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def _run(argv: Sequence[str], *, check: bool = True, timeout: float = _IP_TIMEOUT) -> str:
    """Run a command, return stdout; a failure becomes a SandboxError naming the command."""
    cmd = " ".join(argv)
    try:
        proc = subprocess.run(
            list(argv), capture_output=True, text=True, timeout=timeout, check=False
        )
    except FileNotFoundError as exc:
        raise SandboxError(f"{cmd}: {argv[0]} not found (install iproute2)") from exc
    except subprocess.TimeoutExpired as exc:
        raise SandboxError(f"{cmd}: no answer within {timeout:g} s") from exc
    if check and proc.returncode != 0:
        detail = proc.stderr.strip() or proc.stdout.strip() or f"exit status {proc.returncode}"
        raise SandboxError(f"{cmd}: {detail}")
    return proc.stdout


def ip(*args: str, ns: str | None = None, check: bool = True) -> str:
    """``ip [-n NS] ARGS...``; returns stdout."""
    return _run(["ip", *(("-n", ns) if ns else ()), *args], check=check)


def run_in(
    ns: str, argv: Sequence[str], *, check: bool = True, timeout: float = 30.0
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` inside namespace ``ns`` and wait; a failure becomes a SandboxError."""
    full = ["ip", "netns", "exec", ns, *argv]
    try:
        proc = subprocess.run(full, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise SandboxError(f"{' '.join(full)}: no answer within {timeout:g} s") from exc
    if check and proc.returncode != 0:
        detail = proc.stderr.strip() or proc.stdout.strip() or f"exit status {proc.returncode}"
        raise SandboxError(f"{' '.join(full)}: {detail}")
    return proc


def spawn_in(ns: str, argv: Sequence[str], log: Path) -> int:
    """Start ``argv`` detached inside ``ns`` (own session, output appended to ``log``).

    ``ip netns exec`` execs the command in place, so the returned pid is the program's own.
    """
    return spawn(["ip", "netns", "exec", ns, *argv], log)


def spawn(argv: Sequence[str], log: Path) -> int:
    """Start ``argv`` detached where we are (own session, output appended to ``log``)."""
    with log.open("ab") as out:
        try:
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            raise SandboxError(f"cannot start {' '.join(argv)}: {exc}") from exc
    _CHILDREN[proc.pid] = proc
    return proc.pid


# --- namespaces -------------------------------------------------------------------------


def namespace_exists(name: str) -> bool:
    """True when ``/run/netns/NAME`` is a live namespace mount (not a leftover empty file)."""
    return os.path.ismount(NETNS_DIR / name)


def ensure_namespace(name: str) -> bool:
    """Create namespace ``name`` with ``lo`` up; returns True if it had to be created."""
    created = False
    if not namespace_exists(name):
        stale = NETNS_DIR / name
        if stale.exists():  # a file without its mount: left by a crash half-way through add
            stale.unlink()
        ip("netns", "add", name)
        created = True
    ip("link", "set", "lo", "up", ns=name)
    return created


def delete_namespace(name: str) -> bool:
    """Delete namespace ``name`` if present (its veths go with it); True if it existed."""
    path = NETNS_DIR / name
    if namespace_exists(name):
        ip("netns", "delete", name)
        return True
    if path.exists():
        path.unlink()
    return False


def list_namespaces() -> list[str]:
    """Names from ``ip netns list`` (the first word of each line)."""
    out = ip("netns", "list")
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def namespace_inode(name: str) -> tuple[int, int] | None:
    """(device, inode) of the namespace ``name``, or None if it does not exist."""
    if not namespace_exists(name):
        return None
    try:
        st = os.stat(NETNS_DIR / name)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def namespace_pids(name: str) -> list[int]:
    """Pids of processes whose network namespace is ``name`` (``ip netns pids``)."""
    if not namespace_exists(name):
        return []
    out = ip("netns", "pids", name, check=False)
    return [int(w) for w in out.split() if w.isdigit()]


# --- links --------------------------------------------------------------------------------


def link_exists(ns: str, ifname: str) -> bool:
    return bool(ip("-o", "link", "show", "dev", ifname, ns=ns, check=False).strip())


def ensure_bridge(ns: str, name: str) -> None:
    """A bridge ``name`` in ``ns``, up, without STP (ports forward at once)."""
    if not link_exists(ns, name):
        ip("link", "add", name, "type", "bridge", "stp_state", "0", ns=ns)
    ip("link", "set", name, "up", ns=ns)


def ensure_veth(
    host_ns: str, ifname: str, *, switch_ns: str, peer: str, bridge: str, cidr: str
) -> None:
    """A veth ``ifname`` in ``host_ns`` with address ``cidr``, its ``peer`` on ``bridge``.

    Both ends are created directly in their namespaces, so no name ever appears on the
    host. A half pair left by a killed run (one end missing) is removed and rebuilt.
    """
    have_host = link_exists(host_ns, ifname)
    have_peer = link_exists(switch_ns, peer)
    if not (have_host and have_peer):
        if have_host:
            ip("link", "delete", ifname, ns=host_ns)
        if have_peer:
            ip("link", "delete", peer, ns=switch_ns)
        ip(
            "link", "add", ifname, "netns", host_ns,
            "type", "veth", "peer", "name", peer, "netns", switch_ns,
        )  # fmt: skip
    ip("link", "set", peer, "master", bridge, ns=switch_ns)
    ip("link", "set", peer, "up", ns=switch_ns)
    ip("addr", "replace", cidr, "dev", ifname, ns=host_ns)
    ip("link", "set", ifname, "up", ns=host_ns)


def addresses(ns: str) -> dict[str, list[str]]:
    """IPv4 addresses per interface in ``ns`` ({} if the namespace is absent)."""
    if not namespace_exists(ns):
        return {}
    raw: list[dict[str, Any]] = json.loads(ip("-j", "-4", "addr", "show", ns=ns) or "[]")
    result: dict[str, list[str]] = {}
    for link in raw:
        addrs = [f"{a['local']}/{a['prefixlen']}" for a in link.get("addr_info", [])]
        if addrs:
            result[str(link["ifname"])] = addrs
    return result


# --- pids ---------------------------------------------------------------------------------


def _reap(pid: int) -> None:
    """Collect the exit status of our own child ``pid`` if it has ended."""
    proc = _CHILDREN.get(pid)
    if proc is not None and proc.poll() is not None:
        del _CHILDREN[pid]


def process_state(pid: int) -> str | None:
    """The kernel's one-letter state of ``pid`` (R, S, T for stopped, Z...), None if gone."""
    if pid <= 0:
        return None
    _reap(pid)
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The state follows the parenthesised command name, which may itself contain ")".
    end = stat.rfind(")")
    return stat[end + 2 : end + 3] or None


def pid_alive(pid: int) -> bool:
    """True if ``pid`` exists and is not a zombie (an orphan's zombie may never be reaped
    here: pid 1 of these containers does not collect them)."""
    return process_state(pid) not in (None, "Z", "X")


def is_ours(pid: int, namespaces: Iterable[str]) -> bool:
    """True if ``pid`` is alive and lives in one of ``namespaces`` (compared by inode)."""
    if not pid_alive(pid):
        return False
    try:
        st = os.stat(f"/proc/{pid}/ns/net")
    except OSError:
        return False
    own = {namespace_inode(ns) for ns in namespaces}
    return (st.st_dev, st.st_ino) in own


def read_pid(path: Path) -> int | None:
    """The pid in a pid file, or None if the file is missing or garbled."""
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def wait_gone(pid: int, deadline: float) -> bool:
    """Poll until ``pid`` is gone or ``time.monotonic()`` passes ``deadline``."""
    while pid_alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(_POLL)
    return True


def signal_pid(pid: int, sig: signal.Signals) -> bool:
    """Send ``sig``; False if the process has already gone."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return False
    return True


def stop_pid(pid: int, timeout: float = 30.0) -> bool:
    """SIGTERM, wait up to ``timeout``, then SIGKILL; True if it stopped before the SIGKILL.

    A SIGCONT follows the SIGTERM so that a frozen (SIGSTOPped) process can act on it.
    The caller must have checked ``is_ours`` first.
    """
    if not signal_pid(pid, signal.SIGTERM):
        return True
    signal_pid(pid, signal.SIGCONT)
    if wait_gone(pid, time.monotonic() + timeout):
        return True
    signal_pid(pid, signal.SIGKILL)
    if not wait_gone(pid, time.monotonic() + 10.0):
        raise SandboxError(f"pid {pid} survived SIGKILL for 10 s")
    return False
