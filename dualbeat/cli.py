"""The ``dualbeat`` command.

Why click + rich: click gives nested commands, typed options and ``--help`` pages built from
docstrings (the man page lives next to the code it documents); rich gives the OK/WARN/FAIL
tables and live progress a DBA reads at 3 a.m. The commands here only parse arguments and
render results: the work is done by functions in ``repl``, ``sandbox`` and (later) the agent,
so the HTTP API can call the same functions.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.table import Table

from dualbeat import __version__
from dualbeat.config import Config, load, local_node
from dualbeat.errors import DualbeatError, RefusedError, UsageError

F = TypeVar("F", bound=Callable[..., Any])
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
DEFAULT_CONFIG = "/etc/dualbeat/dualbeat.toml"
EXIT_CODES = """\b
Exit codes:
  0  success (warnings included)
  1  a check found a FAIL
  2  bad configuration or usage
  3  a MySQL server could not be reached or refused us
  4  refused: the command would lose data or break a safety rule
  5  sandbox error"""


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


def progress_printer(prefix: str = "") -> Callable[[str], None]:
    def show(message: str) -> None:
        err.print(f"[dim]{prefix}[/]{message}", highlight=False)

    return show


config_option = click.option(
    "-c",
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=lambda: os.environ.get("DUALBEAT_CONFIG", DEFAULT_CONFIG),
    show_default=f"$DUALBEAT_CONFIG or {DEFAULT_CONFIG}",
    help="The dualbeat TOML file (the same on both servers).",
)


@click.group(
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog=EXIT_CODES,
)
@click.version_option(__version__, prog_name="dualbeat")
def cli() -> None:
    """High availability for a MySQL/MariaDB dual-master pair.

    dualbeat is HeartBeat + Mon + dual-master replication as one program: two servers
    exchange authenticated heartbeats, each watches its own MySQL, the active one holds the
    virtual IP and takes writes, the standby stays read-only and replicating.

    \b
    Getting started on two servers:
      dualbeat init /etc/dualbeat/dualbeat.toml     write a commented example
      dualbeat check-config /etc/dualbeat/dualbeat.toml
      dualbeat repl setup                           make the pair replicate both ways
      dualbeat repl check                           lint and live-check the pair

    \b
    Trying it locally (root, network namespaces, MariaDB):
      dualbeat sandbox up | status | down

    Every command takes -h/--help.
    """


def main() -> None:
    cli(prog_name="dualbeat")


# ---------------------------------------------------------------------------- config


@cli.command()
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


@cli.command("check-config")
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
    """
    config = load(path)
    if no_local_check:
        out.print(f"{path}: OK (cluster {config.cluster!r}, nodes {config.node_names()})")
        return
    from dualbeat.vip.addresses import local_addresses

    me = local_node(config, local_addresses(), node)
    peer = config.peer_of(me.name).name
    out.print(f"{path}: OK (cluster {config.cluster!r}; this host is {me.name}, peer {peer})")


# ------------------------------------------------------------------------------ repl


@cli.group()
def repl() -> None:
    """Set up and check dual-master replication between the two nodes."""


@repl.command("setup")
@config_option
@click.option("--active", help="The node that ends up writable (default: the first node).")
@click.option("--force", is_flag=True, help="Proceed even if the servers' data has diverged.")
@click.option("--dry-run", is_flag=True, help="Show what would change; change nothing.")
@handle_errors
def repl_setup(config_path: Path, active: str | None, force: bool, dry_run: bool) -> None:
    """Make the two servers replicate from each other, idempotently.

    \b
    Steps (each shown as it runs; a step already done is skipped):
      1. read both servers; refuse if a static setting is missing (log_bin,
         log_slave_updates, MySQL gtid_mode) or if their data has diverged
         (each has transactions the other lacks) unless --force;
      2. SET GLOBAL binlog_format=ROW, auto_increment_increment=2 and
         offsets 1/2, distinct server_id / gtid_domain_id, slave_net_timeout=10;
      3. create the replication user on both (not binlogged) when [admin] is given;
      4. CHANGE MASTER both ways with GTID auto-positioning, START SLAVE;
      5. make the passive read-only, then the active writable.

    Settings changed with SET GLOBAL are listed at the end: add them to my.cnf
    (MariaDB has no SET PERSIST), or a restart undoes them.
    """
    from dualbeat.repl.setup import setup_pair

    config = load(config_path)
    report = setup_pair(
        config, active=active, force=force, dry_run=dry_run, progress=progress_printer()
    )
    verb = "would be" if dry_run else "is"
    out.print(
        f"[green]✓[/] {report.active} {verb} active (writable), {report.passive} {verb} passive "
        f"(read-only); {len(report.changes)} change(s)"
    )
    for node, settings in report.persist.items():
        out.print(f"\nPersist in my.cnf on {node} ([mariadbd] / [mysqld] section):")
        for name, value in settings.items():
            out.print(f"  {name} = {value}", highlight=False)


@repl.command("check", epilog=EXIT_CODES)
@config_option
@click.option("--active", help="Judge with NODE as the active (default: the writable node).")
@click.option("--json", "as_json", is_flag=True, help="Print findings as JSON.")
@handle_errors
def repl_check(config_path: Path, active: str | None, as_json: bool) -> None:
    """Lint and live-check every dual-master pitfall.

    \b
    Checks: server_id, auto_increment offsets, log_bin, log_slave_updates, binlog_format,
    sync_binlog=1, innodb_flush_log_at_trx_commit=1, relay_log_recovery, GTID mode and
    domains, slave_net_timeout, replication source, I/O and SQL threads, lag, errant
    transactions (on the passive, missing on the active), exactly one writer, passive
    read-only, semi-sync state.

    Each finding is OK, WARN or FAIL with a hint. Exit code 1 on any FAIL.
    """
    from dualbeat.repl.inspect import inspect_pair

    config = load(config_path)
    findings = inspect_pair(config, active=active)
    from dualbeat.repl.check import Status, worst

    if as_json:
        click.echo(json.dumps([f.as_json() for f in findings], indent=2))
    else:
        colour = {Status.OK: "green", Status.WARN: "yellow", Status.FAIL: "bold red"}
        table = Table(title=f"dual-master check: {config.cluster}", show_lines=False)
        for col in ("check", "node", "status", "detail", "hint"):
            table.add_column(col, overflow="fold")
        for f in findings:
            table.add_row(
                f.check, f.node, f"[{colour[f.status]}]{f.status.name}[/]", f.detail, f.hint
            )
        out.print(table)
    if worst(findings) is Status.FAIL:
        sys.exit(1)


# --------------------------------------------------------------------------- sandbox


@cli.group()
def sandbox() -> None:
    """A real local pair in network namespaces, for the demo and the tests (needs root).

    Hosts db1 (10.77.0.11) and db2 (10.77.0.12) each run their own mariadbd; a client
    host (10.77.0.10) sits on the same bridge. Nothing touches the host's own interfaces
    or a system MariaDB.
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
@handle_errors
def sandbox_up(state_dir: Path) -> None:
    """Build (or repair) the lab and set up replication with `dualbeat repl setup`."""
    from dualbeat.sandbox.provision import provision

    info = provision(state_dir, progress_printer("sandbox: "))
    out.print(info.how_to_connect())


@sandbox.command("status")
@sandbox_dir
@handle_errors
def sandbox_status(state_dir: Path) -> None:
    """Show the lab's hosts, servers and replication."""
    from dualbeat.sandbox import lab

    out.print(lab.status(state_dir).render())


@sandbox.command("drill")
@sandbox_dir
@click.argument("fault", type=click.Choice(_FAULTS))
@click.option(
    "--hold", default=5.0, show_default=True, help="Seconds a freeze, link-down or partition lasts."
)
@click.option("--json", "as_json", is_flag=True, help="Print the timeline as JSON.")
@handle_errors
def sandbox_drill(state_dir: Path, fault: str, hold: float, as_json: bool) -> None:
    """Inject FAULT on the active under a writer and print the failover timeline.

    \b
    Faults:
      kill        kill -9 mysqld on the active
      freeze      SIGSTOP mysqld on the active for --hold seconds
      linkdown    the active's network links lose carrier for --hold seconds
      partition   the switch drops the active's frames (links stay up) for --hold seconds
      stop-agent  kill -9 the active's agent (MySQL stays up: no failover is right)

    A writer in the client namespace inserts a row every 10 ms through the VIP with
    short timeouts and logs every acknowledged write; the timeline shows the fault,
    detection, promotion, the first write after the fault, the longest write gap and
    acknowledged writes lost. Brings the lab and the agents up first if needed.
    """
    from dualbeat.sandbox import drill
    from dualbeat.sandbox.provision import provision

    info = provision(state_dir, progress_printer("sandbox: "))
    result = drill.run(info, drill.Fault(fault), hold=hold, progress=progress_printer("drill: "))
    if as_json:
        click.echo(json.dumps(result.as_json(), indent=2, default=str))
    else:
        out.print(result.timeline.render(), highlight=False)
        out.print(
            f"old active {result.old_active}, new active {result.new_active}; "
            f"acknowledged writes lost: {len(result.lost)}; writer log {result.log}"
        )


@sandbox.command("down")
@sandbox_dir
@click.option("--purge", is_flag=True, help="Also delete the cached template datadir.")
@handle_errors
def sandbox_down(state_dir: Path, purge: bool) -> None:
    """Stop the lab's servers (by pid) and remove its namespaces and files."""
    from dualbeat.sandbox import lab

    lab.down(state_dir, progress_printer("sandbox: "), purge_template=purge)
    out.print("sandbox removed")


# ----------------------------------------------------------------------------- agent


def _node_for(config_path: Path, node: str | None) -> tuple[Config, str]:
    """The config and the node this command speaks for: --node, or this host's address."""
    config = load(config_path)
    if node is not None:
        return config, config.node(node).name
    from dualbeat.vip.addresses import local_addresses

    return config, local_node(config, local_addresses()).name


node_option = click.option(
    "--node", help="The node to act as / ask (default: the node whose address is on this host)."
)


@cli.command()
@config_option
@node_option
@click.option(
    "--keep",
    is_flag=True,
    help="On SIGTERM keep the role: an active stays active instead of handing over.",
)
@handle_errors
def agent(config_path: Path, node: str | None, keep: bool) -> None:
    """Run the HA agent for this node (HeartBeat + Mon in one process).

    \b
    Every keepalive it sends authenticated heartbeats on every link; every monitor
    interval it probes the local MySQL, the peer's MySQL over SQL and the VIP. The
    decisions (promote, yield, fence) are logged one JSON line each to standard error
    and to STATE_DIR/events.jsonl; `dualbeat status` asks it over STATE_DIR/agent.sock.

    \b
    Signals: SIGTERM/SIGINT stop it. An active agent first hands over to a healthy
    standby (like hb_standby) unless --keep; with no healthy standby it keeps the role.
    Run it under systemd: deploy/dualbeat.service.
    """
    import asyncio
    import logging

    from dualbeat.agent.runtime import Agent

    config = load(config_path)
    from dualbeat.vip.addresses import local_addresses

    me = local_node(config, local_addresses(), node)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    asyncio.run(Agent(config, me.name, keep_on_stop=keep).run())


@cli.command()
@config_option
@node_option
@click.option("--json", "as_json", is_flag=True, help="Print the agent's status as JSON.")
@handle_errors
def status(config_path: Path, node: str | None, as_json: bool) -> None:
    """Show both nodes as the local agent sees them.

    Role, epoch, MySQL health, writability, replication, VIP, heartbeat age per link,
    semi-sync, and the last decisions. Exit code 7 if no agent answers.
    """
    from dualbeat.agent import control
    from dualbeat.agent.render import render_status

    config, name = _node_for(config_path, node)
    answer = control.request(config.state_dir(name), {"cmd": "status"})
    if as_json:
        click.echo(json.dumps(answer["status"], indent=2, default=str))
    else:
        out.print(render_status(answer["status"]))


def _command(config_path: Path, node: str | None, payload: dict[str, Any]) -> None:
    from dualbeat.agent import control

    config, name = _node_for(config_path, node)
    answer = control.request(config.state_dir(name), payload)
    if not answer.get("ok"):
        raise UsageError(str(answer.get("error")))
    for reason in answer["reasons"]:
        out.print(f"{name}: {reason['code']}: {reason['text']}", highlight=False)
    out.print(f"{name} is now {answer['role']} ({answer['finding']})", highlight=False)
    if answer["finding"].endswith("_refused"):
        why = answer["reasons"][0]["text"] if answer["reasons"] else answer["finding"]
        raise RefusedError(f"{name} refused: {why}")


@cli.command()
@config_option
@node_option
@handle_errors
def standby(config_path: Path, node: str | None) -> None:
    """Hand over to the peer (HeartBeat's hb_standby).

    The active makes itself read-only, kills client sessions, releases the VIP and tells
    the peer to take over. Refused (exit 4) unless the peer is a healthy standby.
    """
    _command(config_path, node, {"cmd": "standby"})


@cli.command()
@config_option
@node_option
@click.option(
    "--force", is_flag=True, help="Take over even if the peer holds transactions this node lacks."
)
@handle_errors
def takeover(config_path: Path, node: str | None, force: bool) -> None:
    """Make this node active (HeartBeat's hb_takeover).

    With a live active peer, asks it to yield, then promotes. With the peer gone,
    promotes at once, but refuses (exit 4) while the peer's last known transactions are
    not all here, since they would be lost; --force accepts that loss.
    """
    _command(config_path, node, {"cmd": "takeover", "force": force})


@cli.command()
@click.option("--dot", is_flag=True, help="Print the role diagram in Graphviz dot.")
def fsm(dot: bool) -> None:
    """Print the role transition table (role, finding -> role: why)."""
    from dualbeat.core.transitions import TABLE, to_dot

    if dot:
        click.echo(to_dot())
        return
    for (role, finding), (target, why) in TABLE.items():
        click.echo(f"{role.value:9} {finding.value:18} -> {target.value:9} {why}")
