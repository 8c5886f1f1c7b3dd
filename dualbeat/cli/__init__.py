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

import importlib
from collections.abc import Iterable, Mapping
from importlib.metadata import EntryPoint, entry_points
from typing import Any

import click

from dualbeat import __version__
from dualbeat.ops.outcome import help_epilog

ENTRY_POINTS = "dualbeat.commands"

#: Every product command: its name and the ``module:attribute`` that defines it.
COMMANDS = {
    "init": "dualbeat.cli.setup:init",
    "check-config": "dualbeat.cli.setup:check_config",
    "repl": "dualbeat.cli.repl:repl",
    "checksum": "dualbeat.cli.checksum:checksum",
    "rejoin": "dualbeat.cli.rejoin:rejoin",
    "agent": "dualbeat.cli.agent:agent",
    "status": "dualbeat.cli.agent:status",
    "history": "dualbeat.cli.agent:history",
    "fsm": "dualbeat.cli.agent:fsm",
    "maintenance": "dualbeat.cli.operate:maintenance",
    "standby": "dualbeat.cli.operate:standby",
    "takeover": "dualbeat.cli.operate:takeover",
    "switchover": "dualbeat.cli.operate:switchover",
}


class LazyGroup(click.Group):
    """A group whose commands are imported when one is run or listed (click's "lazily
    loading subcommands" pattern).

    Why: ``dualbeat agent`` runs for months, and every module it imports stays in its
    memory (issue 14: at most 50 MB RSS idle). Importing every command file would load the
    workflows and renderings of ``repl``, ``checksum`` and ``rejoin`` (binlog decoding,
    rich tables) into an agent that never uses them. ``--help`` lists them all, so it still
    imports them all; ``commands`` holds those loaded so far.

    The plugins (``add_plugins``) are loaded only when a name is not a product command,
    or when the commands are listed: loading one imports its code (the lab's is 3 MB of
    the agent's memory in the sandbox, where a server has none)."""

    def __init__(self, *args: Any, lazy: Mapping[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy)
        self._plugins_added = False

    def _add_plugins(self) -> None:
        if not self._plugins_added:
            self._plugins_added = True
            add_plugins(self)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._add_plugins()
        return sorted({*self.commands, *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name not in self.lazy:
            self._add_plugins()
        if cmd_name not in self.commands and cmd_name in self.lazy:
            module, _, attribute = self.lazy[cmd_name].partition(":")
            command = getattr(importlib.import_module(module), attribute)
            if not isinstance(command, click.Command):
                raise TypeError(f"{self.lazy[cmd_name]} is not a click command")
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)


@click.group(
    cls=LazyGroup,
    lazy=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog=help_epilog(),
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
        taken = name in group.list_commands(click.Context(group))  # loaded or not yet
        if not isinstance(command, click.Command) or taken:
            why = "would replace a command" if taken else "is not a command"
            click.echo(f"dualbeat: warning: {ENTRY_POINTS} {point.value} {why}", err=True)
            continue
        group.add_command(command, name)


def main() -> None:
    cli(prog_name="dualbeat")
