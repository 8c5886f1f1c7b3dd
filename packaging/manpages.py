"""Write dualbeat's manual pages from the CLI's own help: ``dualbeat.1`` and one page per
command (``dualbeat-repl-setup.1``, ...), so ``man`` and ``--help`` can never disagree.

Why click-man's library and not its command: its command takes the first click command it
finds in the entry point's module (``main`` is a plain function), which is not the group.
Usage: ``python packaging/manpages.py OUTDIR VERSION``.
"""

from __future__ import annotations

import sys
from importlib.metadata import entry_points
from pathlib import Path

import click
from click_man.core import write_man_pages

from dualbeat.cli import cli


def product(group: click.Group) -> click.Group:
    """The group without the commands other packages plug in (the lab's ``sandbox``): the
    pages document what the package installs, whatever this venv has beside it."""
    plugins = {entry.name for entry in entry_points(group="dualbeat.commands")}
    ctx = click.Context(group)  # the group loads its commands when asked: every one, here
    commands = {
        name: cmd
        for name in group.list_commands(ctx)
        if name not in plugins and (cmd := group.get_command(ctx, name)) is not None
    }
    return click.Group(
        group.name,
        commands=commands,
        params=group.params,
        help=group.help,
        epilog=group.epilog,
        context_settings=group.context_settings,
    )


def main(outdir: str, version: str) -> None:
    target = Path(outdir)
    target.mkdir(parents=True, exist_ok=True)
    write_man_pages("dualbeat", product(cli), version=version, target_dir=str(target))


if __name__ == "__main__":
    main(*sys.argv[1:])
