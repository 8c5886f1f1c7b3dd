"""Run a chaos schedule on a settled sandbox pair under several writers, then judge it.

The order of one step: resolve the target (``active``/``standby`` from the agents'
status), inject, hold, heal, then *recover*: wait for one active and one standby, and
resolve a fenced node with the rejoin commands that exist (see ``resolve_fenced``). The
agents are never restarted here, except by the heal of an agent kill or a host restart.
After the last step everything is healed once more, recovered within the bound, the
writers stopped, and the evidence handed to ``checker.verdict``.

Resolving a fenced node (recorded per node in ``resolutions``):

1. ``dualbeat rejoin NODE --analyze --json`` (the lost-writes report; also saved by the
   command under NODE's state directory);
2. nothing missing: ``dualbeat rejoin NODE --accept``;
3. missing transactions whose rows are all ``safe`` inserts into the writers' table: the
   active takes them by replication from NODE (``START SLAVE`` on the active, the review
   step of ``test_rejoin_accept``), then ``--accept``. Anything else (a conflict, DDL, a
   table other than the writers'): left fenced, which the checker reports.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from dualbeat.core.gtid import parse_gtid_set
from dualbeat.errors import DualbeatError, MysqlError
from dualbeat.mysql import control
from dualbeat.mysql.connection import Server
from dualbeat.mysql.dialect import Statement
from dualbeat_lab import writer
from dualbeat_lab.chaos import checker, injectors, schedule
from dualbeat_lab.chaos.injectors import Context
from dualbeat_lab.sandbox import agents, netns
from dualbeat_lab.sandbox.lab import LabInfo

VIP = "10.77.0.100"
SETTLE_BOUND = 30.0
REPLICATE_TIMEOUT = 30.0
Progress = Callable[[str], None]


@dataclass
class Resolution:
    node: str
    analyze_exit: int
    missing_count: int
    lost_keys: list[tuple[str, int]]
    classes: dict[str, int]
    action: str  # accept | replicate+accept | unresolved
    accept_exit: int | None
    seconds: float
    detail: str = ""


@dataclass
class StepRecord:
    step: schedule.Step
    node: str | None = None
    injected_at: float | None = None
    healed_at: float | None = None
    settled_s: float | None = None
    active_after: str | None = None
    error: str | None = None
    resolutions: list[Resolution] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["step"] = self.step.as_json()
        return out


def _say(progress: Progress, text: str) -> None:
    progress(f"{time.strftime('%H:%M:%S')} {text}")


def _dualbeat(info: LabInfo, ns: str, *args: str, timeout: float = 180) -> tuple[int, str, str]:
    argv = ["ip", "netns", "exec", ns, sys.executable, "-m", "dualbeat", *args]
    argv += ["-c", str(info.config_path)]
    env = {**os.environ, "COLUMNS": "200"}
    try:
        done = subprocess.run(
            argv, check=False, capture_output=True, text=True, timeout=timeout, env=env
        )
    except subprocess.TimeoutExpired:
        return 124, "", f"dualbeat {' '.join(args)}: no answer within {timeout:g} s"
    return done.returncode, done.stdout, done.stderr


def _root(info: LabInfo, node: str) -> Server:
    return Server(info.node(node).root_endpoint())


def roles(info: LabInfo) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for n in info.nodes:
        st = agents.status(info, n.name)
        out[n.name] = None if st is None else str(st["role"])
    return out


def _other(info: LabInfo, node: str) -> str:
    return next(n.name for n in info.nodes if n.name != node)


def resolve_fenced(info: LabInfo, node: str, progress: Progress) -> Resolution:
    """Bring a fenced ``node`` back as standby with the rejoin commands (module doc)."""
    started = time.monotonic()
    code, out, err = _dualbeat(info, "client", "rejoin", node, "--analyze", "--json")
    if code not in (0, 1):
        detail = (err or out).strip()[-300:]
        return Resolution(node, code, -1, [], {}, "unresolved", None, 0.0, detail)
    report = json.loads(out)
    rows = [r for t in report["transactions"] for r in t["rows"]]
    keys = [
        (str(r["key"]["writer"]), int(r["key"]["seq"]))
        for r in rows
        if r["table"] == f"app.{writer.CHAOS_TABLE}" and r.get("key")
    ]
    classes = dict(report["summary"]["classes"])
    missing = int(report["missing_count"])
    action = "accept"
    if missing:
        txs = report["transactions"]
        table = f"app.{writer.CHAOS_TABLE}"
        safe = bool(txs) and all(
            t["complete"] and set(t["classes"]) == {"safe"} and set(t["tables"]) == {table}
            for t in txs
        )
        safe = safe and all(r["kind"] == "insert" and r["table"] == table for r in rows)
        if not safe or report["unread"]:
            took = time.monotonic() - started
            why = f"classes {classes}, unread {report['unread']!r}"
            return Resolution(node, code, missing, keys, classes, "unresolved", None, took, why)
        action = "replicate+accept"
        _say(progress, f"{node}: {missing} lost transactions, all safe: the active replicates them")
        _replicate_missing(info, _other(info, node), report["missing"])
    code_a, out_a, err_a = _dualbeat(info, node, "rejoin", node, "--accept")
    took = time.monotonic() - started
    detail = (out_a if code_a == 0 else err_a or out_a).strip()[-300:]
    if code_a != 0:
        action = "unresolved"
    return Resolution(node, code, missing, keys, classes, action, code_a, took, detail)


def _replicate_missing(info: LabInfo, active: str, missing: str) -> None:
    """START SLAVE on the active and wait until it has executed ``missing``."""
    with _root(info, active) as server:
        control.start_replication(server)
        family = server.dialect.gtid_family
        want = parse_gtid_set(missing, family)
        deadline = time.monotonic() + REPLICATE_TIMEOUT
        while not want <= parse_gtid_set(control.executed_gtids(server), family):
            if time.monotonic() > deadline:
                raise DualbeatError(f"{active} did not apply {missing} within 30 s")
            time.sleep(0.2)


def recover(
    info: LabInfo, timeout: float, progress: Progress, resolutions: list[Resolution]
) -> str | None:
    """Wait for one active + one standby, resolving fenced nodes; the active, or None.

    The time rejoin commands take extends the deadline: the bound is on the agents.
    """
    deadline = time.monotonic() + timeout
    tried: set[str] = set()
    while time.monotonic() < deadline:
        if (active := agents.settled(info, standby=True)) is not None:
            return active
        now_roles = roles(info)
        for node, role in now_roles.items():
            other_role = now_roles[_other(info, node)]
            if role == "fenced" and other_role == "active" and node not in tried:
                tried.add(node)
                before = time.monotonic()
                try:
                    res = resolve_fenced(info, node, progress)
                except (DualbeatError, OSError, ValueError, KeyError) as exc:
                    res = Resolution(node, -1, -1, [], {}, "unresolved", None, 0.0, str(exc))
                resolutions.append(res)
                _say(progress, f"{node} fenced: {res.action} ({res.missing_count} missing)")
                deadline += time.monotonic() - before
        time.sleep(0.2)
    return None


def _resolve_node(info: LabInfo, step: schedule.Step) -> str:
    if step.target not in schedule.ROLES:
        return step.target
    now = roles(info)
    active = [n for n, r in now.items() if r == "active"]
    if len(active) == 1:
        return active[0] if step.target == "active" else _other(info, active[0])
    return step.fallback


def _agent_alive(info: LabInfo, node: str) -> bool:
    return agents.running_pid(info, node) is not None


def _prepare_table(info: LabInfo, active: str, progress: Progress) -> None:
    """The writers' table and the app user's read access to the epoch, on both servers."""
    with _root(info, active) as server:
        server.execute(
            Statement(
                writer.CHAOS_CREATE.replace(writer.CHAOS_TABLE, f"app.{writer.CHAOS_TABLE}", 1)
            ),
            Statement("GRANT SELECT ON dualbeat.* TO 'app'@'%'"),
        )
    other = _other(info, active)
    deadline = time.monotonic() + 20
    while True:
        try:
            with _root(info, other) as server:
                if server.query(Statement(f"SHOW TABLES FROM app LIKE '{writer.CHAOS_TABLE}'")):
                    break
        except MysqlError:
            pass
        if time.monotonic() > deadline:
            raise DualbeatError(f"app.{writer.CHAOS_TABLE} did not replicate to {other} in 20 s")
        time.sleep(0.2)
    _say(progress, f"app.{writer.CHAOS_TABLE} ready on both servers")


def final_keys(info: LabInfo, node: str) -> set[tuple[str, int]]:
    with _root(info, node) as server:
        rows = server.query(Statement(f"SELECT writer, seq FROM app.{writer.CHAOS_TABLE}"))
    return {(str(r["writer"]), int(r["seq"])) for r in rows}


@dataclass
class Options:
    seed: int
    duration: float
    writers: int = 3
    interval: float = 0.02
    bound: float = SETTLE_BOUND
    profile: writer.Profile = writer.Profile.TIGHT


def hosts_of(info: LabInfo) -> tuple[list[str], bool]:
    """The lab's hosts and whether it has an arbiter (a witness host that exists)."""
    names = [h.name for h in info.lab.hosts]
    witness = "witness" in names and netns.namespace_exists("witness")
    return [n for n in names if n != "witness" or witness], witness


def plan(info: LabInfo, opts: Options) -> list[schedule.Step]:
    hosts, arbiter = hosts_of(info)
    return schedule.build(opts.seed, opts.duration, hosts, arbiter=arbiter)


def _start_writers(info: LabInfo, opts: Options, logs: list[Path]) -> list[subprocess.Popen[bytes]]:
    procs = []
    for i, log in enumerate(logs):
        argv = writer.command(
            VIP, info.secrets.app_password_file, log, opts.duration + 3600,
            interval=opts.interval, name=f"w{i + 1}", keys=writer.KeySpace.PER_WRITER,
            profile=opts.profile,
        )  # fmt: skip
        procs.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    return procs


@dataclass
class _Run:
    """What the run collected, for ``_evidence``."""

    records: list[StepRecord] = field(default_factory=list)
    resolutions: list[Resolution] = field(default_factory=list)
    final_resolutions: list[Resolution] = field(default_factory=list)
    dead: set[str] = field(default_factory=set)
    final_active: str | None = None
    converged: float | None = None


def run(info: LabInfo, opts: Options, out_dir: Path, progress: Progress) -> dict[str, Any]:
    """Run the schedule; the JSON result (``result["verdict"]["ok"]``)."""
    ctx = Context(info)
    hosts, arbiter = hosts_of(info)
    steps = schedule.build(opts.seed, opts.duration, hosts, arbiter=arbiter)
    out_dir.mkdir(parents=True, exist_ok=True)
    active = agents.wait_settled(info, progress)
    _prepare_table(info, active, progress)
    log_offsets = {n.name: _size(_agent_log(info, n.name)) for n in info.nodes}
    logs = [out_dir / f"w{i + 1}.jsonl" for i in range(opts.writers)]
    procs = _start_writers(info, opts, logs)
    got = _Run()
    try:
        _wait_first_ack(logs)
        t0 = time.monotonic()
        _say(progress, f"{opts.writers} writers acknowledged through {VIP}; chaos starts")
        for step in steps:
            if time.monotonic() - t0 + step.hold > opts.duration:
                _say(progress, f"step {step.index}: no time left, skipped with the rest")
                break
            time.sleep(max(0.0, t0 + step.start - time.monotonic()))
            rec = _run_step(ctx, step, opts, progress)
            got.records.append(rec)
            got.resolutions.extend(rec.resolutions)
            got.dead |= {n.name for n in info.nodes if not _agent_alive(info, n.name)}
            time.sleep(step.quiet)
        _say(progress, "final heal")
        healed_at = time.monotonic()
        injectors.heal_everything(ctx)
        got.final_active = recover(info, opts.bound, progress, got.final_resolutions)
        if got.final_active:
            got.converged = round(time.monotonic() - healed_at, 3)
        _say(progress, f"final: active {got.final_active} after {got.converged} s")
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(15)
    evidence = _evidence(info, opts, arbiter, logs, log_offsets, got)
    return {
        "seed": opts.seed,
        "duration": opts.duration,
        "hosts": hosts,
        "mode": "arbiter" if arbiter else "classic",
        "classic_note": None
        if arbiter
        else "classic two-node mode: db1~db2 cuts (client sees both) are not scheduled; "
        "they can give two writers without an arbiter",
        "writers": opts.writers,
        "schedule": [s.as_json() for s in steps],
        "steps": [r.as_json() for r in got.records],
        "resolutions": [asdict(r) for r in (*got.resolutions, *got.final_resolutions)],
        "final_active": got.final_active,
        "writer_logs": [str(p) for p in logs],
        "verdict": checker.verdict(evidence),
    }


def _evidence(
    info: LabInfo,
    opts: Options,
    arbiter: bool,
    logs: list[Path],
    log_offsets: dict[str, int],
    got: _Run,
) -> checker.Evidence:
    attempts = [a for log in logs for a in writer.load_log(log)]
    equal, note = _checksum(info) if got.final_active else (None, "no active to compare")
    keys: set[tuple[str, int]] | None = None
    if got.final_active:
        try:
            keys = final_keys(info, got.final_active)
        except MysqlError as exc:
            note += f"; rows unreadable: {exc}"
    tracebacks = {}
    for n in info.nodes:
        path = _agent_log(info, n.name)
        text = path.read_text(errors="replace")[log_offsets[n.name] :] if path.exists() else ""
        tracebacks[str(path)] = checker.traceback_lines(text)
    dead = got.dead | {n.name for n in info.nodes if not _agent_alive(info, n.name)}
    every = [*got.resolutions, *got.final_resolutions]
    return checker.Evidence(
        attempts=attempts,
        final_keys=keys,
        reported_lost={k for r in every for k in r.lost_keys},
        windows=[_window(r, opts.bound) for r in got.records if r.injected_at is not None],
        arbiter=arbiter,
        converged_s=got.converged,
        bound_s=opts.bound + sum(r.seconds for r in got.final_resolutions),
        final_roles=roles(info),
        checksum_equal=equal,
        checksum_note=note,
        tracebacks=tracebacks,
        dead_agents=sorted(dead),
        unresolved=sorted({r.node for r in got.final_resolutions if r.action == "unresolved"}),
        unsettled=[r.step.index for r in got.records if r.active_after is None],
    )


def _run_step(ctx: Context, step: schedule.Step, opts: Options, progress: Progress) -> StepRecord:
    info = ctx.info
    rec = StepRecord(step)
    try:
        rec.node = _resolve_node(info, step)
        injected = injectors.INJECTORS[step.kind](ctx, rec.node)
        rec.injected_at = injected.at
        _say(progress, f"step {step.index}: {step.kind} {step.target} -> {rec.node}")
        time.sleep(max(0.0, injected.at + step.hold - time.time()))
        rec.healed_at = injected.heal()
    except DualbeatError as exc:
        rec.error = str(exc)
        _say(progress, f"step {step.index}: {exc}; healing everything")
        injectors.heal_everything(ctx)
        rec.healed_at = time.time()
    started = time.monotonic()
    rec.active_after = recover(info, opts.bound, progress, rec.resolutions)
    rec.settled_s = round(time.monotonic() - started, 3) if rec.active_after else None
    _say(progress, f"step {step.index}: settled {rec.settled_s} s, active {rec.active_after}")
    return rec


def _window(rec: StepRecord, bound: float) -> checker.Window:
    assert rec.injected_at is not None
    end = (rec.healed_at or rec.injected_at) + (rec.settled_s or bound)
    limit = schedule.separates_db_hosts_with_client_on_both(rec.step.target)
    return checker.Window(
        rec.step.index, rec.step.kind, rec.step.target, rec.injected_at, end, limit
    )


def _agent_log(info: LabInfo, node: str) -> Path:
    return info.lab.node_paths(node).agent_dir / "agent.log"


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def _wait_first_ack(logs: list[Path]) -> None:
    deadline = time.monotonic() + 20
    while not all(any(a.acked for a in writer.load_log(p)) for p in logs):
        if time.monotonic() > deadline:
            raise DualbeatError(f"not every writer acknowledged a write through {VIP} in 20 s")
        time.sleep(0.1)


def _checksum(info: LabInfo) -> tuple[bool | None, str]:
    """``dualbeat checksum`` from the client host: (equal, a one-line note)."""
    code, out, err = _dualbeat(info, "client", "checksum", "--json", timeout=300)
    if code not in (0, 1):
        return None, f"checksum failed (exit {code}): {(err or out).strip()[-200:]}"
    try:
        report = json.loads(out)
    except ValueError:
        return code == 0, f"exit {code}"
    tables = report.get("tables", [])
    return code == 0, f"exit {code}, {len(tables)} tables compared"
