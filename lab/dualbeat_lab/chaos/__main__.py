"""``python -m dualbeat_lab.chaos --seed S --duration D [--json OUT]``: one chaos run, judged.

Builds a fresh sandbox pair with both agents (root; wrap it in
``flock /tmp/dualbeat-sandbox.lock``: the lab is one per machine), prints the schedule
before the first fault, runs it, prints a summary and exits 1 on any violation, naming
the seed that reproduces the schedule.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from dualbeat.errors import DualbeatError
from dualbeat_lab.chaos import run, schedule
from dualbeat_lab.sandbox import lab
from dualbeat_lab.sandbox.layout import DEFAULT_STATE_DIR
from dualbeat_lab.sandbox.provision import provision
from dualbeat_lab.writer import BENCH_PROFILES, Profile


def _err(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def summary(result: dict[str, Any]) -> str:
    """The human summary of a result (also used by the integration test's failure message)."""
    v = result["verdict"]
    w = v["writes"]
    lines = [
        f"chaos seed {result['seed']}, {result['duration']:g} s, {result['mode']} mode, "
        f"hosts {', '.join(result['hosts'])}: {'PASS' if v['ok'] else 'FAIL'}",
    ]
    if result.get("classic_note"):
        lines.append(f"  note: {result['classic_note']}")
    lines.append(f"  steps run: {len(result['steps'])} of {len(result['schedule'])} planned")
    gaps = v["longest_gap_s"]
    for s in result["steps"]:
        step = s["step"]
        gap = gaps.get(str(step["index"]))
        res = "; ".join(f"{r['node']} {r['action']}" for r in s["resolutions"])
        lines.append(
            f"    #{step['index']:<3d} {step['kind']:<15s} {step['target']:<18s} on "
            f"{s['node']!s:<6s} no-ack gap {gap!s:>6s} s, settled {s['settled_s']!s:>6s} s "
            f"after heal, active {s['active_after']}"
            + (f", rejoin: {res}" if res else "")
            + (f", ERROR {s['error']}" if s["error"] else "")
        )
    lines.append(
        f"  writes: {w['attempts']} attempts, {w['acked']} acknowledged, "
        f"{w['lost_reported']} in lost-writes reports ({w['lost_reported_now_present']} "
        f"re-applied), {w['missing_unreported']} missing unreported"
    )
    lines.append(
        f"  writer periods (server, epoch): {len(v['periods'])}; overlaps: {len(v['overlaps'])}"
        + (
            f" ({sum(o['expected_in_classic_mode'] for o in v['overlaps'])} expected in classic)"
            if v["overlaps"]
            else ""
        )
    )
    lines.append(
        f"  final: converged in {v['converged_s']} s (bound {v['bound_s']:.1f} s), roles "
        f"{v['final_roles']}, checksum {v['checksum_note']}"
    )
    for text in v["violations"]:
        lines.append(f"  VIOLATION: {text}")
    if not v["ok"]:
        lines.append(
            f"  reproduce: python -m dualbeat_lab.chaos --seed {result['seed']} "
            f"--duration {result['duration']:g}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dualbeat_lab.chaos",
        description="Randomized, seeded faults on the sandbox pair under several writers "
        "through the VIP, then a checker: one writer at a time, no unreported lost "
        "acknowledged write, convergence with equal checksums, no agent crash.",
        epilog="Needs root and the sandbox lab (wrap it in flock /tmp/dualbeat-sandbox.lock). "
        "Exit codes: 0 no violation, 1 a violation (the summary names the seed), "
        "5 the lab could not be built.",
    )
    parser.add_argument("--seed", type=int, required=True, help="the schedule's seed")
    parser.add_argument("--duration", type=float, default=300.0, help="seconds of faults")
    parser.add_argument("--writers", type=int, default=3, help="writer processes (client host)")
    parser.add_argument("--interval", type=float, default=0.02, help="seconds between writes")
    parser.add_argument("--bound", type=float, default=run.SETTLE_BOUND,
                        help="seconds to converge after a heal (plus rejoin time)")  # fmt: skip
    parser.add_argument("--profile", choices=[p.value for p in BENCH_PROFILES], default="tight",
                        help="the writers' connection timeouts (default: tight)")  # fmt: skip
    parser.add_argument("--json", type=Path, help="write the full result here")
    parser.add_argument("--out-dir", type=Path, help="writer logs (default /var/tmp/...)")
    parser.add_argument("--plan", action="store_true", help="print the schedule and exit")
    parser.add_argument("--arbiter", action="store_true",
                        help="a lab with an arbiter: the witness host runs etcd, the agents "
                        "take its lease, and the schedule also cuts db1 from db2")  # fmt: skip
    parser.add_argument("--keep", action="store_true", help="leave the lab up afterwards")
    args = parser.parse_args(argv)
    opts = run.Options(
        args.seed, args.duration, args.writers, args.interval, args.bound, Profile(args.profile)
    )

    if args.plan:
        hosts = ["client", "db1", "db2"] + (["witness"] if args.arbiter else [])
        steps = schedule.build(args.seed, args.duration, hosts, arbiter=args.arbiter)
        print("\n".join(s.render() for s in steps))
        return 0
    try:
        lab.down(DEFAULT_STATE_DIR)
        info = provision(DEFAULT_STATE_DIR, _err, arbiter=args.arbiter)
    except DualbeatError as exc:
        _err(f"error: {exc}")
        return exc.exit_code
    try:
        steps = run.plan(info, opts)
        print(f"chaos seed {args.seed}: {len(steps)} steps planned", flush=True)
        print("\n".join(s.render() for s in steps), flush=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        out_dir = args.out_dir or Path("/var/tmp/dualbeat-chaos") / f"{args.seed}-{stamp}"
        result = run.run(info, opts, out_dir, _err)
    finally:
        if not args.keep:
            lab.down(DEFAULT_STATE_DIR)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    print(summary(result), flush=True)
    return 0 if result["verdict"]["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
