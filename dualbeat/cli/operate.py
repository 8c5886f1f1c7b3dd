"""Steering the pair through the agents: ``maintenance``, ``standby``, ``takeover`` and
``switchover``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import click

from dualbeat.agent.control import ControlAnswer, SocketAgent
from dualbeat.cli.common import (
    config_option,
    err,
    handle_errors,
    node_for,
    node_option,
    out,
    progress_printer,
)
from dualbeat.config import Config
from dualbeat.ops import handover
from dualbeat.ops import maintenance as maintenance_ops
from dualbeat.ops import switchover as switchover_ops
from dualbeat.repl.switchover import preflight


@dataclass(frozen=True)
class Seams:
    """What a test may put in click's ``obj`` to run these commands against fakes:
    the switchover's pre-checks (both servers over SQL in production)."""

    checks: switchover_ops.Checks = preflight


def agent_of(config: Config, name: str) -> SocketAgent:
    """``name``'s agent, over its control socket (on this host)."""
    return SocketAgent(config.state_dir(name))


@click.command()
@click.argument("state", type=click.Choice(["on", "off"]))
@config_option
@node_option
@click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    default=10.0,
    show_default=True,
    help="Seconds to wait for the peer to confirm it follows.",
)
@handle_errors
def maintenance(state: str, config_path: Path, node: str | None, timeout: float) -> None:
    """Pause (on) or resume (off) automation on both nodes, like Patroni's pause.

    \b
    On: no failover, no demotion, no fencing, no corrective action (read-only, VIP,
    replication) on either node; the active keeps serving as it is. Monitoring goes
    on: every finding is still judged, shown in `status` and written to the history,
    with what it would have done ("held by maintenance mode"). Operator commands
    (standby, takeover, switchover, rejoin --accept) are refused (exit 4). A node that
    restarts paused adopts the role its servers show and changes nothing.

    \b
    The setting is durable (the node's state file) and travels in the heartbeat: the
    peer follows within a heartbeat, and a node that was down catches up when it hears
    the other again; the newest command wins, from either node.

    \b
    Off: the agents judge the situation afresh from current evidence; if the active's
    MySQL died meanwhile, the failover happens now.

    Needs the local agent running (exit 7 otherwise); waits up to --timeout for the
    peer to confirm (a warning, not an error, if it does not: it follows when it hears
    this node).
    """
    config, name = node_for(config_path, node)
    peer = config.peer_of(name).name
    done = maintenance_ops.switch(agent_of(config, name), name, state == "on", timeout=timeout)
    for reason in done.answer.reasons:
        if reason.code.startswith("MAINTENANCE_"):
            out.print(f"{name}: {reason.code}: {reason.text}", highlight=False)
    if not done.answer.persisted:
        err.print(f"warning: {name} has not written the setting to its state file yet")
    if not done.confirmed:
        err.print(
            f"warning: {peer} has not confirmed within {timeout:g} s (is its agent running?); "
            f"it follows when it hears {name}",
            highlight=False,
        )
        return
    out.print(f"[green]✓[/] maintenance mode {state} on {name} and {peer}")


def _said(name: str, answer: ControlAnswer) -> None:
    for reason in answer.reasons:
        out.print(f"{name}: {reason.code}: {reason.text}", highlight=False)
    out.print(f"{name} is now {answer.role} ({answer.finding})", highlight=False)


@click.command()
@config_option
@node_option
@handle_errors
def standby(config_path: Path, node: str | None) -> None:
    """Hand over to the peer (HeartBeat's hb_standby).

    The active makes itself read-only, kills client sessions, releases the VIP and tells
    the peer to take over. Refused (exit 4) unless the peer is a healthy standby.
    """
    config, name = node_for(config_path, node)
    _said(name, handover.standby(agent_of(config, name), name))


@click.command()
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
    config, name = node_for(config_path, node)
    _said(name, handover.takeover(agent_of(config, name), name, force=force))


@click.command()
@config_option
@node_option
@click.option("--to", "to", help="The node to make active (default: the current standby).")
@click.option("--dry-run", is_flag=True, help="Run the checks and show the plan; change nothing.")
@click.option(
    "--timeout", default=30.0, show_default=True, help="Seconds to wait for the switchover to end."
)
@handle_errors
@click.pass_context
def switchover(
    ctx: click.Context,
    config_path: Path,
    node: str | None,
    to: str | None,
    dry_run: bool,
    timeout: float,
) -> None:
    """Move the active role to the other node: planned, lossless, explained.

    \b
    Checks first, over SQL on both servers, and refuses (exit 4) with the reasons when
    the standby is not replicating, lags, holds errant transactions, or the offsets
    or server ids are wrong. Then the agents do it:
      1. the active goes read-only, kills client sessions, reads its final executed
         GTID set and releases the VIP;
      2. the standby applies exactly that set (bounded by replication.apply_timeout);
         if it cannot, the switchover rolls back and the old active keeps the role;
      3. the standby raises the epoch, becomes writable, claims the VIP and sends
         gratuitous ARP; the old active replicates from it as the new standby.
    Run it on either node; it waits until the new active holds the VIP.
    """
    config, name = node_for(config_path, node)
    port = agent_of(config, name)
    checks = ctx.obj.checks if isinstance(ctx.obj, Seams) else preflight
    plan = switchover_ops.check(config, port, name, to=to, checks=checks)
    out.print(
        f"checks passed: {plan.target} is replicating, caught up, without errant transactions"
    )
    if dry_run:
        out.print(
            f"would move the active role from {plan.active} to {plan.target} "
            "(dry run: nothing done)"
        )
        return
    switchover_ops.start(port, plan, progress_printer())
    seconds = switchover_ops.wait(port, plan, timeout)
    out.print(
        f"[green]✓[/] {plan.target} is active and holds the VIP ({seconds:.2f} s); "
        f"{plan.active} is the standby"
    )
