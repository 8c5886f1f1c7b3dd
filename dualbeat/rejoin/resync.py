"""Step 5 of ``resolve``: make NODE hold the active's data at a known GTID position, by
the method chosen (``method``), and return that position.

Every method writes the journal (``journal``) before its first change to NODE, so that a
run after a kill finishes with the same method and position; each returns the position
NODE's GTID history restarts at (the caller restarts it, then repositions the active's
channel from NODE).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dualbeat.config import Config
from dualbeat.errors import MysqlQueryError, RefusedError
from dualbeat.mysql.connection import Server
from dualbeat.mysql.endpoints import endpoint
from dualbeat.rejoin import backup, flashback, journal, rebuild
from dualbeat.rejoin.analysis import report_dir
from dualbeat.rejoin.method import Choice, Facts, Method, choose
from dualbeat.rejoin.report import Analysis

__all__ = ["Resync", "before_connecting", "plan"]

Say = Callable[[str], None]
CopyProgress = Callable[[int, int], None]


@dataclass
class Resync:
    """What one resync needs, and what it did (for the record)."""

    config: Config
    fenced: Server
    act: Server
    analysis: Analysis
    directory: Path  # NODE's rejoin directory (journal, scripts)
    log: journal.Journal
    say: Say
    copy_progress: CopyProgress
    script: Path | None = None  # flashback: the revert, made before any change
    copy: rebuild.Copy | None = None
    flashback_state: flashback.RowState | None = None

    def keep(self, **changes: object) -> None:
        self.log = journal.write(self.directory, self.log.but(**changes))

    def run(self) -> str:
        if self.log.method is Method.FLASHBACK:
            return self._flashback()
        if self.log.method is Method.BACKUP:
            return self._backup()
        return self._dump()

    def _dump(self) -> str:
        self.keep()
        self.say(f"copying {self.act.name}'s data onto {self.fenced.name} (unlogged there) ...")
        self.copy = rebuild.copy_data(self.act, self.fenced, self.copy_progress)
        return self.copy.position

    def _flashback(self) -> str:
        position = self.log.position or flashback.common_position(self.analysis)
        self.keep(position=position)
        if not self.analysis.missing_count:
            self.say(f"nothing of {self.fenced.name}'s to revert (already reverted and reset?)")
            return position
        state = flashback.node_row_state(self.fenced, self.analysis)
        self.flashback_state = state
        if state is flashback.RowState.MIXED:
            raise RefusedError(
                f"the rows {self.fenced.name}'s lost transactions touched hold neither their "
                "result nor what was there before: something else changed them; rebuild "
                "with --method dump"
            )
        if state is flashback.RowState.REVERTED:
            self.say("the lost transactions are already reverted (an earlier run): not again")
            return position
        if self.script is None:
            raise RefusedError(f"{self.fenced.name}'s lost transactions cannot be reverted")
        self.say(f"reverting {self.analysis.missing_count} lost transaction(s) on "
                 f"{self.fenced.name} in one transaction, unlogged: {self.script}")  # fmt: skip
        flashback.revert(self.fenced, self.script, timeout=3600.0)
        return position

    def _backup(self) -> str:
        if self.log.swapped and self.log.position:
            self.say(f"{self.fenced.name} already holds the backup of {self.act.name}")
            return self.log.position
        steps = backup.Backup(self.config, self.fenced, self.act, self.say)
        datadir, binlog = steps.datadir()
        self.keep(datadir=str(datadir), binlog=binlog)
        estimate = rebuild.data_size(self.act)
        position = steps.take(datadir, estimate, self.copy_progress)
        self.keep(position=position, server_stopped=True)
        self.say(f"stopping {self.fenced.name}'s server ([rejoin] server_stop_command)")
        steps.stop_server()
        backup.finish_swap(datadir, binlog)
        self.keep(swapped=True)
        self.say(f"{datadir} now holds {self.act.name}'s copy; the old one is kept as "
                 f"{backup.paths(datadir)[1]} until the rejoin completes")  # fmt: skip
        backup.start_server(self.config, self.fenced.name, self.fenced.endpoint, self.say)
        self.copy = rebuild.Copy(rebuild.databases(self.act), position, backup.size(datadir))
        return position

    def done(self) -> None:
        """The rejoin completed: forget the journal, drop what was kept for a rollback."""
        if self.log.method is Method.BACKUP and self.log.datadir:
            backup.discard_old(Path(self.log.datadir))
        journal.clear(self.directory)


def plan(
    config: Config,
    act: Server,
    analysis: Analysis,
    saved: list[Path],
    script_path: Path,
    requested: Method | None,
    resuming: journal.Journal | None,
    timeout: float,
    *,
    automatic: bool = False,
) -> tuple[Choice, Path | None]:
    """The method (``method.choose``) and, for a flashback, its revert script: made now,
    before any change, so that a tool that cannot select exactly the lost transactions
    refuses the method instead of failing half way. ``automatic`` (the agent's own
    rejoin): never the backup, which stops the server under the agent watching it."""
    refusal = flashback.refusal(analysis)
    script = None
    if refusal is None and analysis.missing_count:
        try:
            script = flashback.script(analysis, saved, script_path, timeout)
        except MysqlQueryError as exc:
            refusal = str(exc)
    facts = Facts(
        flashback_refusal=refusal,
        backup_refusal=(
            "an automatic rejoin never stops a server: run it yourself with --method backup"
            if automatic
            else backup.refusal(config, analysis.flavor)
        ),
        rows=sum(len(t.rows) for t in analysis.transactions),
        data_bytes=rebuild.data_size(act),
        backup_above=config.rejoin.backup_above_mb << 20,
        resuming=resuming.method if resuming else None,
    )
    return choose(requested, facts), script


def before_connecting(config: Config, node: str, say: Say) -> journal.Journal | None:
    """The journal of an interrupted rejoin of NODE, after starting the server that an
    interrupted physical rebuild left stopped (so NODE can be reached again)."""
    directory = report_dir(config, node)
    found = journal.load(directory)
    if found is not None:
        say(f"resuming the interrupted {found.method.value} rejoin of {node} ({found.stamp})")
        if found.method is Method.BACKUP:
            now = backup.resume(config, node, endpoint(config, node, admin=True), found, say)
            if now != found:
                found = journal.write(directory, now)
    return found
