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
5. NODE rebuilt from the active (``rebuild``): its replication stopped, the active's data
   copied over, its GTID history restarted at the copy's position.
6. The active's channel from NODE pointed at that same position and started, so the
   pair replicates both ways (NODE's own channel is started by its agent on ``--accept``).
7. A record of what happened (``<time>-reapply.json`` / ``-discard.json``).

The caller (the CLI) then runs the ``--accept`` step: NODE's agent un-fences it, and the
pair is checksummed.

A failure at any step stops the workflow with NODE still fenced. Before the error goes up,
``say`` tells what state each server was left in and how to continue, and the same goes
into ``<time>-<mode>-stopped.json``. Running the same command again is always safe: the
analysis is redone from NODE's binary logs (a partial copy never touches them: the load
is unlogged), re-applied rows match the active and are not applied twice, the copy drops
and re-creates every database, and the positions are set, not advanced.
"""

from __future__ import annotations

import contextlib
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
from dualbeat.errors import DualbeatError, RefusedError
from dualbeat.mysql import control as mysql_control
from dualbeat.mysql import lookup
from dualbeat.mysql.binlog.values import TableDef
from dualbeat.mysql.connection import Server
from dualbeat.mysql.dialect import Statement
from dualbeat.mysql.endpoints import endpoint
from dualbeat.rejoin import reapply, rebuild
from dualbeat.rejoin import sql as rejoin_sql
from dualbeat.rejoin.analysis import analyze, report_dir, save
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
def _exclusive(config: Config, node: str) -> Iterator[None]:
    """Hold NODE's rejoin lock for the whole workflow, or refuse before any step: two
    rejoins of one node (an operator's beside the agent's automatic one, or two operators)
    would each stop, copy over and reposition the same server. The lock lives in NODE's
    server, which every rejoin of NODE reaches wherever it runs, on a connection of its own
    that runs nothing else (a failed statement would reconnect and silently drop it)."""
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
    include: bool = False,
    binlog_timeout: float = 300.0,
    say: Say = lambda _: None,
    copy_progress: CopyProgress = lambda _d, _t: None,
    all_or_nothing: bool = False,
) -> Resolution:
    """Run steps 1-7 of the module docstring; raises before changing anything when a
    guard fails, and stops at the first failing step (NODE then stays fenced).
    ``all_or_nothing`` (the automatic rejoin): a transaction that would not be re-applied
    stops the workflow before anything is re-applied or copied, instead of being
    discarded (a conflict never resolves itself)."""
    name = config.node(node).name
    active = _guard(config, name)
    with (
        _exclusive(config, name),
        Server(endpoint(config, name, admin=True)) as fenced,
        Server(endpoint(config, active, admin=True)) as act,
    ):
        _check_servers(fenced, act)
        analysis = analyze(config, name, timeout=binlog_timeout)
        result = Resolution(name, active, mode, analysis, save(analysis, config))
        say(f"analysis: {analysis.missing_count} transaction(s) of {name}'s that {active} lacks")
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(analysis.created_at))
        step = _Steps(config, result, stamp, say)
        again = f"run `dualbeat rejoin {name} --{mode}` again"
        untouched = f"{name} unchanged (fenced, read-only, its binary logs in place)"
        if analysis.missing_count:
            dest = report_dir(config, name) / f"{stamp}-binlogs"
            with step("saving the binary logs", untouched, again):
                result.saved_binlogs = rebuild.save_binlogs(
                    fenced, analysis.binlog_files, dest, binlog_timeout
                )
            say(f"saved a copy of {name}'s binary logs holding them: {dest}")
        if mode == "reapply":
            with step(
                f"re-applying on {active}",
                f"{untouched}; the transactions reported re-applied above are on {active}",
                f"{again}: a re-applied row now matches {active} and is not applied twice",
            ):
                _reapply(act, analysis, include, result, say, all_or_nothing=all_or_nothing)
            again = f"run `dualbeat rejoin {name} --discard` (what was re-applied stays)"
        with step(f"stopping {name}'s replication", untouched, again):
            mysql_control.stop_replication(fenced)
        say(f"copying {active}'s data onto {name} (unlogged there) ...")
        with step(
            f"copying {active}'s data",
            f"{name} fenced, not replicating, its databases partly replaced by {active}'s; "
            "its binary logs and GTID history unchanged",
            f"{again}: the copy starts over",
        ):
            result.copy = rebuild.copy_data(act, fenced, copy_progress)
        position = result.copy.position
        with step(
            f"restarting {name}'s GTID history",
            f"{name} holds {active}'s data at {position}; its GTID history may be half reset",
            f"{again} (it copies again), or on {name}: "
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
    return result


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
    all_or_nothing: bool = False,
) -> None:
    tables: dict[str, TableDef] = {}
    for qualified in analysis.tables:
        schema, _, table = qualified.partition(".")
        found = lookup.describe(act, schema, table)
        if found is not None:
            tables[qualified] = found
    result.plan = reapply.plan(analysis, tables, include=include)
    if all_or_nothing and result.plan.skipped:
        first = result.plan.skipped[0]
        raise RefusedError(
            f"{len(result.plan.skipped)} lost transaction(s) cannot be re-applied safely "
            f"({first.gtid}: {first.why}): an operator decides (dualbeat rejoin --analyze)"
        )
    for skipped in result.plan.skipped:
        say(f"not re-applied (discarded, saved): {skipped.gtid}: {skipped.why}")
    result.applied = reapply.apply(
        act, result.plan, lambda a: say(f"re-applied {a.gtid} on {act.name} as {a.new_gtid}")
    )


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
