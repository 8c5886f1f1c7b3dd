"""``make demo``: a real pair in network namespaces, and a failover shown live.

Run as root: ``python -m dualbeat_lab.sandbox.demo [--dir DIR] [--fault kill|freeze|linkdown]``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dualbeat.errors import DualbeatError
from dualbeat_lab.sandbox import drill, lab
from dualbeat_lab.sandbox.provision import dualbeat_in, provision


def step(title: str) -> None:
    print(f"\n=== {title}", flush=True)


def show(message: str) -> None:
    print(f"  {message}", flush=True)


def run(state_dir: Path, fault: drill.Fault) -> None:
    step(
        "1. a fresh lab: namespaces db1, db2, client; one mariadbd per host; "
        "`dualbeat repl setup`; one `dualbeat agent` per host"
    )
    lab.down(state_dir)
    info = provision(state_dir, show)
    step("2. the pair as db1's agent sees it: `dualbeat status`")
    dualbeat_in("db1", ["status", "-c", str(info.config_path)], show)
    step(
        f"3. a writer in the client namespace writes through the VIP every 10 ms; "
        f"then `{fault.value}` on the active"
    )
    result = drill.run(info, fault, hold=3.0, progress=show)
    print(result.timeline.render(), flush=True)
    print(
        f"acknowledged writes lost: {result.lost_text()}",
        flush=True,
    )
    step(f"4. after the failover: `dualbeat status` on {result.new_active}")
    dualbeat_in(result.new_active or "db2", ["status", "-c", str(info.config_path)], show)
    step("5. the lab stays up; try it yourself")
    print(info.how_to_connect())
    print("more drills: dualbeat sandbox drill kill|freeze|linkdown|partition|stop-agent")
    print("remove it:   dualbeat sandbox down")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", type=Path, default=Path("/var/lib/dualbeat-sandbox"))
    parser.add_argument("--fault", choices=["kill", "freeze", "linkdown"], default="kill")
    args = parser.parse_args()
    try:
        run(args.dir, drill.Fault(args.fault))
    except DualbeatError as exc:
        print(f"demo failed: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
