"""How each chaos fault kind is done and undone on the sandbox, reusing ``sandbox.faults``.

``inject(ctx, kind, node_or_target)`` applies one fault and returns an ``Injected``: when it
took effect, on what, and the ``heal`` that undoes it. Kinds are looked up by name in
``INJECTORS``; a new kind (the witness branch's isolate, say) is one more function there
and one more ``schedule.Kind``.

Network cuts between host *groups* live here (``cut``/``heal_cuts``), not in
``sandbox.faults``: ``faults.partition`` isolates single hosts from everyone, while a
split such as ``db1+client|db2`` needs the hosts of one side to keep talking. They use
their own nftables table (``bridge dualbeat_chaos``), so ``faults.heal``/``heal_all``
and these never remove each other's rules by accident; ``heal_everything`` undoes both.

A host restart kills every process in the host's namespace (its mariadbd and its agent),
removes the VIP from its interface (a rebooted host does not keep addresses added at run
time) and, at heal, starts mariadbd and the agent again, as a boot would.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from dualbeat_lab.chaos.schedule import cut_sides
from dualbeat_lab.errors import SandboxError
from dualbeat_lab.sandbox import agents, faults, mariadb, netns
from dualbeat_lab.sandbox.lab import LabInfo
from dualbeat_lab.sandbox.layout import Lab

TABLE = "dualbeat_chaos"
CHAIN = "cut"
MYSQLD_READY_TIMEOUT = 60.0


def _quiet(_: str) -> None:
    """Progress sink for ``agents.start``: the chaos log records restarts itself."""


@dataclass
class Context:
    """The lab under test and what the run needs to restart things."""

    info: LabInfo
    binaries: mariadb.Binaries = field(default_factory=mariadb.find_binaries)


@dataclass(frozen=True)
class Injected:
    """A fault in effect: ``at`` (time.time() of the effect), the node or cut it hit, which
    agent it killed on purpose (not a crash), and how to undo it."""

    at: float
    target: str
    heal: Callable[[], float]
    killed_agent: str | None = None


# --- network cuts between host groups -------------------------------------------------------


def _ports(lab: Lab, hosts: tuple[str, ...]) -> list[str]:
    return [i.peer(h) for h in hosts for i in lab.host(h).interfaces]


def cut_script(lab: Lab, target: str) -> str:
    """The nft script that drops frames between the sides of ``target`` (pure, testable)."""
    t = f"bridge {TABLE}"
    lines = [
        f"add table {t}",
        f"add chain {t} {CHAIN} {{ type filter hook forward priority -190; policy accept; }}",
    ]
    for left, right in cut_sides(target):
        a = ", ".join(f'"{p}"' for p in _ports(lab, left))
        b = ", ".join(f'"{p}"' for p in _ports(lab, right))
        lines += [
            f"add rule {t} {CHAIN} iifname {{ {a} }} oifname {{ {b} }} drop",
            f"add rule {t} {CHAIN} iifname {{ {b} }} oifname {{ {a} }} drop",
        ]
    return "\n".join(lines) + "\n"


def cut(ctx: Context, target: str) -> float:
    """Drop frames between the two sides of ``target`` (``a+b|c`` or ``a~b``) in the switch."""
    _nft(ctx, cut_script(ctx.info.lab, target))
    return time.time()


def heal_cuts(ctx: Context) -> float:
    """Remove every cut of this module (idempotent: ``add`` before ``delete``)."""
    if netns.namespace_exists(ctx.info.lab.switch):
        _nft(ctx, f"add table bridge {TABLE}\ndelete table bridge {TABLE}\n")
    return time.time()


def _nft(ctx: Context, script: str) -> None:
    argv = ["ip", "netns", "exec", ctx.info.lab.switch, "nft", "-f", "-"]
    done = subprocess.run(
        argv, check=False, input=script, capture_output=True, text=True, timeout=15
    )
    if done.returncode != 0:
        raise SandboxError(f"nft in {ctx.info.lab.switch}: {done.stderr.strip()}")


# --- processes ----------------------------------------------------------------------------


def start_mysqld(ctx: Context, node: str) -> float:
    """Start the node's mariadbd unless it runs, and wait until it answers on its socket."""
    lab = ctx.info.lab
    if mariadb.running_pid(lab, node) is None:
        pid, offset = mariadb.start(lab, lab.host(node), ctx.binaries)
        mariadb.wait_ready(lab, node, pid, offset, MYSQLD_READY_TIMEOUT)
    return time.time()


def start_agent(ctx: Context, node: str) -> float:
    agents.start(ctx.info, node, _quiet)
    return time.time()


def _kill_host(ctx: Context, node: str) -> float:
    """SIGKILL every process in the host's namespace; drop the VIP from its interface."""
    pids = netns.namespace_pids(node)
    for pid in pids:
        netns.signal_pid(pid, signal.SIGKILL)
    at = time.time()
    deadline = time.monotonic() + 10.0
    for pid in pids:
        if not netns.wait_gone(pid, deadline):
            raise SandboxError(f"{node}: pid {pid} survived SIGKILL")
    vip = ctx.info.lab.vip
    netns.ip("addr", "del", vip, "dev", "eth0", ns=node, check=False)  # absent: fine
    return at


# --- the kinds ----------------------------------------------------------------------------


def _kill_mysqld(ctx: Context, node: str) -> Injected:
    at = faults.kill_mysqld(ctx.info.lab, node)
    return Injected(at, node, lambda: start_mysqld(ctx, node))


def _freeze_mysqld(ctx: Context, node: str) -> Injected:
    at = faults.freeze_mysqld(ctx.info.lab, node)
    return Injected(at, node, lambda: faults.thaw_mysqld(ctx.info.lab, node))


def _restart_mysqld(ctx: Context, node: str) -> Injected:
    mariadb.stop(ctx.info.lab, node)  # SIGTERM: a clean shutdown
    return Injected(time.time(), node, lambda: start_mysqld(ctx, node))


def _link_down(ctx: Context, node: str) -> Injected:
    at = faults.link_down(ctx.info.lab, node)
    return Injected(at, node, lambda: faults.link_up(ctx.info.lab, node))


def _cut(ctx: Context, target: str) -> Injected:
    return Injected(cut(ctx, target), target, lambda: heal_cuts(ctx))


def _kill_agent(ctx: Context, node: str) -> Injected:
    at = faults.kill_agent(ctx.info.lab, node)
    return Injected(at, node, lambda: start_agent(ctx, node), killed_agent=node)


def _restart_host(ctx: Context, node: str) -> Injected:
    at = _kill_host(ctx, node)

    def boot() -> float:
        start_mysqld(ctx, node)
        return start_agent(ctx, node)

    return Injected(at, node, boot, killed_agent=node)


INJECTORS: dict[str, Callable[[Context, str], Injected]] = {
    "kill_mysqld": _kill_mysqld,
    "freeze_mysqld": _freeze_mysqld,
    "restart_mysqld": _restart_mysqld,
    "link_down": _link_down,
    "partition": _cut,
    "cut": _cut,
    "kill_agent": _kill_agent,
    "restart_host": _restart_host,
}


def heal_everything(ctx: Context) -> float:
    """Every network fault and freeze undone, every stopped mariadbd started again."""
    heal_cuts(ctx)
    faults.heal_all(ctx.info.lab)
    for node in ctx.info.nodes:
        start_mysqld(ctx, node.name)
    return time.time()
