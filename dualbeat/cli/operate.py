"""Steering the pair through the agents: ``maintenance``, ``standby``, ``takeover`` and
``switchover``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

from dualbeat.cli.common import config_option, err, handle_errors, node_for, node_option, out
from dualbeat.errors import RefusedError, UsageError


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
    from dualbeat.agent import control

    config, name = node_for(config_path, node)
    on = state == "on"
    answer = control.request(config.state_dir(name), {"cmd": "maintenance", "on": on})
    if not answer.get("ok"):
        raise UsageError(str(answer.get("error")))
    for reason in answer["reasons"]:
        if reason["code"].startswith("MAINTENANCE_"):
            out.print(f"{name}: {reason['code']}: {reason['text']}", highlight=False)
    if not answer.get("persisted"):
        err.print(f"warning: {name} has not written the setting to its state file yet")
    peer = config.peer_of(name).name
    confirmed = control.wait_status(
        config.state_dir(name), lambda st: st["peer_view"]["maintenance"] is on, timeout
    )
    if confirmed is None:
        err.print(
            f"warning: {peer} has not confirmed within {timeout:g} s (is its agent running?); "
            f"it follows when it hears {name}",
            highlight=False,
        )
        return
    out.print(f"[green]✓[/] maintenance mode {state} on {name} and {peer}")


def _command(config_path: Path, node: str | None, payload: dict[str, Any]) -> None:
    from dualbeat.agent import control

    config, name = node_for(config_path, node)
    answer = control.command(config.state_dir(name), payload, f"{name} refused")
    for reason in answer["reasons"]:
        out.print(f"{name}: {reason['code']}: {reason['text']}", highlight=False)
    out.print(f"{name} is now {answer['role']} ({answer['finding']})", highlight=False)


@click.command()
@config_option
@node_option
@handle_errors
def standby(config_path: Path, node: str | None) -> None:
    """Hand over to the peer (HeartBeat's hb_standby).

    The active makes itself read-only, kills client sessions, releases the VIP and tells
    the peer to take over. Refused (exit 4) unless the peer is a healthy standby.
    """
    _command(config_path, node, {"cmd": "standby"})


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
    _command(config_path, node, {"cmd": "takeover", "force": force})


@click.command()
@config_option
@node_option
@click.option("--to", "to", help="The node to make active (default: the current standby).")
@click.option("--dry-run", is_flag=True, help="Run the checks and show the plan; change nothing.")
@click.option(
    "--timeout", default=30.0, show_default=True, help="Seconds to wait for the switchover to end."
)
@handle_errors
def switchover(
    config_path: Path, node: str | None, to: str | None, dry_run: bool, timeout: float
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

    from dualbeat.agent import control
    from dualbeat.repl.switchover import preflight

    config, name = node_for(config_path, node)
    status = control.request(config.state_dir(name), {"cmd": "status"})["status"]
    if status["role"] == "active":
        active = name
    elif status["peer_view"]["role"] == "active":
        active = config.peer_of(name).name
    else:
        raise RefusedError("no node is active right now: there is nothing to switch over")
    target = config.peer_of(active).name
    if to is not None and to != target:
        raise UsageError(
            f"--to {to}: {to} is already the active node"
            if to == active
            else f"--to {to}: no node named {to!r} (nodes: {config.node_names()})"
        )
    checks = preflight(config, active, target)
    if checks.blockers:
        raise RefusedError("switchover refused:\n  " + "\n  ".join(checks.explain()))
    out.print(f"checks passed: {target} is replicating, caught up, without errant transactions")
    if dry_run:
        out.print(f"would move the active role from {active} to {target} (dry run: nothing done)")
        return
    started = time.monotonic()
    control.command(
        config.state_dir(name), {"cmd": "switchover"}, "switchover refused by the agent"
    )

    def moved(st: dict[str, Any]) -> bool:
        if any(
            e["code"] == "SWITCHOVER_ABORTED" and e["ts"] >= time.time() - timeout
            for e in st["recent"]
        ):
            raise RefusedError(
                f"switchover rolled back: {target} could not apply {active}'s "
                "final transactions in time; see `dualbeat status`"
            )
        if target == name:
            return bool(st["role"] == "active" and st["vip"]["held"])
        return bool(st["peer_view"]["role"] == "active" and st["peer_view"]["vip_held"])

    if control.wait_status(config.state_dir(name), moved, timeout) is not None:
        out.print(
            f"[green]✓[/] {target} is active and holds the VIP "
            f"({time.monotonic() - started:.2f} s); {active} is the standby"
        )
        return
    raise RefusedError(f"switchover did not finish within {timeout:g} s; see `dualbeat status`")
