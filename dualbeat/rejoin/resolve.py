"""``dualbeat rejoin NODE --reapply|--discard``: resolve a fenced node's lost writes, then
make it a copy of the active that replicates both ways again.

Order, chosen so that every step is safe to retry and nothing is lost unseen:

1. Guards: NODE's agent says NODE is fenced and its peer is active; no other rejoin of
   NODE runs (a lock in NODE's server); over SQL, NODE is read-only and the active
   writable. Never rebuild a node that may be taking writes.
2. A fresh analysis, saved (the row images of every lost transaction).
3. A byte-exact copy of NODE's binary logs holding them, saved beside the analysis:
   from here on the originals may go, and the copy is replayable with the binlog tool.
4. ``--reapply`` only: the chosen transactions re-applied on the active (``reapply``).
5. NODE made a copy of the active by the method chosen (``method``, ``resync``): its lost
   transactions reverted in place (flashback), or the active's data copied over (dump,
   backup); then its GTID history restarted at the position that copy stands at.
6. The active's channel from NODE pointed at that same position and started, so the
   pair replicates both ways (NODE's own channel is started by its agent on ``--accept``).
7. A record of what happened (``<time>-reapply.json`` / ``-discard.json``).

The caller (the CLI) then runs the ``--accept`` step: NODE's agent un-fences it, and the
pair is checksummed.

A failure at any step stops the workflow with NODE still fenced. Before the error goes up,
``say`` tells what state each server was left in and how to continue, and the same goes
into ``<time>-<mode>-stopped.json``. Running the same command again is always safe, even
after a kill -9 that wrote nothing: the analysis is redone from NODE's binary logs (a
partial copy never touches them: the load is unlogged), each re-applied transaction
commits with a marker row on the active (``dualbeat.reapplied``) and is never applied
twice (what follows it is then re-applied, not taken for a conflict), the copy drops and
re-creates every database, a flashback is one transaction whose rows say whether it was
applied, the journal (``journal``) makes a resumed rejoin finish with the method and
position it began with (and start a server that a physical rebuild left stopped), and
the positions are set, not advanced.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dualbeat.agent import control
from dualbeat.config import Config
from dualbeat.core.roles import Role
from dualbeat.errors import DualbeatError, MysqlQueryError, RefusedError
from dualbeat.mysql import control as mysql_control
from dualbeat.mysql import lookup
from dualbeat.mysql.binlog.values import TableDef
from dualbeat.mysql.connection import Server
from dualbeat.mysql.dialect import Statement
from dualbeat.mysql.endpoints import endpoint
from dualbeat.rejoin import journal, reapply, rebuild, resync
from dualbeat.rejoin import sql as rejoin_sql
from dualbeat.rejoin.analysis import analyze, report_dir, save
from dualbeat.rejoin.method import Choice, Method
from dualbeat.rejoin.report import Analysis

__all__ = ["Resolution", "resolve"]

Say = Callable[[str], None]
CopyProgress = Callable[[int, int], None]


@dataclass(frozen=True)
class Stop:
    """Where a failed rejoin stopped: the step, the state it left, and how to go on."""

    step: str
    left: str
    resume: str
    error: str


@dataclass
class Resolution:
    node: str
    active: str
    mode: str  # "reapply" | "discard"
    analysis: Analysis
    analysis_path: Path
    saved_binlogs: list[Path] = field(default_factory=list)
    plan: reapply.Plan | None = None
    applied: list[reapply.Applied] = field(default_factory=list)
    copy: rebuild.Copy | None = None
    choice: Choice | None = None
    position: str | None = None  # where NODE's GTID history restarted
    flashback: str | None = None  # the revert's row state before it ran
    record_path: Path | None = None
    stopped: Stop | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "active": self.active,
            "mode": self.mode,
            "analysis": str(self.analysis_path),
            "saved_binlogs": [str(p) for p in self.saved_binlogs],
            "plan": self.plan.to_json() if self.plan else None,
            "applied": [{"gtid": a.gtid, "new_gtid": a.new_gtid} for a in self.applied],
            "copy": (
                {
                    "databases": list(self.copy.databases),
                    "position": self.copy.position,
                    "bytes": self.copy.bytes,
                }
                if self.copy
                else None
            ),
            "method": self.choice.to_json() if self.choice else None,
            "position": self.position,
            "flashback": self.flashback,
            "stopped": vars(self.stopped) if self.stopped else None,
        }


def _guard(config: Config, node: str) -> str:
    """NODE's agent must hold it fenced with an active peer; returns the active's name."""
    status = control.SocketAgent(config.state_dir(node)).status()
    active = config.peer_of(node).name
    if status.role is not Role.FENCED:
        raise RefusedError(
            f"{node} is {status.role.value}, not fenced: only a fenced node is rebuilt "
            "(a node that may take writes never is)"
        )
    if not status.peer_active:
        seen = status.peer_view.role.value if status.peer_view.role else "nothing"
        raise RefusedError(
            f"{node}'s agent does not see {active} as active (it sees "
            f"{seen}): NODE is rebuilt only from a live active"
        )
    return active


@contextlib.contextmanager
def _exclusive(config: Config, node: str, say: Say) -> Iterator[journal.Journal | None]:
    """Hold NODE's rejoin lock for the whole workflow, or refuse before any step: two
    rejoins of one node (an operator's beside the agent's automatic one, or two operators)
    would each stop, copy over and reposition the same server. The lock lives in NODE's
    server, which every rejoin of NODE reaches wherever it runs, on a connection of its own
    that runs nothing else (a failed statement would reconnect and silently drop it).
    A file lock in NODE's rejoin directory holds too while a physical rebuild has NODE's
    server stopped (and the server's lock with it). Yields the journal of an interrupted
    rejoin of NODE, after starting the server such a rejoin left stopped."""
    directory = report_dir(config, node)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    with (directory / ".lock").open("a") as held:
        try:
            fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RefusedError(
                f"another rejoin of {node} is running on this host (it holds "
                f"{directory / '.lock'}); nothing was changed: wait for it, then run this again"
            ) from None
        resuming = resync.before_connecting(config, node, say)
        with _server_lock(config, node):
            yield resuming


@contextlib.contextmanager
def _server_lock(config: Config, node: str) -> Iterator[None]:
    with Server(endpoint(config, node, admin=True)) as server:
        if int(str(server.query(rejoin_sql.TAKE_LOCK)[0]["got"])) != 1:
            holder = server.query(rejoin_sql.LOCK_HOLDER)[0]["holder"]
            raise RefusedError(
                f"another rejoin of {node} is running (the session {holder} on {node}'s "
                f"server holds the lock {rejoin_sql.REJOIN_LOCK!r}): the agent's automatic "
                "rejoin ([rejoin] auto) or another `dualbeat rejoin`; nothing was changed. "
                f"Wait for it (its record appears under {report_dir(config, node)}), "
                "then run this again"
            )
        yield


def _check_servers(fenced: Server, act: Server) -> None:
    if not mysql_control.read_only_state(fenced):
        raise RefusedError(f"{fenced.name} is writable: it must be fenced (read-only) first")
    if mysql_control.read_only_state(act):
        raise RefusedError(f"{act.name} is read-only: it is not serving as the active")


def resolve(
    config: Config,
    node: str,
    *,
    mode: str,
    method: Method | None = None,
    include: bool = False,
    binlog_timeout: float = 300.0,
    say: Say = lambda _: None,
    copy_progress: CopyProgress = lambda _d, _t: None,
    all_or_nothing: bool = False,
    guard: Callable[[Analysis], None] = lambda _a: None,
) -> Resolution:
    """Run steps 1-7 of the module docstring; raises before changing anything when a
    guard fails (``guard`` too: it is given the fresh analysis, taken under the lock,
    and raises to refuse it), and stops at the first failing step (NODE then stays
    fenced).
    ``all_or_nothing`` (the automatic rejoin): a transaction that would not be re-applied
    stops the workflow before anything is re-applied or copied, instead of being
    discarded (a conflict never resolves itself), and the backup method (which stops
    NODE's server) is never chosen. ``method``: None chooses (``method``)."""
    name = config.node(node).name
    active = _guard(config, name)
    directory = report_dir(config, name)
    with contextlib.ExitStack() as stack:
        resuming = stack.enter_context(_exclusive(config, name, say))
        fenced = stack.enter_context(Server(endpoint(config, name, admin=True)))
        act = stack.enter_context(Server(endpoint(config, active, admin=True)))
        _check_servers(fenced, act)
        done = _reapplied(act, resuming.stamp) if resuming and mode == "reapply" else frozenset()
        analysis = analyze(config, name, timeout=binlog_timeout, reapplied=done)
        result = Resolution(name, active, mode, analysis, save(analysis, config))
        say(f"analysis: {analysis.missing_count} transaction(s) of {name}'s that {active} lacks")
        guard(analysis)
        stamp = (
            resuming.stamp
            if resuming
            else time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(analysis.created_at))
        )
        step = _Steps(config, result, stamp, say)
        again = f"run `dualbeat rejoin {name} --{mode}` again"
        untouched = f"{name} unchanged (fenced, read-only, its binary logs in place)"
        if analysis.missing_count and analysis.binlog_files:
            dest = directory / f"{stamp}-binlogs"
            with step("saving the binary logs", untouched, again):
                result.saved_binlogs = rebuild.save_binlogs(
                    fenced, analysis.binlog_files, dest, binlog_timeout
                )
            say(f"saved a copy of {name}'s binary logs holding them: {dest}")
        with step("choosing the method", untouched, again):
            result.choice, script = resync.plan(
                config, act, analysis, result.saved_binlogs,
                directory / f"{stamp}-flashback.sql", method, resuming, binlog_timeout,
                automatic=all_or_nothing,
            )  # fmt: skip
        say(f"method {result.choice.why}")
        log = resuming or journal.Journal(result.choice.method, mode, stamp)
        if mode == "reapply":
            with step(
                f"re-applying on {active}",
                f"{untouched}; the transactions reported re-applied above are on {active}",
                f"{again}: each re-applied transaction left a marker row "
                f"(dualbeat.reapplied) and is not applied twice",
            ):
                _reapply(
                    act, analysis, include, result, say,
                    marker=(log.stamp, config.internal_domain(active)),
                    before_changes=lambda: journal.write(directory, log),
                    done=done,
                    all_or_nothing=all_or_nothing,
                )  # fmt: skip
        with step(f"stopping {name}'s replication", untouched, again):
            mysql_control.stop_replication(fenced)
        work = resync.Resync(
            config, fenced, act, analysis, directory, log, say, copy_progress, script
        )
        how = result.choice.method.value
        with step(
            f"making {name} a copy of {active} ({how})",
            _LEFT[result.choice.method].format(node=name, active=active),
            f"{again}: it resumes the {how} ({journal.path(directory)})",
        ):
            position = work.run()
        result.copy = work.copy
        result.position = position
        result.flashback = work.flashback_state.value if work.flashback_state else None
        with step(
            f"restarting {name}'s GTID history",
            f"{name} holds {active}'s data at {position}; its GTID history may be half reset",
            f"{again} (it resumes with the same position), or on {name}: "
            + "; ".join(_shown(st) for st in fenced.dialect.restart_history(position)),
        ):
            fenced.execute(*fenced.dialect.restart_history(position))
        say(f"{name} rebuilt at {active}'s position {position}")
        with step(
            f"repositioning {active}'s channel from {name}",
            f"{name} rebuilt at {position}; {active}'s channel from {name} is stopped or "
            "at its old position",
            f"{again}, or on {active}: STOP SLAVE; SET GLOBAL gtid_slave_pos = "
            f"'{position}'; START SLAVE",
        ):
            _replicate_from(act, position)
        say(f"{active} replicates from {name} again, from that position")
        result.record_path = _record(config, name, stamp, result)
        work.done()
    return result


#: What a failure while making NODE a copy of the active leaves, by method.
_LEFT = {
    Method.DUMP: "{node} fenced, not replicating, its databases partly replaced by {active}'s; "
    "its binary logs and GTID history unchanged",
    Method.FLASHBACK: "{node} fenced, not replicating; its lost transactions reverted wholly "
    "or not at all (one transaction), its GTID history unchanged",
    Method.BACKUP: "{node} fenced, not replicating; its server may be stopped and its datadir "
    "replaced by {active}'s backup (the journal says which); its old datadir kept beside it",
}


def _shown(stmt: Statement) -> str:
    """A statement as an operator would type it (our values are GTID positions)."""
    return stmt.sql.replace("%s", "{!r}").format(*stmt.args) if stmt.args else stmt.sql


class _Steps:
    """Runs one step of ``resolve``: on a failure, records and says where it stopped."""

    def __init__(self, config: Config, result: Resolution, stamp: str, say: Say) -> None:
        self.config, self.result, self.stamp, self.say = config, result, stamp, say

    @contextlib.contextmanager
    def __call__(self, step: str, left: str, resume: str) -> Iterator[None]:
        try:
            yield
        except (DualbeatError, OSError) as exc:
            r = self.result
            r.stopped = Stop(step, left, resume, str(exc))
            self.say(f"stopped while {step}: {exc}")
            self.say(f"left: {left}; {r.node} stays fenced")
            self.say(f"to continue: {resume}")
            with contextlib.suppress(OSError):
                r.record_path = _record(self.config, r.node, self.stamp, r)
                self.say(f"record: {r.record_path}")
            raise


def _reapply(
    act: Server,
    analysis: Analysis,
    include: bool,
    result: Resolution,
    say: Say,
    *,
    marker: tuple[str, int],
    before_changes: Callable[[], object],
    done: frozenset[str] = frozenset(),
    all_or_nothing: bool = False,
) -> None:
    """Re-apply what the plan allows; ``marker``: the rejoin's stamp for the marker rows
    and the active's internal GTID domain, where their table is created; ``done``: what
    an interrupted run of this rejoin re-applied (by its marker rows);
    ``before_changes`` runs once before the first change (the journal: a rerun must
    know this rejoin's stamp)."""
    tables: dict[str, TableDef] = {}
    for qualified in analysis.tables:
        schema, _, table = qualified.partition(".")
        found = lookup.describe(act, schema, table)
        if found is not None:
            tables[qualified] = found
    result.plan = reapply.plan(analysis, tables, include=include, done=done)
    if all_or_nothing and result.plan.skipped:
        first = result.plan.skipped[0]
        raise RefusedError(
            f"{len(result.plan.skipped)} lost transaction(s) cannot be re-applied safely "
            f"({first.gtid}: {first.why}): an operator decides (dualbeat rejoin --analyze)"
        )
    for skipped in result.plan.skipped:
        say(f"not re-applied (discarded, saved): {skipped.gtid}: {skipped.why}")
    for gtid in result.plan.done:
        say(f"already re-applied by the interrupted run: {gtid}")
    if not result.plan.steps:
        return
    before_changes()
    stamp, domain = marker
    with Server(act.endpoint) as own:  # a session of its own: its GTID domain is dualbeat's
        own.execute(*own.dialect.internal_writes(domain), rejoin_sql.REAPPLIED_TABLE)
    result.applied = reapply.apply(
        act,
        result.plan,
        stamp,
        lambda a: say(f"re-applied {a.gtid} on {act.name} as {a.new_gtid}"),
    )


def _reapplied(act: Server, stamp: str) -> frozenset[str]:
    """The lost transactions an interrupted run of rejoin ``stamp`` re-applied (its marker
    rows on the active; none when it never got that far)."""
    try:
        rows = act.query(rejoin_sql.reapplied(stamp))
    except MysqlQueryError:  # no marker table yet: nothing was re-applied
        return frozenset()
    return frozenset(str(r["gtid"]) for r in rows)


def _replicate_from(act: Server, position: str) -> None:
    """The active's channel from the rebuilt node resumes at the copy's position: the node
    has no older history to send, and everything after it is the active's own coming back."""
    mysql_control.stop_replication(act)
    if act.dialect.gtid_family == "mariadb":
        # gtid_strict_mode refuses a replica position behind the active's own newest GTID,
        # and a live active has written more since the copy; yet that position is exactly
        # where the rebuilt node's binary log begins. Strict mode is off for this statement.
        strict = act.variables(["gtid_strict_mode"]).get("gtid_strict_mode") == "ON"
        try:
            if strict:
                act.set_globals({"gtid_strict_mode": "OFF"})
            act.set_globals({"gtid_slave_pos": position})
        finally:
            if strict:
                act.set_globals({"gtid_strict_mode": "ON"})
    mysql_control.start_replication(act)


def _record(config: Config, node: str, stamp: str, result: Resolution) -> Path:
    """``<stamp>-<mode>.json``, or ``<stamp>-<mode>-stopped.json`` for a failed rejoin."""
    stopped = "-stopped" if result.stopped else ""
    path = report_dir(config, node) / f"{stamp}-{result.mode}{stopped}.json"
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(result.to_json(), f, indent=2)
        f.write("\n")
    return path
