"""The command's shape: one exit-code table (code, ``--help``, README), small files, and
command groups added by other packages through entry points."""

from __future__ import annotations

import re
from importlib.metadata import EntryPoint
from pathlib import Path

import click
from click.testing import CliRunner

from dualbeat import errors
from dualbeat.cli import ENTRY_POINTS, add_plugins, cli
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
    sandbox = cli.commands.get("sandbox")
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
