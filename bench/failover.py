"""Failover benchmark: N drills per scenario on the sandbox pair, figures as JSON.

    .venv/bin/python bench/failover.py --runs 5   # as root [--scenarios kill,freeze,linkdown]
    .venv/bin/python bench/failover.py --arbiter --runs 3 --scenarios isolate,partition

Per scenario: RTO (fault to the first acknowledged write sent after it) min/median/max,
the longest write gap, acknowledged writes lost, and the agents' own phase timings. The
lab is rebuilt before every run, so each drill starts from a clean, settled pair.
Figures are measured, not asserted: a shared 2-core machine makes timings noisy.

``--arbiter`` builds the lab with the etcd witness and offers two more scenarios:
``isolate`` (the active cut from everything: it demotes itself within the lease and the
standby takes over once etcd frees the key; target median RTO <= ttl + 1 s) and
``partition`` (db1 and db2 cut from each other only: nothing may move). Both also count
the samples (every 100 ms) that saw two servers holding the VIP and writable: must be 0.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from pathlib import Path
from typing import Any

from dualbeat_lab import writer
from dualbeat_lab.sandbox import agents, faults, lab
from dualbeat_lab.sandbox.drill import VIP_HOST, DrillResult, Fault, Tally, present_seqs, run
from dualbeat_lab.sandbox.lab import LabInfo
from dualbeat_lab.sandbox.provision import provision
from dualbeat_lab.sandbox.sampler import Sampler
from dualbeat_lab.sandbox.timeline import Timeline, lab_event_paths, load_events, lost_writes
from dualbeat_lab.writer import BENCH_PROFILES, Profile

STATE = Path("/var/lib/dualbeat-sandbox")


def partition_drill(info: LabInfo, hold: float, profile: Profile) -> DrillResult:
    """db1 and db2 cut from each other (both still reach the witness and the client) for
    ``hold`` seconds under the writer; nothing may move. A pair with no settled active
    afterwards is a failed run (loss unknown), never "0 lost"."""
    active = agents.wait_settled(info, lambda _m: None)
    log = info.lab.state_dir / f"partition-{time.strftime('%Y%m%d-%H%M%S')}-writes.jsonl"
    argv = writer.command(VIP_HOST, info.secrets.app_password_file, log, hold + 15, profile=profile)
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 15
        while not (log.exists() and any(w.acked for w in writer.load_log(log))):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the writer acknowledged no write through {VIP_HOST}")
            time.sleep(0.05)
        fault_at = faults.partition(info.lab, "db1", "db2")
        time.sleep(hold)
        faults.heal_all(info.lab)
        time.sleep(2.0)
    finally:
        proc.terminate()
        proc.wait(10)
    writes = writer.load_log(log)
    timeline = Timeline.build(fault_at, writes, load_events(lab_event_paths(info.lab)))
    now_active = agents.settled(info)
    lost = lost_writes(writes, present_seqs(info, now_active)) if now_active else None
    return DrillResult(Fault.PARTITION, active, now_active, timeline, lost, log)


def arbiter_scenario(name: str, runs: int, hold: float, profile: Profile) -> dict[str, Any]:
    """``isolate`` or ``partition`` on an arbiter lab, with the two-writer sampler."""
    tally, two_writers = Tally(f"arbiter {name}", runs), 0
    for _ in range(runs):
        lab.down(STATE)
        info = provision(STATE, lambda _m: None, arbiter=True)
        agents.wait_settled(info, lambda _m: None)
        sampler = Sampler(info).start()
        if name == "isolate":  # the drill's partition cuts the active from everything
            result = run(info, Fault.PARTITION, hold=hold, profile=profile)
        else:
            result = partition_drill(info, hold, profile)
        sampler.stop()
        two_writers += sampler.two_writers()
        samples = f" two_writer_samples={sampler.two_writers()}/{len(sampler.samples)}"
        tally.add(result, samples)
    return tally.result(two_writer_samples=two_writers)


def scenario(fault: Fault, runs: int, hold: float, profile: Profile) -> dict[str, Any]:
    tally = Tally(fault.value, runs)
    for _ in range(runs):
        lab.down(STATE)
        info = provision(STATE, lambda _m: None)
        result = run(info, fault, hold=hold, profile=profile)
        tally.add(result)
    return tally.result()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--scenarios", default="kill,freeze,linkdown")
    parser.add_argument(
        "--hold", type=float, default=5.0, help="seconds a freeze or link-down lasts"
    )
    parser.add_argument(
        "--profile",
        choices=[p.value for p in BENCH_PROFILES],
        default="tight",
        help="the writer's connection timeouts (default: tight)",
    )
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    parser.add_argument(
        "--arbiter", action="store_true", help="an etcd witness lab: isolate, partition"
    )
    args = parser.parse_args()
    names = args.scenarios.split(",")
    if args.arbiter and not set(names) <= {"isolate", "partition"}:
        parser.error("with --arbiter the scenarios are isolate and partition")
    profile = Profile(args.profile)
    if args.arbiter:
        results = {
            f"arbiter-{n}": arbiter_scenario(n, args.runs, args.hold, profile) for n in names
        }
    else:
        results = {name: scenario(Fault(name), args.runs, args.hold, profile) for name in names}
    lab.down(STATE)
    text = json.dumps(
        {"benchmark": "failover", "profile": profile.value, "results": results}, indent=2
    )
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
