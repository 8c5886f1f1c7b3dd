"""Every error dualbeat raises on purpose, in one hierarchy.

Foreign exceptions (PyMySQL, OSError from netlink, TOML parse errors) are translated at
their seam into one of these, so callers can tell *our* misconfiguration from a failing
peer: a wrong password must never look like a dead server.

    DualbeatError                    base; ``exit_code`` is what the CLI exits with
    ├── ConfigError                  the TOML file is wrong (exit 2): names file, key, line
    ├── UsageError                   an operator command cannot run as asked (exit 2)
    ├── RefusedError                 an operator command would lose data or break safety;
    │                                it says why and whether ``--force`` applies (exit 4)
    ├── VipError                     the VIP could not be added, removed or announced (exit 6)
    │   └── VipConflict              another host already answers for the VIP
    ├── GateError                    the MySQL port could not be shut to or opened for clients
    │                                (exit 6, like the VIP: the host's network refused us)
    ├── AgentUnreachable             no local agent answers on the control socket (exit 7)
    ├── HookFailed                   a hook or fence command failed, timed out or did not run
    │                                (exit 8, like the next two: what the agent relies on)
    ├── ArbiterUnavailable           the arbiter did not answer in time (never "key taken")
    ├── WatchdogError                the watchdog device could not be opened, set or kicked
    └── MysqlError                   talking to a MySQL/MariaDB server went wrong (exit 3)
        ├── MysqlUnavailable         server gone, refused, hung or timed out: a *failure*
        │   └── MysqlRefused         its host reset the connection: up, nothing listening
        ├── MysqlBusy                server alive but saturated (too many connections)
        ├── MysqlMisconfigured       access denied, unknown database, missing privilege:
        │                            *our* configuration is wrong, not the server
        └── MysqlQueryError          a statement failed for another reason (server message kept)
"""

from __future__ import annotations


class DualbeatError(Exception):
    """Base of all deliberate dualbeat errors."""

    exit_code = 1


class ConfigError(DualbeatError):
    """The configuration file is invalid; the message names the file, the key and the line."""

    exit_code = 2


class UsageError(DualbeatError):
    """An operator command cannot run as asked."""

    exit_code = 2


class RefusedError(DualbeatError):
    """A command refused because it would lose data or break a safety rule."""

    exit_code = 4


class RefusedUntouched(RefusedError):
    """Refused before anything was changed (an automatic rejoin that found what it may not
    resolve by itself): nothing is left half-done."""


class VipError(DualbeatError):
    """Adding, removing or announcing the virtual IP failed (netlink or raw socket error)."""

    exit_code = 6


class VipConflict(VipError):
    """Another host answered an ARP probe for the VIP: claiming it would duplicate it."""


class GateError(DualbeatError):
    """Shutting the MySQL port to clients (nftables, socket destroy) or opening it failed."""

    exit_code = 6


class AgentUnreachable(DualbeatError):
    """The local agent's control socket is missing or does not answer."""

    exit_code = 7


class MysqlError(DualbeatError):
    """Base for errors talking to a MySQL/MariaDB server.

    ``node`` names the server (config node name or host:port) so messages are actionable;
    ``code`` is the server or client error number when there is one.
    """

    exit_code = 3

    def __init__(self, node: str, message: str, code: int | None = None) -> None:
        super().__init__(f"{node}: {message}")
        self.node = node
        self.code = code
        self.detail = message


class MysqlUnavailable(MysqlError):
    """The server is gone, refuses connections, or did not answer within the timeout."""


class MysqlRefused(MysqlUnavailable):
    """The server's host refused the connection (a TCP reset): the host is up and nothing
    listens on the port. Different evidence from silence: nothing can be served there."""


class MysqlBusy(MysqlError):
    """The server is alive but refuses work for load reasons (e.g. too many connections)."""


class MysqlMisconfigured(MysqlError):
    """Our side is wrong: bad credentials, missing privilege, unknown database."""


class MysqlQueryError(MysqlError):
    """A statement failed for a reason that is neither availability nor configuration."""


class HookFailed(DualbeatError):
    """A hook script or the fence command failed, timed out, or could not be started."""

    exit_code = 8


class ArbiterUnavailable(DualbeatError):
    """The arbiter could not answer in time (network error, timeout, engine error).

    Never means "someone else holds the key": that is ``acquire`` returning ``None``.
    """

    exit_code = 8


class WatchdogError(DualbeatError):
    """The watchdog could not be loaded, opened, set or kicked."""

    exit_code = 8
