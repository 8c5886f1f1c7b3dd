"""What the HA software costs on an idle, healthy pair: CPU and memory per host, per stack.

    python3 bench/cost.py --seconds 30 --out bench/out/cost.json   # as root

Issue 14 item 5 asks for dualbeat's idle cost beside keepalived's, measured from outside in
the same run. For each stack (dualbeat, keepalived as the guides configure it, keepalived
tuned: ``sidebyside.STACKS``; and ``dualbeat-noapi``, dualbeat with the lab's ``[api]``
section taken out of its configuration, as on a node that serves no HTTP), one after the
other in one invocation: a fresh lab, the stack started and settled, ``--warmup`` seconds
left alone, then ``--seconds`` of measurement. Per host, over every process of the stack
there (the agent; keepalived's parent and its VRRP child):

* CPU as % of one core: ``utime + stime + cutime + cstime`` from ``/proc/PID/stat`` at the
  start and the end of the window, over its length. The children's times count because
  keepalived's health check is a script it forks every second: that is part of its cost;
* RSS (``VmRSS``, what ``ps`` shows; shared pages count once per process) and PSS (from
  ``smaps_rollup``: shared pages split between their users), summed over the processes,
  at the end of the window.

Nothing else runs in the lab meanwhile (no writer, no fault). The machine is shared: CPU
figures include scheduler noise, memory does not. The lab lock is held for the whole run.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from dualbeat_lab.sandbox import agents, keepalived, lab
from dualbeat_lab.sandbox.lab import LabInfo
from dualbeat_lab.sandbox.provision import provision
from dualbeat_lab.sandbox.sidebyside import STACKS, DualbeatStack, Stack

STATE = Path("/var/lib/dualbeat-sandbox")
LAB_LOCK = Path("/tmp/dualbeat-sandbox.lock")
_HZ = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str] | None:
    """``/proc/PID/stat`` from field 3 (state) on; None when the process is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rfind(")") + 2 :].split()


def cpu_ticks(pid: int) -> int | None:
    """utime + stime + cutime + cstime of ``pid`` (fields 14-17), in clock ticks."""
    f = _stat_fields(pid)
    return None if f is None else sum(int(x) for x in f[11:15])


def descendants(root: int) -> list[int]:
    """``root`` and every process below it (a scan of ``/proc``: parents from field 4)."""
    parent: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (f := _stat_fields(int(entry.name))) is not None:
            parent[int(entry.name)] = int(f[1])
    found = [root]
    for pid in found:
        found += [child for child, ppid in parent.items() if ppid == pid]
    return found


def _status_kb(pid: int, key: str, name: str = "status") -> int:
    """A ``kB`` field of ``/proc/PID/status`` (or ``smaps_rollup``); 0 when absent."""
    try:
        for line in Path(f"/proc/{pid}/{name}").read_text().splitlines():
            if line.startswith(f"{key}:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


@dataclass(frozen=True)
class HostCost:
    """One host's share of a stack over the window."""

    processes: int
    cpu_percent: float
    rss_mb: float
    pss_mb: float


def measure(roots: dict[str, int], seconds: float) -> dict[str, HostCost]:
    """CPU over ``seconds`` and memory at the end, per host, of each root's process tree."""
    trees = {host: descendants(pid) for host, pid in roots.items()}
    start = time.monotonic()
    before = {h: sum(cpu_ticks(p) or 0 for p in pids) for h, pids in trees.items()}
    time.sleep(seconds)
    after = {h: sum(cpu_ticks(p) or 0 for p in pids) for h, pids in trees.items()}
    elapsed = time.monotonic() - start
    out = {}
    for host, pids in trees.items():
        out[host] = HostCost(
            processes=len(pids),
            cpu_percent=round(100.0 * (after[host] - before[host]) / _HZ / elapsed, 2),
            rss_mb=round(sum(_status_kb(p, "VmRSS") for p in pids) / 1024, 1),
            pss_mb=round(sum(_status_kb(p, "Pss", "smaps_rollup") for p in pids) / 1024, 1),
        )
    return out


def without_table(toml: str, table: str) -> str:
    """``toml`` without ``[table]``: its header and every line up to the next header."""
    kept, skipping = [], False
    for line in toml.splitlines(keepends=True):
        if line.lstrip().startswith("["):
            skipping = line.strip() == f"[{table}]"
        if not skipping:
            kept.append(line)
    return "".join(kept)


class _DualbeatNoApi(DualbeatStack):
    """dualbeat on a node without ``[api]``: the HTTP stack is never imported."""

    name = "dualbeat-noapi"

    def start(self, info: LabInfo, progress: Callable[[str], None]) -> str:
        path = info.config_path
        path.write_text(without_table(path.read_text(), "api"))
        return super().start(info, progress)


COST_STACKS: dict[str, Callable[[], Stack]] = {**STACKS, "dualbeat-noapi": _DualbeatNoApi}


def _roots(stack: str, info: LabInfo) -> dict[str, int]:
    """The stack's main process on each host (the agent; keepalived's parent)."""
    find: Callable[[str], int | None] = (
        (lambda node: agents.running_pid(info, node))
        if stack.startswith("dualbeat")
        else (lambda node: keepalived.running_pid(info.lab, node))
    )
    roots = {n.name: find(n.name) for n in info.nodes}
    missing = [node for node, pid in roots.items() if pid is None]
    if missing:
        raise SystemExit(f"{stack}: no running process on {', '.join(missing)}")
    return {node: pid for node, pid in roots.items() if pid is not None}


def table(doc: dict[str, Any]) -> str:
    rows = [
        "| stack | host | processes | CPU % of one core | RSS (MB) | PSS (MB) |",
        "|---|---|---|---|---|---|",
    ]
    for stack, hosts in doc["stacks"].items():
        for host, c in hosts.items():
            rows.append(
                f"| {stack} | {host} | {c['processes']} | {c['cpu_percent']:.2f} "
                f"| {c['rss_mb']:.1f} | {c['pss_mb']:.1f} |"
            )
    return "\n".join(rows) + "\n"


def measure_all(
    names: list[str], args: argparse.Namespace, doc: dict[str, Any], progress: Callable[[str], None]
) -> None:
    """Each stack in turn on a fresh lab; its per-host cost into ``doc["stacks"]``."""
    for name in names:
        stack = COST_STACKS[name]()
        lab.down(STATE)
        progress(f"{name}: fresh lab")
        info = provision(STATE, lambda _m: None, with_agents=False)
        stack.start(info, lambda _m: None)
        time.sleep(args.warmup)
        progress(f"{name}: measuring {args.seconds:g} s idle")
        costs = measure(_roots(name, info), args.seconds)
        doc["stacks"][name] = {host: asdict(c) for host, c in costs.items()}
        progress(f"{name}: {json.dumps(doc['stacks'][name])}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=30.0, help="measurement window")
    parser.add_argument("--warmup", type=float, default=5.0, help="idle seconds before it")
    parser.add_argument("--stack", action="append", choices=list(COST_STACKS), help="default: all")
    parser.add_argument(
        "--caller-holds-lock",
        action="store_true",
        help="take no lab lock: the caller holds it (flock /tmp/dualbeat-sandbox.lock ...)",
    )
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args(argv)

    def progress(message: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    doc: dict[str, Any] = {
        "benchmark": "cost",
        "seconds": args.seconds,
        "warmup_s": args.warmup,
        "cpu_count": os.cpu_count(),
        "stacks": {},
    }
    with LAB_LOCK.open("a") as handle:
        if not args.caller_holds_lock:
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            measure_all(args.stack or list(COST_STACKS), args, doc, progress)
        finally:
            lab.down(STATE)
            if not args.caller_holds_lock:
                fcntl.flock(handle, fcntl.LOCK_UN)
    text = json.dumps(doc, indent=2) + "\n"
    if args.out:
        args.out.write_text(text)
    print(text)
    print(table(doc), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
