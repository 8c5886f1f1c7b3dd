"""How a workflow ends, said once for both shells: the exit code of ``dualbeat`` and the
HTTP status of the API.

Why one table: the CLI's ``--help``, the README and the API's answers used to keep their
own lists and drifted (the README said 0-7, ``--help`` 0-5). ``EXIT_CODES`` is the one
list; ``--help`` is printed from it, a test compares it with the README's table, and
``http_status`` maps an error to the status the API answers with, so a refusal is exit 4
on the command line and 409 over HTTP, with the same reason.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from dualbeat.errors import DualbeatError


class ExitCode(enum.IntEnum):
    OK = 0
    CHECK_FAILED = 1
    BAD_CONFIG = 2
    MYSQL = 3
    REFUSED = 4
    LAB = 5
    NETWORK = 6
    NO_AGENT = 7
    DEPENDENCY = 8


@dataclass(frozen=True)
class Outcome:
    meaning: str  # as the README's table and ``--help`` say it
    http: int  # the API's status for an error with this exit code


EXIT_CODES: dict[ExitCode, Outcome] = {
    ExitCode.OK: Outcome("success (warnings included)", 200),
    ExitCode.CHECK_FAILED: Outcome("a check found a FAIL", 500),
    ExitCode.BAD_CONFIG: Outcome(
        "bad configuration or usage (the message names file, key and line)", 400
    ),
    ExitCode.MYSQL: Outcome("a MySQL server could not be reached or refused us", 503),
    ExitCode.REFUSED: Outcome("refused: the command would lose data or break a safety rule", 409),
    ExitCode.LAB: Outcome("the lab (`dualbeat sandbox`, when installed) failed", 500),
    ExitCode.NETWORK: Outcome(
        "the VIP could not be added, removed or announced, or the client gate (nftables) "
        "could not be shut or opened",
        500,
    ),
    ExitCode.NO_AGENT: Outcome(
        "no local agent answers (`status`, `standby`, `takeover`, `maintenance`, `switchover`)",
        503,
    ),
    ExitCode.DEPENDENCY: Outcome(
        "a hook or fence command, the arbiter or the watchdog failed", 503
    ),
}


def exit_code(exc: DualbeatError) -> ExitCode:
    """The table's row for ``exc`` (an exit code outside the table is a bug: KeyError)."""
    return ExitCode(exc.exit_code)


def http_status(exc: DualbeatError) -> int:
    """What the API answers for ``exc``: the same row of the table as the CLI's exit code."""
    return EXIT_CODES[exit_code(exc)].http


def help_epilog() -> str:
    """The ``Exit codes:`` block of ``dualbeat --help`` (``\\b`` keeps click from rewrapping)."""
    rows = [f"  {int(code)}  {outcome.meaning}" for code, outcome in EXIT_CODES.items()]
    return "\b\nExit codes:\n" + "\n".join(rows)
