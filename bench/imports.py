"""What ``dualbeat agent`` costs in memory before it does anything: RSS and modules at start.

    .venv/bin/python bench/imports.py                 # 5 fresh interpreters, JSON on stdout
    .venv/bin/python bench/imports.py --runs 9 --top 15 --extra dualbeat.api.server

Issue 14 item 5 asks for at most 50 MB RSS per host for an idle agent. Most of an idle
agent's memory is the code it imported, and that is fixed once its loops start, so this
measures it without a lab, MySQL or root. Each run is a fresh interpreter that imports
exactly what ``dualbeat agent`` has imported when it calls ``Agent(...).run()``: the
``dualbeat`` command group (``dualbeat.cli``), the ``agent`` command's file, then the
modules the command imports in its body. The group loads the ``dualbeat.commands``
plugins (the lab's ``sandbox``, in a dev venv) only for a command that is not its own,
so they are not among them; ``--without-plugins`` makes the child's ``entry_points``
return none of that group, as on a server where the lab is not installed, to show it.
Each child reports:

* ``rss_kb``: ``VmRSS`` from ``/proc/self/status`` (what ``ps`` and ``bench/cost.py`` show);
* ``modules``: ``len(sys.modules)``;
* ``top``: top-level packages by number of modules loaded.

What the agent imports only when configured (``[api]``: Starlette/uvicorn; webhooks: httpx)
is left out unless named with ``--extra``. Reported: median, min and max of RSS and module
count over ``--runs`` processes, and the package counts of the median run (they do not
vary between runs). Figures are measured, not asserted; the machine is shared, but RSS of
a fresh import does not depend on its load.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

#: What ``dualbeat.cli.agent.agent`` has imported when it calls ``asyncio.run``: the
#: command group the console script loads, then the imports in the command's body.
AGENT_IMPORTS = (
    "dualbeat.cli",
    "dualbeat.cli.agent",
    "asyncio",
    "logging",
    "dualbeat.agent.runtime",
    "dualbeat.vip.addresses",
)

#: Runs in the child: import, then measure. Kept to the standard library so the figures
#: are the imports' and not the probe's.
_CHILD = """
import importlib, json, sys
if sys.argv[1] == "--without-plugins":
    import importlib.metadata as md
    every = md.entry_points
    md.entry_points = lambda **kw: [] if kw.get("group") == "dualbeat.commands" else every(**kw)
for name in sys.argv[2:]:
    importlib.import_module(name)
with open("/proc/self/status") as f:
    rss = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
packages = {}
for name in list(sys.modules):
    top = name.split(".", 1)[0]
    packages[top] = packages.get(top, 0) + 1
print(json.dumps({"rss_kb": rss, "modules": len(sys.modules), "packages": packages}))
"""


def measure_once(modules: Sequence[str], plugins: bool = True) -> dict[str, Any]:
    """One fresh interpreter importing ``modules``; its own figures, as it reports them.
    Without ``plugins`` it sees no ``dualbeat.commands`` entry points, as on a server."""
    flag = "--with-plugins" if plugins else "--without-plugins"
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, flag, *modules],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def summary(runs: Sequence[dict[str, Any]], top: int) -> dict[str, Any]:
    """Median/min/max of RSS (MB) and module count; the median run's biggest packages."""
    rss = [r["rss_kb"] / 1024 for r in runs]
    mods = [r["modules"] for r in runs]
    median_run = sorted(runs, key=lambda r: r["rss_kb"])[len(runs) // 2]
    packages = sorted(median_run["packages"].items(), key=lambda kv: (-kv[1], kv[0]))
    return {
        "runs": len(runs),
        "rss_mb": {
            "median": round(statistics.median(rss), 1),
            "min": round(min(rss), 1),
            "max": round(max(rss), 1),
        },
        "modules": {
            "median": statistics.median(mods),
            "min": min(mods),
            "max": max(mods),
        },
        "top_packages": dict(packages[:top]),
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--runs", type=int, default=5, help="fresh processes (default 5)")
    parser.add_argument("--top", type=int, default=12, help="packages listed (default 12)")
    parser.add_argument(
        "--extra",
        action="append",
        default=[],
        metavar="MODULE",
        help="also import MODULE (e.g. dualbeat.api.server for an agent with [api])",
    )
    parser.add_argument(
        "--baseline",
        action="store_true",
        help="import nothing: a bare interpreter, for comparison",
    )
    parser.add_argument(
        "--without-plugins",
        action="store_true",
        help="hide the dualbeat.commands plugins (the lab's sandbox), as on a server",
    )
    args = parser.parse_args(argv)
    modules = [] if args.baseline else [*AGENT_IMPORTS, *args.extra]
    plugins = not args.without_plugins
    runs = [measure_once(modules, plugins) for _ in range(args.runs)]
    report = {
        "python": sys.version.split()[0],
        "imports": modules,
        "plugins": plugins,
        **summary(runs, args.top),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
