"""Fault injectors for drills: each returns the wall-clock time the fault took effect.

Why the timestamp is taken *after* the action, and as close to its effect as we can see:
a failover is measured from the fault, and shell start-up alone is 20–40 ms; a timestamp
taken before the command would charge that to the failover (PLATFORM.md). A kill is timed
when ``kill(2)`` returns (the exit is then awaited), a freeze when the process shows state
``T``, a network change when the ``ip``/``nft`` command that made it has returned (about
1-2 ms after the kernel applied it: the program's exit).
All timestamps are ``time.time()``, the clock the writer log and the agents' events use.

Two ways to cut a node off, on purpose different (they exercise different code paths):

* ``link_down`` is **carrier loss**, a pulled cable. We set the *switch-side* veth peers
  (``db1-lan``, ``db1-hb`` in the switch namespace) down, not the host's own ``eth0``/``eth1``:
  a veth whose peer is down reports NO-CARRIER (admin UP, ``LOWER_UP`` gone) inside the host,
  exactly what a NIC reports when its cable is pulled, and the host's addresses (the VIP
  included) stay as they were. Setting the host's own interface down would instead look
  like an administrator's ``ip link set down`` (no NO-CARRIER flag inside the host) and
  would touch the host's configuration that the agent owns.
* ``isolate`` drops every frame to and from the node's switch ports with an nftables
  ``bridge`` table (``table bridge dualbeat``, chain ``isolate`` on the ``forward`` hook,
  a set ``isolated`` of port names). The host keeps its carrier and cannot see the
  partition locally. There is no netem on this kernel, so dropping is the only tool.
  ``partition(lab, a, b)`` drops only the frames between two hosts (a set ``cut`` of
  (in port, out port) pairs in the same table), so both still reach the witness.

``heal_all`` undoes every fault of this module except a kill (restart a killed server with
``lab.up``, which starts only what is not running); it is idempotent and safe on a lab
that is half built or gone, so test teardowns can always call it.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import time
from collections.abc import Iterable, Sequence

from dualbeat_lab.errors import SandboxError
from dualbeat_lab.sandbox import mariadb, netns, witness
from dualbeat_lab.sandbox.layout import Lab

NFT_TABLE = "dualbeat"
NFT_CHAIN = "isolate"  # not "fwd": a reserved word in nft
NFT_SET = "isolated"
NFT_PAIRS = "cut"  # (in port, out port) pairs of a partition between two hosts
_EXIT_TIMEOUT = 10.0
_STATE_TIMEOUT = 5.0


def _feed(argv: Sequence[str], script: str) -> None:
    """Run ``argv`` with ``script`` on stdin; a failure names the command and its stderr."""
    try:
        proc = subprocess.run(
            list(argv), input=script, capture_output=True, text=True, timeout=15, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise SandboxError(f"{' '.join(argv)}: no answer within 15 s") from exc
    if proc.returncode != 0:
        raise SandboxError(f"{' '.join(argv)}: {proc.stderr.strip() or proc.returncode}")


def _sigkill(pid: int, what: str) -> float:
    """SIGKILL ``pid`` (already checked to be ours); the time the signal was sent.

    Why the send time and not the exit: the process runs no instruction after the signal,
    but the kernel then needs about 10 ms (mariadbd here) to free its memory before it
    closes its sockets; that time belongs to the outage, as it does in a real crash. The
    exit is still awaited (through a pidfd, so without a poll interval) before returning.
    """
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError as exc:
        raise SandboxError(f"{what}: pid {pid} is already gone") from exc
    try:
        netns.signal_pid(pid, signal.SIGKILL)
        sent = time.time()
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        if not poller.poll(_EXIT_TIMEOUT * 1000):
            raise SandboxError(f"{what}: pid {pid} still alive {_EXIT_TIMEOUT:g} s after SIGKILL")
    finally:
        os.close(fd)
    return sent


def _wait_state(pid: int, stopped: bool, what: str) -> float:
    """Poll /proc until ``pid`` is (or is no longer) stopped; the time that was seen."""
    deadline = time.monotonic() + _STATE_TIMEOUT
    while (netns.process_state(pid) == "T") != stopped:
        if time.monotonic() >= deadline:
            raise SandboxError(f"{what}: pid {pid} state still {netns.process_state(pid)!r}")
        time.sleep(0.001)
    return time.time()


# --- the database server ----------------------------------------------------------------


def kill_mysqld(lab: Lab, node: str) -> float:
    """SIGKILL the node's mariadbd (a crash); the time of the signal, once it has exited.

    Not ``mariadb.kill_hard``: it sends the signal itself, so its caller cannot time it.
    """
    pid = mariadb.running_pid(lab, node)  # alive, in the node's namespace, our my.cnf
    if pid is None:
        raise SandboxError(f"{node}: no mariadbd of the sandbox is running")
    return _sigkill(pid, f"kill mysqld on {node}")


def freeze_mysqld(lab: Lab, node: str) -> float:
    """SIGSTOP the node's mariadbd (alive, silent); the time it was seen stopped."""
    pid = mariadb.freeze(lab, node)
    return _wait_state(pid, True, f"freeze {node}")


def thaw_mysqld(lab: Lab, node: str) -> float:
    """SIGCONT a frozen mariadbd; the time it was seen running again."""
    pid = mariadb.thaw(lab, node)
    return _wait_state(pid, False, f"thaw {node}")


# --- the agent ------------------------------------------------------------------------------


def _agent_pid(lab: Lab, node: str) -> int:
    """The node's agent (pid in ``<state>/<node>/agent/agent.pid``), checked to be alive and
    in the node's namespace: pids wrap, and a stale pid file must never make us signal an
    unrelated process."""
    pid_file = lab.node_paths(node).agent_dir / "agent.pid"
    pid = netns.read_pid(pid_file)
    if pid is None:
        raise SandboxError(f"{node}: no agent pid in {pid_file}")
    if not netns.is_ours(pid, (node,)):
        raise SandboxError(f"{node}: pid {pid} from {pid_file} is not a live process in {node}")
    return pid


def kill_agent(lab: Lab, node: str) -> float:
    """SIGKILL the node's agent; the time of the signal, once it has exited."""
    return _sigkill(_agent_pid(lab, node), f"kill agent on {node}")


def freeze_agent(lab: Lab, node: str) -> float:
    """SIGSTOP the node's agent (it acts on nothing until thawed); the time it was seen
    stopped. For a test that must let the server win a race against the agent."""
    pid = _agent_pid(lab, node)
    netns.signal_pid(pid, signal.SIGSTOP)
    return _wait_state(pid, True, f"freeze the agent on {node}")


def thaw_agent(lab: Lab, node: str) -> float:
    """SIGCONT a frozen agent; the time it was seen running again."""
    pid = _agent_pid(lab, node)
    netns.signal_pid(pid, signal.SIGCONT)
    return _wait_state(pid, False, f"thaw the agent on {node}")


# --- links ----------------------------------------------------------------------------------


def _peers(lab: Lab, node: str, networks: Iterable[str] | None) -> list[str]:
    """Switch-side port names of ``node``, limited to ``networks`` (e.g. ``["hb"]``)."""
    host = lab.host(node)
    wanted = None if networks is None else set(networks)
    peers = [i.peer(node) for i in host.interfaces if wanted is None or i.network.name in wanted]
    if not peers:
        raise SandboxError(f"{node} has no interface on {sorted(wanted or ())}")
    return peers


def _set_ports(lab: Lab, peers: Sequence[str], state: str) -> float:
    """Set switch ports up or down in one ``ip -batch`` (all at once); time it returned."""
    script = "".join(f"link set dev {p} {state}\n" for p in peers)
    _feed(["ip", "-n", lab.switch, "-batch", "-"], script)
    return time.time()


def link_down(lab: Lab, node: str, networks: Iterable[str] | None = None) -> float:
    """Carrier loss on the node's links (all, or those of ``networks``): NO-CARRIER inside."""
    return _set_ports(lab, _peers(lab, node, networks), "down")


def link_up(lab: Lab, node: str, networks: Iterable[str] | None = None) -> float:
    """Carrier back on the node's links."""
    return _set_ports(lab, _peers(lab, node, networks), "up")


def has_carrier(lab: Lab, node: str, ifname: str) -> bool:
    """True if ``ifname`` inside ``node`` has carrier (``LOWER_UP``), as the host sees it."""
    out = netns.ip("-o", "link", "show", "dev", ifname, ns=node)
    flags = out[out.find("<") + 1 : out.find(">")].split(",")
    return "LOWER_UP" in flags and "NO-CARRIER" not in flags


# --- partition --------------------------------------------------------------------------------


def _nft(lab: Lab, script: str) -> None:
    _feed(["ip", "netns", "exec", lab.switch, "nft", "-f", "-"], script)


def _cut(lab: Lab, elements: str) -> None:
    """Install the drop rules (idempotently) and add ``elements`` to their sets.

    One nft transaction: the table, sets and chain are declared (``add`` is idempotent for
    them), the chain's rules rewritten, and the elements added; faults accumulate until
    ``heal`` deletes the table.
    """
    t = f"bridge {NFT_TABLE}"
    _nft(
        lab,
        f"add table {t}\n"
        f"add set {t} {NFT_SET} {{ type ifname; }}\n"
        f"add set {t} {NFT_PAIRS} {{ type ifname . ifname; }}\n"
        f"add chain {t} {NFT_CHAIN} {{ type filter hook forward priority -200; policy accept; }}\n"
        f"flush chain {t} {NFT_CHAIN}\n"
        f"add rule {t} {NFT_CHAIN} iifname @{NFT_SET} drop\n"
        f"add rule {t} {NFT_CHAIN} oifname @{NFT_SET} drop\n"
        f"add rule {t} {NFT_CHAIN} iifname . oifname @{NFT_PAIRS} drop\n"
        f"{elements}",
    )


def isolate(lab: Lab, node: str, networks: Iterable[str] | None = None) -> float:
    """Drop all frames to and from the node's switch ports; the time the rules were in.

    Isolating a second host adds its ports, so two isolated hosts cannot talk to each
    other either. Works for any host, the witness included.
    """
    names = ", ".join(f'"{p}"' for p in _peers(lab, node, networks))
    _cut(lab, f"add element bridge {NFT_TABLE} {NFT_SET} {{ {names} }}\n")
    return time.time()


def partition(
    lab: Lab, a: str, b: str | None = None, networks: Iterable[str] | None = None
) -> float:
    """Drop every frame between hosts ``a`` and ``b`` (on all their shared networks, or
    ``networks``) while both keep talking to everyone else, e.g. the witness; the time the
    rules were in. Without ``b``, the same as ``isolate(lab, a, networks)``.
    """
    if b is None:
        return isolate(lab, a, networks)
    wanted = None if networks is None else set(networks)
    pairs = [
        (ia.peer(a), ib.peer(b))
        for ia in lab.host(a).interfaces
        for ib in lab.host(b).interfaces
        if ia.network == ib.network and (wanted is None or ia.network.name in wanted)
    ]
    if not pairs:
        raise SandboxError(f"{a} and {b} share no network in {sorted(wanted or ())}")
    both = [*pairs, *((y, x) for x, y in pairs)]
    names = ", ".join(f'"{x}" . "{y}"' for x, y in both)
    _cut(lab, f"add element bridge {NFT_TABLE} {NFT_PAIRS} {{ {names} }}\n")
    return time.time()


def heal(lab: Lab) -> float:
    """Remove the partition table (every partitioned node at once); the time it was gone.

    ``add`` before ``delete`` in one transaction makes this idempotent on nft 1.0.6,
    which has no ``destroy``.
    """
    t = f"bridge {NFT_TABLE}"
    _nft(lab, f"add table {t}\ndelete table {t}\n")
    return time.time()


def partition_table_present(lab: Lab) -> bool:
    """True if the partition table exists in the switch namespace."""
    if not netns.namespace_exists(lab.switch):
        return False
    proc = netns.run_in(lab.switch, ["nft", "list", "tables", "bridge"])
    return f"table bridge {NFT_TABLE}" in proc.stdout.splitlines()


# --- the witness (arbiter labs) ---------------------------------------------------------------


def stop_witness(lab: Lab) -> float:
    """SIGKILL the witness's etcd (the arbiter crashes); the time of the signal."""
    pid = witness.running_pid(lab)
    if pid is None:
        raise SandboxError("the witness's etcd is not running")
    return _sigkill(pid, "stop witness")


def start_witness(lab: Lab) -> float:
    """Start the witness's etcd again; the time it answered on every address."""
    witness.start(lab)
    return time.time()


# --- all of it --------------------------------------------------------------------------------


def heal_all(lab: Lab) -> float:
    """Undo every fault but a kill of mariadbd or an agent: thaw servers, links up,
    partitions and isolations removed, the witness's etcd running again. Idempotent.

    Safe on a lab that is half built or already down: absent namespaces, links and servers
    are skipped.
    """
    for host in lab.db_hosts:
        pid = mariadb.running_pid(lab, host.name)
        if pid is not None and netns.process_state(pid) == "T":
            thaw_mysqld(lab, host.name)
    if netns.namespace_exists(lab.switch):
        heal(lab)
        peers = [
            i.peer(h.name)
            for h in lab.hosts
            for i in h.interfaces
            if netns.link_exists(lab.switch, i.peer(h.name))
        ]
        if peers:
            _set_ports(lab, peers, "up")
    for host in lab.hosts:  # someone may have set a host's own side down by hand
        if netns.namespace_exists(host.name):
            for iface in host.interfaces:
                if netns.link_exists(host.name, iface.ifname):
                    netns.ip("link", "set", "dev", iface.ifname, "up", ns=host.name)
    if (
        lab.witness is not None
        and netns.namespace_exists(lab.witness.name)
        and witness.running_pid(lab) is None
    ):
        start_witness(lab)
    return time.time()
