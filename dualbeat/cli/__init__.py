"""The ``dualbeat`` command: one file per family of commands, each a thin shell.

Why click + rich: click gives nested commands, typed options and ``--help`` pages built from
docstrings (the man page lives next to the code it documents); rich gives the OK/WARN/FAIL
tables and live progress a DBA reads at 3 a.m. A command parses its arguments, calls a
workflow and renders what comes back. The workflows the HTTP API offers too (switchover,
standby, takeover, maintenance, rejoin) live in ``dualbeat.ops``, so both refuse the same
things for the same reasons; the others call ``repl``, ``checksum`` or the agent.

Other packages add command groups through the ``dualbeat.commands`` entry point group
(the lab's ``dualbeat sandbox``, when it is installed); the product ships none of them.
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib.metadata import EntryPoint, entry_points

import click

from dualbeat import __version__
from dualbeat.cli import agent, checksum, operate, rejoin, repl, setup
from dualbeat.cli.common import EXIT_CODES

ENTRY_POINTS = "dualbeat.commands"


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
      dualbeat init /etc/dualbeat          config, ONE heartbeat key, password files
      (copy /etc/dualbeat to the other server: both need the same key)
      dualbeat check-config /etc/dualbeat/dualbeat.toml
      dualbeat repl setup --create-agent-user   replication both ways, the agent's account
      dualbeat repl check                  lint and live-check the pair
      systemctl enable --now dualbeat      the agent, on both servers

    Every command takes -h/--help.
    """


for _command in (
    setup.init,
    setup.check_config,
    repl.repl,
    checksum.checksum,
    rejoin.rejoin,
    agent.agent,
    agent.status,
    agent.history,
    agent.fsm,
    operate.maintenance,
    operate.standby,
    operate.takeover,
    operate.switchover,
):
    cli.add_command(_command)


def add_plugins(group: click.Group, points: Iterable[EntryPoint] | None = None) -> None:
    """Add the command groups other installed packages register (``dualbeat.commands``).

    A plugin that fails to load, is not a click command or would replace a product
    command is skipped with a warning: a broken lab install must not take
    ``dualbeat status`` down with it."""
    for point in entry_points(group=ENTRY_POINTS) if points is None else points:
        try:
            command = point.load()
        except Exception as exc:  # any import error of foreign code: say it, go on
            click.echo(f"dualbeat: warning: {ENTRY_POINTS} {point.value}: {exc}", err=True)
            continue
        name = getattr(command, "name", None) or point.name
        if not isinstance(command, click.Command) or name in group.commands:
            why = "would replace a command" if name in group.commands else "is not a command"
            click.echo(f"dualbeat: warning: {ENTRY_POINTS} {point.value} {why}", err=True)
            continue
        group.add_command(command, name)


add_plugins(cli)


def main() -> None:
    cli(prog_name="dualbeat")
