"""Arbiter benchmark: etcd lease calls from a node's namespace, figures as JSON.

    .venv/bin/python bench/arbiter.py --runs 20   # as root; takes the lab (flock it)

On a fresh sandbox with the witness (``sandbox up --arbiter``, no agents), from namespace
db1: the latency of acquire (lease grant + transaction), renew (keepalive + range), view
and release (revoke); how long after an unrenewed grant's ``valid_until`` etcd really frees
the key (must never be negative: the holder's clock is conservative); and how long a call
takes to raise ArbiterUnavailable with etcd stopped (refused) and unreachable (timeout).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from failover import STATE  # bench/ is on sys.path when this script runs
from pyroute2.netns import popns, pushns

from dualbeat.arbiter import ArbiterUnavailable, open_arbiter
from dualbeat.arbiter.etcd import EtcdArbiter
from dualbeat.config import ArbiterConfig
from dualbeat_lab.sandbox import faults, lab
from dualbeat_lab.sandbox.figures import summary


def ms(fn: Callable[[], object]) -> float:
    started = time.monotonic()
    fn()
    return (time.monotonic() - started) * 1000


def unavailable_ms(arbiter: EtcdArbiter) -> float:
    started = time.monotonic()
    try:
        arbiter.view()
    except ArbiterUnavailable:
        return (time.monotonic() - started) * 1000
    raise AssertionError("etcd answered although it should be down")


def measure(info: lab.LabInfo, runs: int, ttl: float, timeout: float) -> dict[str, Any]:
    cfg = ArbiterConfig(
        endpoints=info.arbiter_endpoints, key="/dualbeat/bench/active", ttl=ttl, timeout=timeout
    )
    arbiter = open_arbiter(cfg)
    assert isinstance(arbiter, EtcdArbiter)
    acquire, renew, view, release, expiry = [], [], [], [], []
    for _ in range(runs):
        acquire.append(ms(lambda: arbiter.acquire("db1", 1)))
        renew.append(ms(arbiter.renew))
        view.append(ms(arbiter.view))
        release.append(ms(arbiter.release))
    for _ in range(max(1, runs // 5)):
        grant = arbiter.acquire("db1", 2)
        assert grant is not None
        while arbiter.view().holder is not None:
            time.sleep(0.01)
        expiry.append(time.monotonic() - grant.valid_until)
    faults.stop_witness(info.lab)
    refused = [unavailable_ms(arbiter) for _ in range(runs)]
    faults.start_witness(info.lab)
    faults.isolate(info.lab, "witness")
    timed_out = [unavailable_ms(arbiter) for _ in range(max(1, runs // 5))]
    faults.heal_all(info.lab)
    arbiter.close()
    return {
        "acquire_ms": summary(acquire),
        "renew_ms": summary(renew),
        "view_ms": summary(view),
        "release_ms": summary(release),
        "key_freed_after_valid_until_s": summary(expiry),
        "unavailable_etcd_stopped_ms": summary(refused),
        "unavailable_etcd_unreachable_ms": summary(timed_out),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--ttl", type=float, default=3.0)
    parser.add_argument("--timeout", type=float, default=0.5)
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args()
    lab.down(STATE)
    info = lab.up(STATE, arbiter=True)
    pushns("db1")
    try:
        figures = measure(info, args.runs, args.ttl, args.timeout)
    finally:
        popns()
        lab.down(STATE)
    text = json.dumps(
        {
            "benchmark": "arbiter",
            "runs": args.runs,
            "ttl_s": args.ttl,
            "timeout_s": args.timeout,
            **figures,
        },
        indent=2,
    )
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
