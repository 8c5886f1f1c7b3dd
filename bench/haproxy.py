"""HAProxy rerouting benchmark: how long after a failure new connections through HAProxy
(``option httpchk GET /active`` on both agents) reach the new active.

    flock /tmp/dualbeat-sandbox.lock .venv/bin/python bench/haproxy.py --runs 3   # as root

Per run, on a fresh sandbox pair with HAProxy in the client namespace: kill -9 the active's
mysqld, then open a new connection through HAProxy every 20 ms until one lands on db2
(writable). Reported: fault to db2's ``/active`` turning 200, and fault to the first
connection through HAProxy on db2 (min/median/max). Measured, never asserted.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import httpx
from pyroute2.netns import popns, pushns

from dualbeat.errors import MysqlError
from dualbeat.mysql.connection import Endpoint, Server
from dualbeat_lab.sandbox import faults, haproxy, lab
from dualbeat_lab.sandbox.files import API_PORT
from dualbeat_lab.sandbox.lab import LabInfo
from dualbeat_lab.sandbox.provision import APP, provision

STATE = Path("/var/lib/dualbeat-sandbox")
STEP = 0.02
TIMEOUT = 30.0


def landed(info: LabInfo) -> int | None:
    """server_id of a writable server a new connection through HAProxy reaches."""
    endpoint = Endpoint(
        name="haproxy",
        host="127.0.0.1",
        port=haproxy.FRONTEND_PORT,
        user=APP,
        password=info.secrets.password(APP),
        connect_timeout=0.5,
        read_timeout=1.0,
    )
    try:
        with Server(endpoint) as server:
            found = server.variables(["server_id", "read_only"])
    except MysqlError:
        return None
    return int(found["server_id"]) if found.get("read_only") == "OFF" else None


def active_ok(info: LabInfo, node: str) -> bool:
    try:
        url = f"http://{info.node(node).lan_address}:{API_PORT}/active"
        return httpx.get(url, timeout=0.5).status_code == 200
    except httpx.HTTPError:
        return False


def one_run(info: LabInfo) -> tuple[float | None, float | None]:
    haproxy.start(info, lambda _: None)
    pushns(info.client_namespace)
    try:
        deadline = time.monotonic() + 10
        while landed(info) != 1 and time.monotonic() < deadline:
            time.sleep(STEP)
        fault_at = faults.kill_mysqld(info.lab, "db1")
        check_at = through_at = None
        # kill_mysqld returns the wall-clock time of the signal (as the drill timelines do).
        while time.time() - fault_at < TIMEOUT and through_at is None:
            if check_at is None and active_ok(info, "db2"):
                check_at = time.time() - fault_at
            if landed(info) == 2:
                through_at = time.time() - fault_at
            time.sleep(STEP)
    finally:
        popns()
    return check_at, through_at


def summary(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"min": None, "median": None, "max": None}
    return {
        "min": round(min(values), 3),
        "median": round(statistics.median(values), 3),
        "max": round(max(values), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    checks: list[float] = []
    throughs: list[float] = []
    for i in range(args.runs):
        lab.down(STATE)
        info = provision(STATE, lambda _m: None)
        check, through = one_run(info)
        print(f"run {i + 1}/{args.runs}: /active on db2 after {check} s, "
              f"haproxy on db2 after {through} s", file=sys.stderr, flush=True)  # fmt: skip
        if check is not None:
            checks.append(check)
        if through is not None:
            throughs.append(through)
    lab.down(STATE)
    result = {
        "runs": args.runs,
        "fault": "kill -9 mysqld on the active",
        "active_check_200_s": summary(checks),
        "haproxy_reaches_new_active_s": summary(throughs),
        "runs_without_reroute": args.runs - len(throughs),
        "haproxy_check_interval_ms": haproxy.CHECK_INTERVAL_MS,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
