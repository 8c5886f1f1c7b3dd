"""One private ``mariadbd`` per sandbox host: template, datadir, my.cnf, start, stop, faults.

Why private servers started by hand: the lab must never touch a system MariaDB
(``/var/lib/mysql``, ``/run/mysqld``), and drills need a server that stays dead when killed,
which ``mysqld_safe`` would restart within a second. Each server lives in
``<state>/<node>/`` and runs inside its host's network namespace, listening on all of that
host's addresses (its own and the VIP) while its socket stays reachable from the root namespace.

Why a template datadir: ``mariadb-install-db`` takes about a second and is the same for
every node; a copy of a cached template is faster and is built atomically (temp dir, then
rename), so a killed run never leaves half a template behind.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dualbeat.errors import MysqlError
from dualbeat.mysql.connection import Endpoint, Server
from dualbeat_lab.errors import SandboxError
from dualbeat_lab.sandbox import netns
from dualbeat_lab.sandbox.layout import Host, Lab

Progress = Callable[[str], None]

INSTALL_HINT = "apt-get install mariadb-server"
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 60.0
_SEARCH_PATH = "/usr/sbin:/usr/bin:/usr/local/sbin:/usr/local/bin:/sbin:/bin"


@dataclass(frozen=True)
class Binaries:
    """The MariaDB programs the sandbox needs, and the server version (names the template)."""

    mariadbd: Path
    install_db: Path
    version: str


def find_binaries() -> Binaries:
    """Locate ``mariadbd`` and ``mariadb-install-db``; a missing one names the package."""
    found: dict[str, Path] = {}
    for prog in ("mariadbd", "mariadb-install-db"):
        path = shutil.which(prog) or shutil.which(prog, path=_SEARCH_PATH)
        if path is None:
            raise SandboxError(f"{prog} not found: the sandbox needs MariaDB; run {INSTALL_HINT}")
        found[prog] = Path(path)
    out = subprocess.run(
        [str(found["mariadbd"]), "--version"], capture_output=True, text=True, check=False
    )
    match = re.search(r"Ver\s+(\S+)", out.stdout)
    if out.returncode != 0 or match is None:
        raise SandboxError(f"{found['mariadbd']} --version failed: {out.stderr.strip()}")
    version = re.sub(r"[^A-Za-z0-9._+-]", "_", match.group(1))
    return Binaries(found["mariadbd"], found["mariadb-install-db"], version)


# --- template -----------------------------------------------------------------------------


def template_dir(lab: Lab, binaries: Binaries) -> Path:
    return lab.cache_dir / f"mariadb-template-{binaries.version}"


def ensure_template(lab: Lab, binaries: Binaries, progress: Progress) -> Path:
    """The cached, freshly initialised datadir for this server version (built once)."""
    final = template_dir(lab, binaries)
    if final.is_dir():
        _remove_stale_builds(final, everything=False)
        return final
    lab.cache_dir.mkdir(parents=True, exist_ok=True)
    lab.cache_dir.chmod(0o755)  # mariadbd runs as mysql and must traverse it
    with (lab.cache_dir / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two concurrent ups build it once
        if final.is_dir():
            return final
        _remove_stale_builds(final, everything=True)
        building = final.with_name(f"{final.name}.building-{os.getpid()}")
        building.mkdir()
        shutil.chown(building, "mysql", "mysql")
        progress(f"building the MariaDB {binaries.version} template datadir in {final}")
        proc = subprocess.run(
            [
                str(binaries.install_db), "--no-defaults", "--user=mysql",
                f"--datadir={building / 'data'}", "--auth-root-authentication-method=socket",
                "--skip-test-db", "--innodb-log-file-size=16M",
            ],
            capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
            raise SandboxError(f"mariadb-install-db failed (exit {proc.returncode}):\n{tail}")
        building.rename(final)
    return final


def _remove_stale_builds(final: Path, *, everything: bool) -> None:
    """Remove half-built templates of killed runs (``<name>.building-<pid>``).

    Under the build lock every one is stale; otherwise only those whose builder is dead.
    The orphaned install-db of a killed run may still be writing: removal is best effort.
    """
    for stale in final.parent.glob(f"{final.name}.building-*"):
        owner = stale.name.rsplit("-", 1)[-1]
        if everything or not (owner.isdigit() and netns.pid_alive(int(owner))):
            shutil.rmtree(stale, ignore_errors=True)


# --- configuration and datadir ------------------------------------------------------------


def render_my_cnf(lab: Lab, host: Host) -> str:
    """The node's my.cnf: a GTID dual-master member that starts read-only."""
    paths = lab.node_paths(host.name)
    sid = host.server_id
    assert sid is not None, f"{host.name} runs no database"
    settings: list[tuple[str, object]] = [
        ("datadir", paths.data),
        ("socket", paths.socket),
        ("pid_file", paths.pid_file),
        # Every address of the host's namespace: its own, and the VIP while it holds it.
        ("bind_address", "0.0.0.0"),
        ("port", lab.mysql_port),
        ("report_host", host.lan_address),
        ("report_port", lab.mysql_port),
        ("skip_name_resolve", "ON"),
        ("server_id", sid),
        ("gtid_domain_id", sid),
        ("gtid_strict_mode", "ON"),
        ("log_bin", "mysql-bin"),
        ("relay_log", "relay-bin"),  # not derived from the hostname, which netns keeps shared
        ("log_slave_updates", "ON"),
        ("binlog_format", "ROW"),
        ("auto_increment_increment", 2),
        ("auto_increment_offset", sid),
        ("sync_binlog", 1),
        ("innodb_flush_log_at_trx_commit", 1),
        ("relay_log_recovery", "ON"),
        ("slave_net_timeout", 10),
        ("read_only", "ON"),  # every server starts read-only; dualbeat makes one writable
        ("skip_slave_start", "ON"),  # replication starts when the agent decides, never at boot
        ("character_set_server", "utf8mb4"),
        ("collation_server", "utf8mb4_general_ci"),
        ("innodb_buffer_pool_size", "64M"),
        ("innodb_log_file_size", "16M"),
        ("performance_schema", "OFF"),
        ("max_connections", 200),
    ]
    lines = [
        f"# Generated by the dualbeat sandbox for {host.name}; rewritten by every `up`.",
        "# Connect as root: mariadb --defaults-file=<this file>",
        "[mariadbd]",
        *(f"{k} = {v}" for k, v in settings),
        "",
        "[client]",
        f"socket = {paths.socket}",
        "",
    ]
    return "\n".join(lines)


def prepare_node(lab: Lab, host: Host, template: Path, progress: Progress) -> None:
    """Directories, my.cnf and (once) a datadir copied from the template."""
    paths = lab.node_paths(host.name)
    paths.root.mkdir(parents=True, exist_ok=True)
    paths.root.chmod(0o755)
    shutil.chown(paths.root, "mysql", "mysql")  # mariadbd writes its socket and pid here
    paths.agent_dir.mkdir(exist_ok=True)
    if not paths.data.is_dir():
        progress(f"{host.name}: copying the template datadir")
        for stale in paths.root.glob("data.partial-*"):  # a killed run's half copy
            shutil.rmtree(stale, ignore_errors=True)
        partial = paths.root / f"data.partial-{os.getpid()}"
        _checked(["cp", "-a", str(template / "data"), str(partial)])
        _checked(["chown", "-R", "mysql:mysql", str(partial)])
        partial.rename(paths.data)
    text = render_my_cnf(lab, host)
    if not paths.my_cnf.is_file() or paths.my_cnf.read_text() != text:
        tmp = paths.my_cnf.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.chmod(0o644)
        tmp.replace(paths.my_cnf)


def _checked(argv: list[str]) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SandboxError(f"{' '.join(argv)}: {proc.stderr.strip()}")


# --- processes ----------------------------------------------------------------------------


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def running_pid(lab: Lab, node: str) -> int | None:
    """The pid of this node's mariadbd if it runs, checked to be ours (alive, our netns).

    Candidates: mariadbd's own pid file, the pid recorded at spawn time, and any process
    in the node's namespace started with this node's ``--defaults-file`` (a run killed
    between spawning and recording leaves only that).
    """
    paths = lab.node_paths(node)
    candidates = [netns.read_pid(paths.pid_file), netns.read_pid(paths.launched_pid)]
    marker = f"--defaults-file={paths.my_cnf}"
    candidates += [p for p in netns.namespace_pids(node) if marker in _cmdline(p)]
    for pid in candidates:
        if pid is not None and netns.is_ours(pid, (node,)) and marker in _cmdline(pid):
            return pid
    return None


def root_endpoint(lab: Lab, node: str, *, read_timeout: float = 10.0) -> Endpoint:
    """root over the node's unix socket (socket authentication: the sandbox runs as root)."""
    return Endpoint(
        name=node,
        host="localhost",
        port=lab.mysql_port,
        user="root",
        password="",
        unix_socket=str(lab.node_paths(node).socket),
        read_timeout=read_timeout,
    )


def _log_tail(log: Path, offset: int, lines: int = 20) -> str:
    try:
        with log.open("rb") as f:
            f.seek(offset)
            text = f.read().decode(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.strip().splitlines()[-lines:]) or "(log is empty)"


def start(lab: Lab, host: Host, binaries: Binaries) -> tuple[int, int]:
    """Spawn the node's mariadbd inside its namespace; returns (pid, log offset at start)."""
    paths = lab.node_paths(host.name)
    for stale in (paths.socket, paths.pid_file, paths.launched_pid):
        stale.unlink(missing_ok=True)  # no server of ours runs: these are leftovers
    offset = paths.log.stat().st_size if paths.log.exists() else 0
    argv = [str(binaries.mariadbd), f"--defaults-file={paths.my_cnf}", "--user=mysql"]
    pid = netns.spawn_in(host.name, argv, paths.log)
    paths.launched_pid.write_text(f"{pid}\n")
    return pid, offset


def wait_ready(lab: Lab, node: str, pid: int, log_offset: int, timeout: float) -> None:
    """Poll the unix socket until the server answers; fail early if the process dies."""
    paths = lab.node_paths(node)
    deadline = time.monotonic() + timeout
    last = "no attempt yet"
    while True:
        if not netns.pid_alive(pid):
            raise SandboxError(
                f"{node}: mariadbd (pid {pid}) exited during start-up; "
                f"{paths.log}:\n{_log_tail(paths.log, log_offset)}"
            )
        if paths.socket.exists():
            try:
                with Server(root_endpoint(lab, node, read_timeout=5.0)) as server:
                    server.variables(["read_only"])
                return
            except MysqlError as exc:
                last = str(exc)
        if time.monotonic() >= deadline:
            raise SandboxError(
                f"{node}: mariadbd (pid {pid}) not ready after {timeout:g} s ({last}); "
                f"{paths.log}:\n{_log_tail(paths.log, log_offset)}"
            )
        time.sleep(0.1)


def stop(lab: Lab, node: str, timeout: float = STOP_TIMEOUT) -> int | None:
    """Stop the node's mariadbd (SIGTERM, then SIGKILL after ``timeout``); returns its pid."""
    pid = running_pid(lab, node)
    if pid is not None:
        netns.stop_pid(pid, timeout)
    lab.node_paths(node).launched_pid.unlink(missing_ok=True)
    return pid


def _signal(lab: Lab, node: str, sig: signal.Signals) -> int:
    pid = running_pid(lab, node)
    if pid is None:
        raise SandboxError(f"{node}: no mariadbd of the sandbox is running")
    netns.signal_pid(pid, sig)
    return pid


def kill_hard(lab: Lab, node: str) -> int:
    """SIGKILL the node's mariadbd (a crash, for drills); returns the pid."""
    pid = _signal(lab, node, signal.SIGKILL)
    netns.wait_gone(pid, time.monotonic() + 10.0)
    return pid


def freeze(lab: Lab, node: str) -> int:
    """SIGSTOP the node's mariadbd: alive but silent, the hardest failure to detect."""
    return _signal(lab, node, signal.SIGSTOP)


def thaw(lab: Lab, node: str) -> int:
    """SIGCONT a frozen mariadbd."""
    return _signal(lab, node, signal.SIGCONT)
