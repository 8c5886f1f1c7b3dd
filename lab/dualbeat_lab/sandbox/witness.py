"""The witness host's etcd: the arbiter of labs built with ``arbiter=True``.

Debian's ``etcd-server`` binary, one member, listening for clients on the witness's two
addresses (LAN and heartbeat network, so either network alone reaches it) and for peers on
its loopback only. Its data directory lives under the sandbox state dir, so ``down``
removes it; its pid file is found and stopped by ``lab.down`` like every other.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from dualbeat_lab.errors import SandboxError
from dualbeat_lab.sandbox import netns
from dualbeat_lab.sandbox.layout import Lab
from dualbeat_lab.sandbox.probe import http_probe

READY_TIMEOUT = 30.0
_PEER_URL = "http://127.0.0.1:2380"


@dataclass(frozen=True)
class WitnessPaths:
    root: Path

    @property
    def data(self) -> Path:
        return self.root / "etcd"

    @property
    def pid_file(self) -> Path:
        return self.root / "etcd.pid"

    @property
    def log(self) -> Path:
        return self.root / "etcd.log"


def paths(lab: Lab) -> WitnessPaths:
    return WitnessPaths(lab.node_paths(_name(lab)).root)


def _name(lab: Lab) -> str:
    if lab.witness is None:
        raise SandboxError(
            "this sandbox has no witness (build it with: dualbeat sandbox up --arbiter)"
        )
    return lab.witness.name


def etcd_binary() -> str:
    found = shutil.which("etcd") or shutil.which("etcd", path="/usr/bin:/usr/sbin")
    if found is None:
        raise SandboxError(
            "etcd not found: apt-get install etcd-server (or run scripts/install-deps)"
        )
    return found


def running_pid(lab: Lab) -> int | None:
    """The witness's etcd pid, if one the sandbox started is alive in the witness namespace."""
    if lab.witness is None:
        return None
    pid = netns.read_pid(paths(lab).pid_file)
    return pid if pid is not None and netns.is_ours(pid, (lab.witness.name,)) else None


def health(lab: Lab, timeout: float = 1.0) -> dict[str, tuple[bool, str]]:
    """``GET /health`` on every client URL, from inside the witness namespace."""
    urls = [f"{e}/health" for e in lab.arbiter_endpoints]
    return http_probe(_name(lab), urls, timeout=timeout)


def start(lab: Lab) -> int:
    """Start etcd unless it runs; wait until it answers on every address. Returns its pid."""
    name = _name(lab)
    pid = running_pid(lab)
    if pid is None:
        p = paths(lab)
        p.root.mkdir(parents=True, exist_ok=True)
        p.data.mkdir(mode=0o700, exist_ok=True)
        clients = ",".join(lab.arbiter_endpoints)
        argv = [
            etcd_binary(),
            "--name", name,
            "--data-dir", str(p.data),
            "--listen-client-urls", clients,
            "--advertise-client-urls", clients,
            "--listen-peer-urls", _PEER_URL,
            "--initial-advertise-peer-urls", _PEER_URL,
            "--initial-cluster", f"{name}={_PEER_URL}",
            "--logger", "zap",
            "--log-outputs", "stderr",
        ]  # fmt: skip
        pid = netns.spawn_in(name, argv, p.log)
        p.pid_file.write_text(f"{pid}\n")
    wait_ready(lab, pid)
    return pid


def wait_ready(lab: Lab, pid: int, timeout: float = READY_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if not netns.pid_alive(pid):
            raise SandboxError(f"etcd (pid {pid}) exited at start-up; see {paths(lab).log}")
        found = health(lab)
        if all(ok for ok, _ in found.values()):
            return
        if time.monotonic() >= deadline:
            detail = "; ".join(f"{u}: {d}" for u, (ok, d) in found.items() if not ok)
            raise SandboxError(f"etcd not healthy after {timeout:g} s: {detail}")
        time.sleep(0.2)


def stop(lab: Lab) -> None:
    """Stop the witness's etcd (SIGTERM, then SIGKILL); nothing if it is not running."""
    pid = running_pid(lab)
    if pid is not None:
        netns.stop_pid(pid)
