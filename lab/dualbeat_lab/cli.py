"""``dualbeat sandbox ...``: the lab's commands, added to the product's ``dualbeat`` command
through the ``dualbeat.commands`` entry point group (see lab/pyproject.toml).

The helpers here (console, error printing, progress) are the lab's own on purpose: the lab
depends on dualbeat's public pieces (``errors``, ``mysql``, ``agent.control``), never on how the
product's CLI is laid out inside.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console

from dualbeat.errors import DualbeatError
from dualbeat_lab.writer import BENCH_PROFILES, Profile

F = TypeVar("F", bound=Callable[..., Any])
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def handle_errors(fn: F) -> F:
    """Print a dualbeat error as one clear message and exit with its code (no traceback)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except DualbeatError as exc:
            err.print(f"[bold red]dualbeat: error:[/] {exc}", highlight=False, markup=True)
            sys.exit(exc.exit_code)

    return wrapper  # type: ignore[return-value]


def progress_printer(prefix: str) -> Callable[[str], None]:
    def show(message: str) -> None:
        err.print(f"[dim]{prefix}[/]{message}", highlight=False)

    return show


@click.group()
def sandbox() -> None:
    """A real local pair in network namespaces, for the demo and the tests (needs root).

    Hosts db1 (10.77.0.11) and db2 (10.77.0.12) each run their own mariadbd; a client
    host (10.77.0.10) sits on the same bridge. With `up --arbiter`, a witness host
    (10.77.0.5 / 10.78.0.5) runs etcd as the pair's arbiter. Nothing touches the host's
    own interfaces or a system MariaDB. Provided by the dualbeat-lab package.
    """


_FAULTS = ("kill", "freeze", "linkdown", "partition", "stop-agent")
sandbox_dir = click.option(
    "--dir",
    "state_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=lambda: os.environ.get("DUALBEAT_SANDBOX_DIR", "/var/lib/dualbeat-sandbox"),
    show_default="$DUALBEAT_SANDBOX_DIR or /var/lib/dualbeat-sandbox",
    help="Where the sandbox keeps datadirs, sockets, logs and its dualbeat.toml.",
)


@sandbox.command("up")
@sandbox_dir
@click.option(
    "--arbiter",
    is_flag=True,
    help="Also build the witness host (10.77.0.5 and 10.78.0.5) running etcd, and give the "
    "generated config an [arbiter] section and [ping] nodes pointing at it. A lab that "
    "has a witness keeps it on a later `up`; `down` removes it.",
)
@handle_errors
def sandbox_up(state_dir: Path, arbiter: bool) -> None:
    """Build (or repair) the lab and set up replication with `dualbeat repl setup`.

    The agents are started too, and the command returns once db1 is active."""
    from dualbeat_lab.sandbox.provision import provision

    info = provision(state_dir, progress_printer("sandbox: "), arbiter=arbiter)
    out.print(info.how_to_connect())


@sandbox.command("status")
@sandbox_dir
@handle_errors
def sandbox_status(state_dir: Path) -> None:
    """Show the lab's hosts, servers and replication."""
    from dualbeat_lab.sandbox import lab

    out.print(lab.status(state_dir).render())


@sandbox.command("drill")
@sandbox_dir
@click.argument("fault", type=click.Choice(_FAULTS))
@click.option(
    "--hold", default=5.0, show_default=True, help="Seconds a freeze, link-down or partition lasts."
)
@click.option("--json", "as_json", is_flag=True, help="Print the timeline as JSON.")
@click.option(
    "--profile",
    type=click.Choice([p.value for p in BENCH_PROFILES]),
    default=Profile.TIGHT.value,
    show_default=True,
    help="The writer's timeouts: tight (connect 0.5 s, read 2 s) or driver-defaults "
    "(connect 10 s, no read timeout).",
)
@handle_errors
def sandbox_drill(state_dir: Path, fault: str, hold: float, as_json: bool, profile: str) -> None:
    """Inject FAULT on the active under a writer and print the failover timeline.

    \b
    Faults:
      kill        kill -9 mysqld on the active
      freeze      SIGSTOP mysqld on the active for --hold seconds
      linkdown    the active's network links lose carrier for --hold seconds
      partition   the switch drops the active's frames (links stay up) for --hold seconds
      stop-agent  kill -9 the active's agent (MySQL stays up: no failover is right)

    A writer in the client namespace inserts a row every 10 ms through the VIP with
    the --profile timeouts and logs every acknowledged write; the timeline shows the fault,
    detection, promotion, the first write after the fault, the longest write gap and
    acknowledged writes lost. Brings the lab and the agents up first if needed.
    """
    from dualbeat_lab.sandbox import drill
    from dualbeat_lab.sandbox.provision import provision

    info = provision(state_dir, progress_printer("sandbox: "))
    result = drill.run(
        info,
        drill.Fault(fault),
        hold=hold,
        progress=progress_printer("drill: "),
        profile=Profile(profile),
    )
    if as_json:
        click.echo(json.dumps(result.as_json(), indent=2, default=str))
    else:
        out.print(result.timeline.render(), highlight=False)
        out.print(
            f"old active {result.old_active}, new active {result.new_active}; "
            f"acknowledged writes lost: {result.lost_text()}; writer log {result.log}"
        )


@sandbox.command("server")
@sandbox_dir
@click.argument("action", type=click.Choice(["start", "stop"]))
@click.argument("node")
@handle_errors
def sandbox_server(state_dir: Path, action: str, node: str) -> None:
    """Start or stop NODE's mariadbd only (the lab's [rejoin] server commands)."""
    from dualbeat_lab.sandbox import lab

    pid = lab.server(state_dir, node, action)
    out.print(f"{node}: mariadbd {'stopped' if action == 'stop' else 'running'} (pid {pid})")


@sandbox.command("down")
@sandbox_dir
@click.option("--purge", is_flag=True, help="Also delete the cached template datadir.")
@handle_errors
def sandbox_down(state_dir: Path, purge: bool) -> None:
    """Stop the lab's servers (by pid) and remove its namespaces and files."""
    from dualbeat_lab.sandbox import lab

    lab.down(state_dir, progress_printer("sandbox: "), purge_template=purge)
    out.print("sandbox removed")
