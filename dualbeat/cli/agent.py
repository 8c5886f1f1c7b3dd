"""Running and watching the agent: ``agent``, ``status``, ``history`` and ``fsm``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from dualbeat.cli import common
from dualbeat.cli.common import config_option, handle_errors, node_for, node_option
from dualbeat.config import load, local_node
from dualbeat.errors import UsageError


@click.command()
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


@click.command()
@config_option
@node_option
@click.option("--json", "as_json", is_flag=True, help="Print the agent's status as JSON.")
@click.option(
    "--watch", is_flag=True, help="A live view that refreshes itself until Ctrl-C (exit code 0)."
)
@click.option(
    "--interval",
    type=click.FloatRange(min=0.1),
    default=1.0,
    show_default=True,
    help="Seconds between refreshes of --watch.",
)
@handle_errors
def status(
    config_path: Path, node: str | None, as_json: bool, watch: bool, interval: float
) -> None:
    """Show both nodes as the local agent sees them.

    Role, epoch, maintenance mode, MySQL health, writability, replication and lag, VIP,
    heartbeat age per link, semi-sync, and the last decisions. Exit code 7 if no agent
    answers.

    \b
    --watch keeps the view on screen and refreshes it every --interval seconds: both
    nodes, the VIP, replication and lag, the heartbeat links and the latest events of
    this node's history file. When the agent does not answer (stopped, restarting) the
    view says so and keeps the events, which are read from the file; it picks the agent
    up again when it answers. Ctrl-C leaves it.
    """
    from dualbeat.agent import control
    from dualbeat.agent.render import render_status

    config, name = node_for(config_path, node)
    if watch:
        if as_json:
            raise UsageError("--watch is a view for a terminal; it does not combine with --json")
        _watch(config.state_dir(name), name, interval)
        return
    shown = control.SocketAgent(config.state_dir(name)).status()
    if as_json:
        click.echo(json.dumps(shown.to_json(), indent=2))
    else:
        common.out.print(render_status(shown))


def _watch(state_dir: Path, name: str, interval: float) -> None:
    """Refresh the live view until Ctrl-C; an unreachable agent is shown, not fatal."""
    import time

    from rich.live import Live

    from dualbeat.agent import control, history
    from dualbeat.agent.render import render_watch
    from dualbeat.errors import AgentUnreachable

    def frame() -> Any:
        status, error = None, ""
        try:
            status = control.SocketAgent(state_dir, timeout=2.0).status()
        except (AgentUnreachable, OSError) as exc:
            error = str(exc)
        events = history.tail(state_dir, 12)
        return render_watch(name, status, error, events, interval=interval, now=time.time())

    try:
        with Live(frame(), console=common.out, auto_refresh=False, screen=False) as live:
            while True:
                time.sleep(interval)
                live.update(frame(), refresh=True)
    except KeyboardInterrupt:
        return


@click.command()
@config_option
@node_option
@click.option(
    "--since",
    metavar="WHEN",
    help="Only events since WHEN: a span back from now (90s, 10m, 2h, 1d) or an ISO 8601 "
    "time (2026-11-25T17:00; local time unless it names a zone).",
)
@click.option("--limit", type=click.IntRange(min=0), metavar="N", help="Only the newest N events.")
@click.option(
    "--json", "as_json", is_flag=True, help="One JSON object per line, as stored (for jq)."
)
@handle_errors
def history(
    config_path: Path,
    node: str | None,
    since: str | None,
    limit: int | None,
    as_json: bool,
) -> None:
    """Show the node's event history, oldest first, from its own store.

    \b
    Every decision of the agent with its reason code, sentence and evidence (the
    finding, the peer's silence per link, MySQL health, the peer's role and epoch);
    every takeover with its phase timings (detect, apply, promote, VIP, total) and
    takeover record; every demotion with its fence time; maintenance on/off; the
    rejoin reports written by `dualbeat rejoin` (by path).

    \b
    It reads STATE_DIR/events.jsonl (and the rotated events.1.jsonl) directly, so it
    works while the agent is stopped or after it crashed; a line torn by a crash is
    skipped and counted on standard error. --node reads another node's store when its
    state directory is on this host (the sandbox).
    """
    import time

    from dualbeat.agent import history as store
    from dualbeat.agent.render import render_history

    config, name = node_for(config_path, node)
    try:
        cutoff = None if since is None else store.parse_since(since, time.time())
    except ValueError as exc:
        raise UsageError(f"--since: {exc}") from None
    state_dir = config.state_dir(name)
    found = store.read(state_dir, since=cutoff, limit=limit)
    if found.damaged:
        common.err.print(f"{found.damaged} damaged line(s) skipped in {state_dir}", highlight=False)
    if as_json:
        for event in found.events:
            click.echo(json.dumps(event, sort_keys=True, ensure_ascii=False))
        return
    if not found.events:
        common.out.print(
            f"no events in {state_dir / store.FILENAME}" + (f" since {since}" if since else "")
        )
        return
    common.out.print(render_history(found.events, f"{name} ({state_dir})"))


@click.command()
@click.option("--dot", is_flag=True, help="Print the role diagram in Graphviz dot.")
@click.option("--codes", is_flag=True, help="List every reason code with its meaning.")
def fsm(dot: bool, codes: bool) -> None:
    """Print the role transition table (role, finding -> role: why)."""
    from dualbeat.core.reasons import render_codes
    from dualbeat.core.transitions import TABLE, to_dot

    if codes:
        click.echo(render_codes())
        return
    if dot:
        click.echo(to_dot())
        return
    for (role, finding), (target, why) in TABLE.items():
        click.echo(f"{role.value:9} {finding.value:18} -> {target.value:9} {why}")
