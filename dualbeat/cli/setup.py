"""Writing and checking the configuration: ``dualbeat init`` and ``dualbeat check-config``."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import click

from dualbeat.cli.common import err, handle_errors, out
from dualbeat.config import load, local_node, safety_warnings
from dualbeat.errors import UsageError


@click.command()
@click.argument("path", type=click.Path(dir_okay=False, allow_dash=True), default="-")
@click.option("--force", is_flag=True, help="Overwrite PATH if it exists.")
@handle_errors
def init(path: str, force: bool) -> None:
    """Write a commented example configuration to PATH (default: standard output).

    The example documents every key with its default. Edit the node names and addresses,
    the VIP and the credential files, then run `dualbeat check-config PATH`.
    """
    text = resources.files("dualbeat").joinpath("example.toml").read_text()
    if path == "-":
        click.echo(text, nl=False)
        return
    target = Path(path)
    if target.exists() and not force:
        raise UsageError(f"{target} exists; use --force to overwrite it")
    target.write_text(text)
    err.print(f"wrote {target}; edit it, then: dualbeat check-config {target}")


@click.command("check-config")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--node", help="Check that this host is NODE (default: find it by address).")
@click.option(
    "--no-local-check",
    is_flag=True,
    help="Skip checking that one node's address belongs to this host (to lint a file elsewhere).",
)
@handle_errors
def check_config(path: Path, node: str | None, no_local_check: bool) -> None:
    """Validate a configuration file and say which node this host is.

    Every problem is reported as FILE:LINE: key: message, and the exit code is 2: unknown
    keys, wrong types, missing or group/world-readable secret files, impossible timings
    (deadtime < 2 x keepalive, timeouts longer than the interval), and a host that is
    neither node.

    A valid file still gets warnings (exit code 0) for the faults it leaves open: without
    an [arbiter], a partition between the nodes with both alive, and a paused active that
    resumes, can give two writers; a watchdog slower than the arbiter lease resets a hung
    active too late.
    """
    config = load(path)
    if no_local_check:
        out.print(f"{path}: OK (cluster {config.cluster!r}, nodes {config.node_names()})")
    else:
        from dualbeat.vip.addresses import local_addresses

        me = local_node(config, local_addresses(), node)
        peer = config.peer_of(me.name).name
        out.print(f"{path}: OK (cluster {config.cluster!r}; this host is {me.name}, peer {peer})")
    for warning in safety_warnings(config):
        out.print(
            f"{path}: warning: [{warning.section}] {warning.risk}",
            style="yellow",
            markup=False,
            highlight=False,
        )
        out.print(f"  fix: {warning.fix}", markup=False, highlight=False)
