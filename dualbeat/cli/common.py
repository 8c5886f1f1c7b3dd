"""What every command file shares: the two consoles, the error handler, the progress
printer and the ``--config`` / ``--node`` options."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import click

from dualbeat.config import Config, load, local_node
from dualbeat.errors import DualbeatError
from dualbeat.ops.outcome import exit_code, help_epilog

if TYPE_CHECKING:
    from rich.console import Console

F = TypeVar("F", bound=Callable[..., Any])
DEFAULT_CONFIG = "/etc/dualbeat/dualbeat.toml"
EXIT_CODES = help_epilog()
_CONSOLES: dict[str, Console] = {}


def console(name: Literal["out", "err"]) -> Console:
    """``out`` or ``err``, made on first use: ``dualbeat agent`` prints through neither
    unless it cannot start, and rich's console is about 40 modules (1 MB) that it would
    otherwise hold for months."""
    if name not in _CONSOLES:
        from rich.console import Console

        _CONSOLES[name] = Console(stderr=name == "err", soft_wrap=True)
    return _CONSOLES[name]


def __getattr__(name: str) -> Console:
    """``common.out`` and ``common.err``: the two consoles, as module attributes."""
    match name:
        case "out" | "err":
            return console(name)
        case _:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def handle_errors(fn: F) -> F:
    """Print a dualbeat error as one clear message and exit with its code (no traceback)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except DualbeatError as exc:
            from rich.markup import escape

            # The message is text, not markup: it may quote config sections like [arbiter].
            message = f"[bold red]dualbeat: error:[/] {escape(str(exc))}"
            console("err").print(message, highlight=False)
            sys.exit(exit_code(exc))

    return wrapper  # type: ignore[return-value]


def progress_printer(prefix: str = "") -> Callable[[str], None]:
    """The ops layer's progress callback for a terminal: one dim line on standard error.
    The message is text, not markup: it may name config keys such as [rejoin] auto."""

    def show(message: str) -> None:
        from rich.markup import escape

        console("err").print(f"[dim]{escape(prefix)}[/]{escape(message)}", highlight=False)

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

node_option = click.option(
    "--node", help="The node to act as / ask (default: the node whose address is on this host)."
)


def node_for(config_path: Path, node: str | None) -> tuple[Config, str]:
    """The config and the node this command speaks for: --node, or this host's address."""
    config = load(config_path)
    if node is not None:
        return config, config.node(node).name
    from dualbeat.vip.addresses import local_addresses

    return config, local_node(config, local_addresses()).name
