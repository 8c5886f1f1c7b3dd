"""Writing and checking the configuration: ``dualbeat init`` and ``dualbeat check-config``."""

from __future__ import annotations

from pathlib import Path

import click

from dualbeat import confdir
from dualbeat.cli.common import err, handle_errors, out
from dualbeat.config import load, local_node, safety_warnings
from dualbeat.errors import UsageError


@click.command()
@click.argument("path", type=click.Path(allow_dash=True), default="-")
@click.option("--force", is_flag=True, help="Overwrite an existing configuration file.")
@handle_errors
def init(path: str, force: bool) -> None:
    """Create the configuration directory PATH (default: print the example).

    PATH (for example /etc/dualbeat) is created 0700 if missing, with a commented example
    dualbeat.toml whose file paths point into it, a random heartbeat key and random
    password files (each 0600), and the next steps are printed. A key or password file
    that exists is never replaced, so running init again cannot give the two servers
    different keys. A PATH ending in .toml writes the example configuration alone.
    """
    example = confdir.example_config(Path(confdir.EXAMPLE_DIR))
    if path == "-":
        click.echo(example, nl=False)
        return
    target = Path(path)
    if target.suffix == ".toml":
        if target.exists() and not force:
            raise UsageError(f"{target} exists; use --force to overwrite it")
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        target.write_text(example)
        err.print(f"wrote {target}; edit it, then: dualbeat check-config {target}")
        return
    created = confdir.create(target, force=force)
    for file in created.written:
        err.print(f"wrote {file}")
    for file in created.kept:
        err.print(f"kept {file} (exists)")
    err.print(confdir.next_steps(created), highlight=False, markup=False)


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
    (deadtime < 2 x keepalive, timeouts longer than the interval), an IPv6 VIP.

    On a host that is neither node (a third host that runs `repl setup`, a laptop) it
    validates everything that needs no identity and says so; with --node it insists
    that this host is NODE.

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

        here = local_addresses()
        if node is None and not any(str(n.address) in here for n in config.nodes):
            out.print(
                f"{path}: OK (cluster {config.cluster!r}, nodes {config.node_names()}); this "
                "host is neither node: fine for repl setup, check and checksum, while the "
                "agent runs only on the nodes"
            )
        else:
            me = local_node(config, here, node)
            peer = config.peer_of(me.name).name
            out.print(
                f"{path}: OK (cluster {config.cluster!r}; this host is {me.name}, peer {peer})"
            )
    for warning in safety_warnings(config):
        out.print(
            f"{path}: warning: [{warning.section}] {warning.risk}",
            style="yellow",
            markup=False,
            highlight=False,
        )
        out.print(f"  fix: {warning.fix}", markup=False, highlight=False)
