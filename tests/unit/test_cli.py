"""The command's shape: one exit-code table (code, ``--help``, README), small files, and
command groups added by other packages through entry points."""

from __future__ import annotations

import re
import subprocess
import sys
from importlib.metadata import EntryPoint
from pathlib import Path

import click
from click.testing import CliRunner

from dualbeat import errors
from dualbeat.cli import COMMANDS, ENTRY_POINTS, add_plugins, cli
from dualbeat.ops.outcome import EXIT_CODES, ExitCode

ROOT = Path(__file__).resolve().parents[2]


@click.command()
def hello() -> None:
    """A plugin's command."""
    click.echo("hello from a plugin")


def readme_exit_codes() -> dict[int, str]:
    """The rows of the README's ``### Exit codes`` table."""
    text = (ROOT / "README.md").read_text()
    section = text.split("### Exit codes", 1)[1].split("\n#", 1)[0]
    rows = re.findall(r"^\| (\d+) \| (.+?) \|$", section, re.MULTILINE)
    return {int(code): meaning for code, meaning in rows}


def test_the_readme_lists_the_exit_codes_of_the_code() -> None:
    assert readme_exit_codes() == {int(c): o.meaning for c, o in EXIT_CODES.items()}


def test_help_lists_the_exit_codes_of_the_code() -> None:
    shown = CliRunner().invoke(cli, ["--help"], terminal_width=200).output
    for code, outcome in EXIT_CODES.items():
        assert f"{int(code)}  {outcome.meaning}" in shown


def test_every_error_exits_with_a_code_of_the_table() -> None:
    def subclasses(cls: type[errors.DualbeatError]) -> list[type[errors.DualbeatError]]:
        return [cls] + [s for sub in cls.__subclasses__() for s in subclasses(sub)]

    for cls in subclasses(errors.DualbeatError):
        assert ExitCode(cls.exit_code) in EXIT_CODES, cls


def test_no_command_file_is_over_400_lines() -> None:
    for path in (ROOT / "dualbeat" / "cli").glob("*.py"):
        assert len(path.read_text().splitlines()) <= 400, path


def test_sandbox_comes_only_from_the_lab() -> None:
    """``dualbeat sandbox`` is there only when the lab is installed, and is the lab's."""
    sandbox = cli.get_command(click.Context(cli), "sandbox")
    if sandbox is not None:
        assert sandbox.callback is not None
        assert sandbox.callback.__module__.startswith("dualbeat_lab."), sandbox.callback


def test_entry_point_groups_are_added_and_cannot_replace_a_command() -> None:
    group = click.Group(commands=[click.Command("status")])
    points = [
        EntryPoint("hello", f"{__name__}:hello", ENTRY_POINTS),
        EntryPoint("status", f"{__name__}:hello", ENTRY_POINTS),  # not "status": its name wins
        EntryPoint("broken", "tests.unit.no_such_module:cli", ENTRY_POINTS),
        EntryPoint("thing", f"{__name__}:ROOT", ENTRY_POINTS),
    ]
    add_plugins(group, points)
    assert sorted(group.commands) == ["hello", "status"]
    assert CliRunner().invoke(group, ["hello"]).output == "hello from a plugin\n"


def test_each_lazy_command_is_named_as_it_is_listed() -> None:
    ctx = click.Context(cli)
    for name in COMMANDS:
        command = cli.get_command(ctx, name)
        assert command is not None and command.name == name, name


def test_the_agent_does_not_load_the_other_commands_workflows() -> None:
    """What ``dualbeat agent`` holds in memory for months: its own command and the runtime,
    not the binlog analysis, checksums and setup that other commands and a rejoin use."""
    probe = (
        "import sys, click, dualbeat.cli as c, dualbeat.agent.runtime\n"
        "c.cli.get_command(click.Context(c.cli), 'agent')\n"
        "print(' '.join(sorted(sys.modules)))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], check=True, capture_output=True, text=True
    ).stdout.split()
    assert "dualbeat.cli.agent" in loaded
    heavy = ("dualbeat.rejoin", "dualbeat.checksum", "dualbeat.repl", "dualbeat.mysql.binlog")
    assert [m for m in loaded if m.startswith(heavy) or m.startswith("dualbeat.ops.rejoin")] == []
    # Nor rich (it prints only when the agent cannot start) or a plugin (the lab's).
    assert [m for m in loaded if m.startswith(("rich", "dualbeat_lab"))] == []
    assert "dualbeat.cli.rejoin" not in loaded and "rich.table" not in loaded
