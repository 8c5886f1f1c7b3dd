"""What every command file shares: the two consoles, the error handler, the progress
printer and the ``--config`` / ``--node`` options."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.markup import escape

from dualbeat.config import Config, load, local_node
from dualbeat.errors import DualbeatError
from dualbeat.ops.outcome import exit_code, help_epilog

F = TypeVar("F", bound=Callable[..., Any])
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
DEFAULT_CONFIG = "/etc/dualbeat/dualbeat.toml"
EXIT_CODES = help_epilog()


def handle_errors(fn: F) -> F:
    """Print a dualbeat error as one clear message and exit with its code (no traceback)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except DualbeatError as exc:
            # The message is text, not markup: it may quote config sections like [arbiter].
            err.print(f"[bold red]dualbeat: error:[/] {escape(str(exc))}", highlight=False)
            sys.exit(exit_code(exc))

    return wrapper  # type: ignore[return-value]


def progress_printer(prefix: str = "") -> Callable[[str], None]:
    """The ops layer's progress callback for a terminal: one dim line on standard error.
    The message is text, not markup: it may name config keys such as [rejoin] auto."""

    def show(message: str) -> None:
        err.print(f"[dim]{escape(prefix)}[/]{escape(message)}", highlight=False)

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
