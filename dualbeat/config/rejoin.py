"""``[rejoin]``: the automatic rejoin, and what the physical rebuild
(``dualbeat rejoin NODE --method backup``) needs from this host.

Apart from ``schema`` because the commands are a section of their own weight: how a
backup of the active reaches this host and how this node's server is stopped and started
differ on every site (ssh and systemd, a container runtime, a shared file system), so
dualbeat runs the operator's commands rather than guessing. Left empty (the default),
the backup method is refused with the key to set, and the automatic choice never picks it.
"""

from __future__ import annotations

import shlex
import string

from pydantic import Field, field_validator

from dualbeat.config.fields import Duration, _Model
from dualbeat.core.state import RejoinAuto

__all__ = ["BACKUP_FIELDS", "SERVER_FIELDS", "Rejoin"]

#: Placeholders of ``backup_command`` (each replaced shell-quoted).
BACKUP_FIELDS = ("active", "node", "target", "active_host", "active_port")
#: Placeholders of the server commands (each word of the command is formatted).
SERVER_FIELDS = ("node",)


def _placeholders(value: str, allowed: tuple[str, ...]) -> str:
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(value) if name is not None}
    except ValueError as exc:
        raise ValueError(f"unbalanced braces: {exc}") from None
    if unknown := sorted(names - set(allowed)):
        raise ValueError(
            f"unknown placeholder(s) {', '.join('{' + n + '}' for n in unknown)}; "
            f"known: {', '.join('{' + n + '}' for n in allowed)}"
        )
    return value


class Rejoin(_Model):
    """``auto``: how a fenced node stands by again without an operator: ``off``,
    ``internal`` (only dualbeat's own transactions differed, or its others were all
    committed while its client gate was shut or still waiting for semi-sync's
    acknowledgement when it shut: those are discarded) or ``safe`` (also
    re-apply lost writes that are all safe, then resync).

    The physical rebuild (``rejoin --method backup``) needs all three commands:
    ``backup_command`` (a shell command run where the rejoin runs, on the fenced node's
    host) must leave a ``mariadb-backup`` of the active's data in ``{target}``, an empty
    directory beside the node's datadir; ``server_stop_command`` and
    ``server_start_command`` stop and start the fenced node's own server (no shell;
    ``{node}`` is its name). ``backup_above_mb``: the automatic choice rebuilds from a
    backup when the active holds at least this much data (and the commands are set)."""

    auto: RejoinAuto = RejoinAuto.INTERNAL
    backup_command: str = ""
    server_stop_command: str = ""
    server_start_command: str = ""
    backup_timeout: Duration = 3600.0
    server_timeout: Duration = 300.0
    backup_above_mb: int = Field(1024, ge=0)

    @field_validator("backup_command")
    @classmethod
    def _backup_placeholders(cls, value: str) -> str:
        return _placeholders(value, BACKUP_FIELDS)

    @field_validator("server_stop_command", "server_start_command")
    @classmethod
    def _server_command(cls, value: str) -> str:
        try:
            shlex.split(value)
        except ValueError as exc:
            raise ValueError(f"cannot split the command into words: {exc}") from None
        return _placeholders(value, SERVER_FIELDS)

    def backup_missing(self) -> list[str]:
        """The keys the backup method still needs (empty: configured)."""
        keys = ("backup_command", "server_stop_command", "server_start_command")
        return [f"[rejoin] {k}" for k in keys if not getattr(self, k).strip()]

    def server_argv(self, which: str, node: str) -> list[str]:
        """``server_stop_command`` / ``server_start_command`` as an argument vector."""
        text = self.server_stop_command if which == "stop" else self.server_start_command
        return [word.format(node=node) for word in shlex.split(text)]

    def backup_shell(self, **fields: str) -> str:
        """``backup_command`` with every placeholder replaced, shell-quoted."""
        return self.backup_command.format(**{k: shlex.quote(v) for k, v in fields.items()})
