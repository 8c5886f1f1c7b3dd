"""``make demo``: build the sandbox pair and show it working, step by step.

Run as root: ``python -m dualbeat.sandbox.demo [--dir DIR]``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dualbeat.errors import DualbeatError
from dualbeat.sandbox.provision import dualbeat_in, provision


def step(title: str) -> None:
    print(f"\n=== {title}", flush=True)


def run(state_dir: Path) -> None:
    def show(message: str) -> None:
        print(f"  {message}", flush=True)

    step("1. build the lab: namespaces db1, db2, client; one mariadbd per host; repl setup")
    info = provision(state_dir, show)
    step("2. check the pair from the client host: dualbeat repl check")
    dualbeat_in(info.client_namespace, ["repl", "check", "-c", str(info.config_path)], show)
    step("3. the lab stays up; try it yourself")
    print(info.how_to_connect())
    print("remove it with: dualbeat sandbox down")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", type=Path, default=Path("/var/lib/dualbeat-sandbox"))
    args = parser.parse_args()
    try:
        run(args.dir)
    except DualbeatError as exc:
        print(f"demo failed: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
