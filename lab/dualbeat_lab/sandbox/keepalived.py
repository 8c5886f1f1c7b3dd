"""The comparison stack: keepalived + MySQL dual-master, run on the sandbox's two hosts.

Why it is here: ``bench/compare.py`` measures dualbeat against the setup most people run
today, on the same hosts, the same VIP and the same writer. That only means something if
the keepalived side is the *usual* recipe, configured the way the common guides do it,
not a straw man. The recipe (sources in bench/RESULTS.md, "Side by side with keepalived"):

* Debian's keepalived (VRRP only, ``-P``), one instance per host in the host's namespace,
  VRRP **unicast** between the two LAN addresses (``unicast_src_ip``/``unicast_peer``),
  ``state BACKUP`` on both, ``nopreempt``, ``advert_int 1``, priorities 101 / 100.
* A ``vrrp_script`` MySQL check, ``mariadb-admin ping`` with a connect timeout, every
  ``interval`` seconds (keepalived's default, 1 s), ``fall 2`` / ``rise 2`` as in the
  common check-script recipes, weight 0 (a failing check puts the instance in FAULT,
  which is what ``nopreempt`` set-ups use: a weight would not move the VIP back).
* A ``notify`` script that makes the server writable on MASTER (``SET GLOBAL
  read_only=OFF``) and read-only in every other state (BACKUP, FAULT, STOP).

A second variant, ``TUNED``, is keepalived configured as a competent operator tunes it for a
database (bench/RESULTS.md compares dualbeat with both): VRRP version 3 with a sub-second
``advert_int``, the check every second with ``fall 1``, and ``vrrp_track_process`` on
``mariadbd`` so a dead server puts the instance in FAULT at once (process events, no
polling). keepalived learns of process exits through the kernel's proc connector, which
answers only sockets in the initial network namespace; so the tuned daemon is started in
the root namespace and enters the host's namespace itself (keepalived's ``net_namespace``
keyword) after opening that socket, as it would on a real host where there is one namespace.

Everything the daemon needs lives in ``<state>/<node>/keepalived/``: the config, the two
scripts, pid files (``lab.down`` stops every ``*.pid`` under a host's directory), the log
and ``events.jsonl``, one JSON line per state change written by the notify script, in
the format of the agents' event log so ``timeline.load_events`` reads both.
"""

from __future__ import annotations

import signal
import time
from dataclasses import dataclass
from pathlib import Path

from dualbeat.errors import MysqlError
from dualbeat.gate import ruleset
from dualbeat.mysql.connection import Server
from dualbeat.mysql.control import read_only_state
from dualbeat_lab.errors import SandboxError
from dualbeat_lab.sandbox import mariadb, netns
from dualbeat_lab.sandbox.files import write_text
from dualbeat_lab.sandbox.lab import LabInfo, Progress
from dualbeat_lab.sandbox.layout import Lab

KEEPALIVED = "/usr/sbin/keepalived"
VIRTUAL_ROUTER_ID = 51
PRIORITIES = (101, 100)  # db1, db2: db1 wins the first election
SETTLE_TIMEOUT = 30.0
_STOP_TIMEOUT = 10.0


@dataclass(frozen=True)
class Timings:
    """keepalived's knobs that decide how fast it fails over (default: the recipe's values).

    ``check_interval`` and ``check_timeout`` are whole seconds: keepalived 2.2's
    ``vrrp_script`` takes integers only (keepalived.conf(5)), so 1 s is its fastest check.
    """

    advert_int: float = 1.0
    check_interval: int = 1
    check_timeout: int = 1
    fall: int = 2
    rise: int = 2
    vrrp_version: int = 2
    track_process: bool = False  # vrrp_track_process on the host's mariadbd


# The tuned variant: VRRP v3 adverts every 0.2 s (master down after 3 x 0.2 s + skew, about
# 0.72 s at priority 100; 0.1 s gave no margin for scheduler stalls on the shared 2-core lab
# machine), the check every second failing at the first miss, and the server's process tracked.
TUNED = Timings(advert_int=0.2, fall=1, rise=2, vrrp_version=3, track_process=True)


@dataclass(frozen=True)
class Files:
    """Where one node's keepalived keeps its files.

    Two directories: ``scripts`` (config and scripts) is root's own, because keepalived's
    ``enable_script_security`` refuses scripts under a directory another user may write,
    and a node's directory belongs to mysql; ``root`` (under the node's directory, so
    ``lab.down`` finds the pid files and stops the daemon) has the rest.
    """

    root: Path
    scripts: Path

    @property
    def config(self) -> Path:
        return self.scripts / "keepalived.conf"

    @property
    def check(self) -> Path:
        return self.scripts / "check_mysql.sh"

    @property
    def notify(self) -> Path:
        return self.scripts / "notify.sh"

    @property
    def pid(self) -> Path:
        return self.root / "keepalived.pid"

    @property
    def vrrp_pid(self) -> Path:
        return self.root / "vrrp.pid"

    @property
    def log(self) -> Path:
        return self.root / "keepalived.log"

    @property
    def events(self) -> Path:
        return self.root / "events.jsonl"


def files(lab: Lab, node: str) -> Files:
    return Files(lab.node_paths(node).root / "keepalived", lab.state_dir / "keepalived" / node)


def render_config(
    *,
    node: str,
    interface: str,
    address: str,
    peer_address: str,
    vip: str,
    priority: int,
    paths: Files,
    timings: Timings = Timings(),
    server_argv: tuple[str, ...] = (),
) -> str:
    """keepalived.conf for one node (pure: tested as text).

    With ``timings.track_process`` the config names the node's namespace
    (``net_namespace``, see the module docstring) and tracks the process whose command line
    starts with ``server_argv``: in the lab both hosts' servers are in one process table, so
    the name alone (``process mariadbd``, enough on a real host) would match the peer's too.
    """
    t = timings
    head = f"net_namespace {node}\n\n" if t.track_process else ""
    version = f"    vrrp_version {t.vrrp_version}\n" if t.vrrp_version != 2 else ""
    tracker = ""
    track = ""
    if t.track_process:
        if not server_argv:
            raise SandboxError("track_process needs the server's command line")
        tracker = (
            "vrrp_track_process mariadbd {\n"
            f"    process {' '.join(server_argv)}\n"
            "    param_match partial\n"
            "    weight 0\n"
            "    quorum 1\n"
            "}\n\n"
        )
        track = "    track_process {\n        mariadbd\n    }\n"
    recipe = "tuned (VRRP v3, sub-second adverts, track_process)" if t.track_process else "usual"
    return f"""\
# Generated by dualbeat's sandbox for {node}: keepalived + MySQL dual-master, the {recipe} recipe.
{head}global_defs {{
    router_id {node}
    script_user root
    enable_script_security
{version}}}

{tracker}vrrp_script chk_mysql {{
    script "{paths.check}"
    interval {t.check_interval}
    timeout {t.check_timeout}
    fall {t.fall}
    rise {t.rise}
}}

vrrp_instance VI_MYSQL {{
    state BACKUP
    nopreempt
    interface {interface}
    virtual_router_id {VIRTUAL_ROUTER_ID}
    priority {priority}
    advert_int {t.advert_int:g}
    unicast_src_ip {address}
    unicast_peer {{
        {peer_address}
    }}
    virtual_ipaddress {{
        {vip} dev {interface}
    }}
    track_script {{
        chk_mysql
    }}
{track}    notify "{paths.notify}"
}}
"""


def render_check(my_cnf: Path, timeout: int) -> str:
    """The vrrp_script: is the local server alive (``mariadb-admin ping``)?"""
    return (
        "#!/bin/sh\n"
        "# keepalived vrrp_script: exit 0 when the local MariaDB answers a ping.\n"
        f"exec mariadb-admin --defaults-file={my_cnf} --connect-timeout={timeout} ping"
        " >/dev/null 2>&1\n"
    )


def render_notify(node: str, my_cnf: Path, events: Path) -> str:
    """The notify script: writable on MASTER, read-only otherwise; logs every change.

    Called by keepalived as ``notify.sh TYPE NAME STATE PRIORITY``. The ``PROMOTED`` line
    is written after ``read_only=OFF`` returned, so it marks the moment the new master
    could take writes (the agents' event of the same name means the same).
    """
    sql = f"mariadb --defaults-file={my_cnf} --connect-timeout=2 -e"
    log = f">> {events}"
    event = '{"ts": %s, "node": "' + node + '", "code": "%s", "text": "keepalived %s"}\\n'
    return f"""\
#!/bin/sh
# keepalived notify: the server is writable only while this node is MASTER.
state="$3"
printf '{event}' "$(date +%s.%N)" "STATE_$state" "$state" {log}
case "$state" in
    MASTER)
        {sql} "SET GLOBAL read_only = OFF" && \\
            printf '{event}' "$(date +%s.%N)" PROMOTED "made writable" {log}
        ;;
    *)
        {sql} "SET GLOBAL read_only = ON"
        ;;
esac
exit 0
"""


def _write(path: Path, text: str, mode: int) -> None:
    path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    write_text(path, text, mode)


def configure(info: LabInfo, timings: Timings = Timings()) -> None:
    """Write config and scripts for both nodes."""
    lab = info.lab
    nodes = info.nodes
    if len(nodes) != 2:
        raise SandboxError("the keepalived stack needs exactly two database hosts")
    server = str(mariadb.find_binaries().mariadbd) if timings.track_process else ""
    for index, n in enumerate(nodes):
        peer = nodes[1 - index]
        paths = files(lab, n.name)
        my_cnf = lab.node_paths(n.name).my_cnf
        paths.root.mkdir(exist_ok=True)
        _write(paths.check, render_check(my_cnf, timings.check_timeout), 0o755)
        _write(paths.notify, render_notify(n.name, my_cnf, paths.events), 0o755)
        config = render_config(
            node=n.name,
            interface="eth0",
            address=n.lan_address,
            peer_address=peer.lan_address,
            vip=lab.vip,
            priority=PRIORITIES[index],
            paths=paths,
            timings=timings,
            server_argv=(server, f"--defaults-file={my_cnf}") if server else (),
        )
        _write(paths.config, config, 0o644)


def running_pid(lab: Lab, node: str) -> int | None:
    """The keepalived parent's pid when it runs in ``node``'s namespace."""
    pid = netns.read_pid(files(lab, node).pid)
    return pid if pid is not None and netns.is_ours(pid, (node,)) else None


def start(info: LabInfo, node: str, progress: Progress, timings: Timings = Timings()) -> int:
    """Start keepalived (VRRP only, in the foreground of its own session) in ``node``.

    The tuned variant starts in the root namespace and enters ``node``'s by itself
    (``net_namespace`` in its config): see the module docstring.
    """
    lab = info.lab
    if (pid := running_pid(lab, node)) is not None:
        return pid
    paths = files(lab, node)
    argv = [
        KEEPALIVED, "-P", "-n", "-l", "-D", "-G", "-f", str(paths.config),
        "-p", str(paths.pid), "-r", str(paths.vrrp_pid),
    ]  # fmt: skip
    paths.pid.unlink(missing_ok=True)  # keepalived refuses to start over a live pid in it
    if timings.track_process:
        pid = netns.spawn(argv, paths.log)
    else:
        pid = netns.spawn_in(node, argv, paths.log)
    progress(f"{node}: keepalived started (pid {pid}, log {paths.log})")
    return pid


def stop(info: LabInfo, node: str) -> float:
    """Stop keepalived as ``systemctl stop`` would (SIGTERM, wait); the time it was sent."""
    pid = running_pid(info.lab, node)
    if pid is None:
        raise SandboxError(f"{node}: keepalived is not running")
    netns.signal_pid(pid, signal.SIGTERM)
    sent = time.time()
    if not netns.wait_gone(pid, time.monotonic() + _STOP_TIMEOUT):
        raise SandboxError(f"{node}: keepalived (pid {pid}) still runs after SIGTERM")
    return sent


def kill(info: LabInfo, node: str) -> float:
    """SIGKILL keepalived's parent and its VRRP child at once (a crash); time of the signals.

    Both, because a parent killed alone has its child notice and shut down cleanly, which
    is not a crash of the VRRP process.
    """
    lab = info.lab
    paths = files(lab, node)
    pids = [p for p in (netns.read_pid(paths.vrrp_pid), netns.read_pid(paths.pid)) if p]
    ours = [p for p in pids if netns.is_ours(p, (node,))]
    if not ours:
        raise SandboxError(f"{node}: no keepalived process to kill")
    for pid in ours:
        netns.signal_pid(pid, signal.SIGKILL)
    sent = time.time()
    for pid in ours:
        netns.wait_gone(pid, time.monotonic() + _STOP_TIMEOUT)
    return sent


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except FileNotFoundError:
        return ""


def holds_vip(lab: Lab, node: str) -> bool:
    """True when the VIP is on one of ``node``'s interfaces."""
    return any(lab.vip in addrs for addrs in netns.addresses(node).values())


def answers_arp(node: str) -> bool:
    """Whether ``node`` answers ARP for the VIP it holds (call it only when it holds it):
    what moves clients.

    A releasing dualbeat node keeps the address for a moment behind its client gate, with
    ARP for it silenced (the gate's ``arp dualbeat`` table), so a client whose neighbour
    entry still points there gets a reset instead of silence. It is then on two hosts'
    interfaces while only the new holder answers for it; this tells the two apart. No
    other stack has that table, so for them a holder always answers."""
    listed = netns.run_in(
        node, ["nft", "list", "table", "arp", ruleset.TABLE], check=False, timeout=2.0
    )
    return listed.returncode != 0


def writable(lab: Lab, node: str, timeout: float = 1.0) -> bool | None:
    """read_only is OFF on ``node``'s server; None when it does not answer in time."""
    if mariadb.running_pid(lab, node) is None:
        return None
    try:
        with Server(mariadb.root_endpoint(lab, node, read_timeout=timeout)) as server:
            return not read_only_state(server)
    except MysqlError:
        return None


def settled(info: LabInfo) -> str | None:
    """The master once exactly one node holds the VIP and is writable, and the other is
    read-only without the VIP; else None."""
    lab = info.lab
    views = {n.name: (holds_vip(lab, n.name), writable(lab, n.name)) for n in info.nodes}
    masters = [name for name, (vip, rw) in views.items() if vip and rw]
    others = [v for name, v in views.items() if name not in masters]
    if len(masters) == 1 and all(not vip and rw is False for vip, rw in others):
        return masters[0]
    return None


def wait_settled(info: LabInfo, timeout: float = SETTLE_TIMEOUT) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (master := settled(info)) is not None:
            return master
        time.sleep(0.1)
    raise SandboxError(
        f"keepalived did not settle within {timeout:g} s; see "
        f"{info.lab.state_dir}/dbN/keepalived/keepalived.log"
    )


def start_all(info: LabInfo, progress: Progress, timings: Timings = Timings()) -> str:
    """Configure, start db1's keepalived, wait until it is master, then start db2's.

    In that order because with ``state BACKUP`` on both the first one up wins; starting
    them together would let either become master.
    """
    configure(info, timings)
    first, second = info.nodes
    start(info, first.name, progress, timings)
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while not (holds_vip(info.lab, first.name) and writable(info.lab, first.name)):
        if time.monotonic() >= deadline:
            raise SandboxError(f"{first.name}: keepalived did not become master; see its log")
        time.sleep(0.1)
    start(info, second.name, progress, timings)
    while "STATE_BACKUP" not in _read(files(info.lab, second.name).events):
        if time.monotonic() >= deadline:
            raise SandboxError(f"{second.name}: keepalived did not enter BACKUP; see its log")
        time.sleep(0.1)
    master = wait_settled(info)
    progress(f"keepalived settled: {master} master with the VIP {info.lab.vip}")
    return master
