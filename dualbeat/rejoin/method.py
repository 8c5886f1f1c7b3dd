"""How a fenced node is made a copy of the active again: the three methods, and the
automatic choice between them (``dualbeat rejoin NODE --method ...``).

    flashback  revert NODE's own lost transactions on NODE (``mariadb-binlog --flashback``
               over the saved copy of its binary logs), then restart its GTID history at
               the last position both servers share. Copies nothing: seconds, whatever
               the data size. Only for MariaDB, and only when every lost transaction is
               complete, row-based with full images, without DDL, on tables with a
               primary key, and the tail of NODE's history (``flashback.refusal``).
    dump       a logical copy of the active (``mariadb-dump | mariadb``, ``rebuild``):
               needs nothing but the SQL ports; time grows with the data.
    backup     a physical copy (``mariadb-backup``, ``backup``): faster than the dump for
               large data, but needs the commands of ``[rejoin]`` (a backup of the
               active onto this host, and stopping and starting NODE's server).

The automatic choice, in order: an interrupted rejoin's method (it must be finished the
way it began: ``journal``); flashback when possible and small (at most
``FLASHBACK_MAX_ROWS`` row changes: the tool holds them in memory and they are reverted in
one transaction); backup when configured and the active holds at least
``[rejoin] backup_above_mb``; the dump otherwise. ``choose`` is pure, so every branch is a
unit test; the facts come from the analysis and the configuration.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from dualbeat.errors import RefusedError

__all__ = ["FLASHBACK_MAX_ROWS", "Choice", "Facts", "Method", "choose"]

#: Above this many lost row changes, the automatic choice does not flash back.
FLASHBACK_MAX_ROWS = 10_000


class Method(enum.Enum):
    FLASHBACK = "flashback"
    DUMP = "dump"
    BACKUP = "backup"


@dataclass(frozen=True)
class Facts:
    """What the choice depends on. A refusal is the reason a method cannot be used
    (None: it can)."""

    flashback_refusal: str | None
    backup_refusal: str | None
    rows: int  # NODE's lost row changes (what a flashback reverts)
    data_bytes: int  # the active's data
    backup_above: int  # bytes from which the backup is preferred
    resuming: Method | None = None  # the method of an interrupted rejoin of NODE


@dataclass(frozen=True)
class Choice:
    method: Method
    why: str  # one line, shown and recorded
    requested: bool  # the operator named the method

    def to_json(self) -> dict[str, object]:
        return {"method": self.method.value, "why": self.why, "requested": self.requested}


def _mib(n: int) -> str:
    return f"{n / (1 << 20):.0f} MiB"


def choose(requested: Method | None, facts: Facts) -> Choice:
    """The method to use and why; ``RefusedError`` when the requested one cannot be."""
    if facts.resuming is not None:
        if requested not in (None, facts.resuming):
            raise RefusedError(
                f"an interrupted rejoin of this node used --method {facts.resuming.value}: "
                f"finish it with that method (or leave --method out); {requested.value} "
                "could start from a half-changed server"
            )
        return Choice(
            facts.resuming,
            f"{facts.resuming.value}: resuming the interrupted rejoin that began with it",
            requested is not None,
        )
    if requested is not None:
        refusal = {
            Method.FLASHBACK: facts.flashback_refusal,
            Method.BACKUP: facts.backup_refusal,
            Method.DUMP: None,
        }[requested]
        if refusal is not None:
            raise RefusedError(f"--method {requested.value} is not possible: {refusal}")
        return Choice(requested, f"{requested.value}: as requested", True)
    if facts.flashback_refusal is None and facts.rows <= FLASHBACK_MAX_ROWS:
        return Choice(
            Method.FLASHBACK,
            f"flashback: {facts.rows} lost row change(s) can be reverted in place, no copy needed",
            False,
        )
    not_flashback = (
        facts.flashback_refusal
        if facts.flashback_refusal is not None
        else f"{facts.rows} row changes are more than {FLASHBACK_MAX_ROWS} to revert"
    )
    if facts.backup_refusal is None and facts.data_bytes >= facts.backup_above:
        return Choice(
            Method.BACKUP,
            f"backup: {_mib(facts.data_bytes)} of data (at least {_mib(facts.backup_above)}) "
            f"copies faster physically; no flashback: {not_flashback}",
            False,
        )
    not_backup = (
        facts.backup_refusal
        if facts.backup_refusal is not None
        else f"{_mib(facts.data_bytes)} is below [rejoin] backup_above_mb"
    )
    return Choice(
        Method.DUMP,
        f"dump: no flashback ({not_flashback}); no backup ({not_backup})",
        False,
    )
