"""The ``dualbeat`` command.

Why click + rich: click gives nested commands, typed options and ``--help`` pages built from
docstrings (the man page lives next to the code it documents); rich gives the OK/WARN/FAIL
tables and live progress a DBA reads at 3 a.m. The commands here only parse arguments and
render results: the work is done by functions in ``repl``, ``rejoin`` and the agent,
so the HTTP API can call the same functions.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import time
from collections.abc import Callable
from importlib import resources
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from dualbeat import __version__
from dualbeat.config import Config, load, local_node, safety_warnings
from dualbeat.errors import DualbeatError, RefusedError, UsageError

F = TypeVar("F", bound=Callable[..., Any])
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
DEFAULT_CONFIG = "/etc/dualbeat/dualbeat.toml"
EXIT_CODES = """\b
Exit codes:
  0  success (warnings included)
  1  a check found a FAIL
  2  bad configuration or usage
  3  a MySQL server could not be reached or refused us
  4  refused: the command would lose data or break a safety rule"""


def handle_errors(fn: F) -> F:
    """Print a dualbeat error as one clear message and exit with its code (no traceback)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except DualbeatError as exc:
            err.print(f"[bold red]dualbeat: error:[/] {exc}", highlight=False, markup=True)
            sys.exit(exc.exit_code)

    return wrapper  # type: ignore[return-value]


def progress_printer(prefix: str = "") -> Callable[[str], None]:
    def show(message: str) -> None:
        err.print(f"[dim]{prefix}[/]{message}", highlight=False)

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


@click.group(
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog=EXIT_CODES,
)
@click.version_option(__version__, prog_name="dualbeat")
def cli() -> None:
    """High availability for a MySQL/MariaDB dual-master pair.

    dualbeat is HeartBeat + Mon + dual-master replication as one program: two servers
    exchange authenticated heartbeats, each watches its own MySQL, the active one holds the
    virtual IP and takes writes, the standby stays read-only and replicating.

    \b
    Getting started on two servers:
      dualbeat init /etc/dualbeat/dualbeat.toml     write a commented example
      dualbeat check-config /etc/dualbeat/dualbeat.toml
      dualbeat repl setup                           make the pair replicate both ways
      dualbeat repl check                           lint and live-check the pair

    Every command takes -h/--help.
    """


def main() -> None:
    cli(prog_name="dualbeat")


def add_installed_commands(group: click.Group) -> None:
    """Add the commands other installed packages register under ``dualbeat.commands``.

    This is how ``dualbeat sandbox`` exists where the lab (dualbeat-lab) is installed and
    nowhere else: the product never imports the lab. A plugin that fails to load is reported
    and skipped, so a broken lab never takes the operator's commands down with it.
    """
    for entry in entry_points(group="dualbeat.commands"):
        try:
            command = entry.load()
        except Exception as exc:  # any import error of a foreign package
            err.print(f"dualbeat: warning: command {entry.name!r} not loaded: {exc}")
            continue
        if isinstance(command, click.Command):
            group.add_command(command, entry.name)


# ---------------------------------------------------------------------------- config


@cli.command()
@click.argument("path", type=click.Path(dir_okay=False, allow_dash=True), default="-")
@click.option("--force", is_flag=True, help="Overwrite PATH if it exists.")
@handle_errors
def init(path: str, force: bool) -> None:
    """Write a commented example configuration to PATH (default: standard output).

    The example documents every key with its default. Edit the node names and addresses,
    the VIP and the credential files, then run `dualbeat check-config PATH`.
    """
    text = resources.files("dualbeat").joinpath("example.toml").read_text()
    if path == "-":
        click.echo(text, nl=False)
        return
    target = Path(path)
    if target.exists() and not force:
        raise UsageError(f"{target} exists; use --force to overwrite it")
    target.write_text(text)
    err.print(f"wrote {target}; edit it, then: dualbeat check-config {target}")


@cli.command("check-config")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--node", help="Check that this host is NODE (default: find it by address).")
@click.option(
    "--no-local-check",
    is_flag=True,
    help="Skip checking that one node's address belongs to this host (to lint a file elsewhere).",
)
@handle_errors
def check_config(path: Path, node: str | None, no_local_check: bool) -> None:
    """Validate a configuration file and say which node this host is.

    Every problem is reported as FILE:LINE: key: message, and the exit code is 2: unknown
    keys, wrong types, missing or group/world-readable secret files, impossible timings
    (deadtime < 2 x keepalive, timeouts longer than the interval), and a host that is
    neither node.

    A valid file still gets warnings (exit code 0) for the faults it leaves open: without
    an [arbiter], a partition between the nodes with both alive, and a paused active that
    resumes, can give two writers; a watchdog slower than the arbiter lease resets a hung
    active too late.
    """
    config = load(path)
    if no_local_check:
        out.print(f"{path}: OK (cluster {config.cluster!r}, nodes {config.node_names()})")
    else:
        from dualbeat.vip.addresses import local_addresses

        me = local_node(config, local_addresses(), node)
        peer = config.peer_of(me.name).name
        out.print(f"{path}: OK (cluster {config.cluster!r}; this host is {me.name}, peer {peer})")
    for warning in safety_warnings(config):
        out.print(
            f"{path}: warning: [{warning.section}] {warning.risk}",
            style="yellow",
            markup=False,
            highlight=False,
        )
        out.print(f"  fix: {warning.fix}", markup=False, highlight=False)


# ------------------------------------------------------------------------------ repl


@cli.group()
def repl() -> None:
    """Set up and check dual-master replication between the two nodes."""


@repl.command("setup")
@config_option
@click.option("--active", help="The node that ends up writable (default: the first node).")
@click.option("--force", is_flag=True, help="Proceed even if the servers' data has diverged.")
@click.option("--dry-run", is_flag=True, help="Show what would change; change nothing.")
@handle_errors
def repl_setup(config_path: Path, active: str | None, force: bool, dry_run: bool) -> None:
    """Make the two servers replicate from each other, idempotently.

    \b
    Steps (each shown as it runs; a step already done is skipped):
      1. read both servers; refuse if a static setting is missing (log_bin,
         log_slave_updates, MySQL gtid_mode) or if their data has diverged
         (each has transactions the other lacks) unless --force;
      2. SET GLOBAL binlog_format=ROW, auto_increment_increment=2 and
         offsets 1/2, distinct server_id / gtid_domain_id, slave_net_timeout=10;
      3. create the replication user on both (not binlogged) when [admin] is given;
      4. CHANGE MASTER both ways with GTID auto-positioning, START SLAVE;
      5. make the passive read-only, then the active writable.

    Settings changed with SET GLOBAL are listed at the end: add them to my.cnf
    (MariaDB has no SET PERSIST), or a restart undoes them.
    """
    from dualbeat.repl.setup import setup_pair

    config = load(config_path)
    report = setup_pair(
        config, active=active, force=force, dry_run=dry_run, progress=progress_printer()
    )
    verb = "would be" if dry_run else "is"
    out.print(
        f"[green]✓[/] {report.active} {verb} active (writable), {report.passive} {verb} passive "
        f"(read-only); {len(report.changes)} change(s)"
    )
    for node, settings in report.persist.items():
        out.print(f"\nPersist in my.cnf on {node} ([mariadbd] / [mysqld] section):")
        for name, value in settings.items():
            out.print(f"  {name} = {value}", highlight=False)


@repl.command("check", epilog=EXIT_CODES)
@config_option
@click.option("--active", help="Judge with NODE as the active (default: the writable node).")
@click.option("--json", "as_json", is_flag=True, help="Print findings as JSON.")
@handle_errors
def repl_check(config_path: Path, active: str | None, as_json: bool) -> None:
    """Lint and live-check every dual-master pitfall.

    \b
    Checks: server_id, auto_increment offsets, log_bin, log_slave_updates, binlog_format,
    sync_binlog=1, innodb_flush_log_at_trx_commit=1, relay_log_recovery, GTID mode and
    domains, slave_net_timeout, replication source, I/O and SQL threads, lag, errant
    transactions (on the passive, missing on the active), exactly one writer, passive
    read-only, semi-sync state, and the faults the configuration leaves open to two
    writers (without an [arbiter]: a partition between the nodes, a paused active).

    Each finding is OK, WARN or FAIL with a hint. Exit code 1 on any FAIL.
    """
    from dualbeat.repl.inspect import inspect_pair

    config = load(config_path)
    findings = inspect_pair(config, active=active)
    from dualbeat.repl.check import Status, worst

    if as_json:
        click.echo(json.dumps([f.as_json() for f in findings], indent=2))
    else:
        colour = {Status.OK: "green", Status.WARN: "yellow", Status.FAIL: "bold red"}
        table = Table(title=f"dual-master check: {config.cluster}", show_lines=False)
        for col in ("check", "node", "status", "detail", "hint"):
            table.add_column(col, overflow="fold")
        for f in findings:
            table.add_row(  # details quote config sections such as [arbiter]: not markup
                f.check,
                f.node,
                f"[{colour[f.status]}]{f.status.name}[/]",
                escape(f.detail),
                escape(f.hint),
            )
        out.print(table)
    if worst(findings) is Status.FAIL:
        sys.exit(1)


# -------------------------------------------------------------------------- checksum


@cli.command(
    epilog="""\b
Exit codes:
  0  every table is equal on both servers
  1  a difference: rows, a table on one server only, different columns, or a table
     that could not be read
  2  bad configuration or usage (e.g. --table naming nothing on either server)
  3  a MySQL server could not be reached or refused us"""
)
@config_option
@click.option(
    "--database",
    "databases",
    multiple=True,
    metavar="DB",
    help="Compare only this database (repeatable; combines with --table).",
)
@click.option(
    "--table",
    "tables",
    multiple=True,
    metavar="DB.TABLE",
    help="Compare only this table (repeatable).",
)
@click.option(
    "--chunk-size",
    type=click.IntRange(1, 1_000_000),
    default=1000,
    show_default=True,
    help="Rows per chunk, counted on the reference.",
)
@click.option(
    "--reference",
    metavar="NODE",
    help="Read chunk boundaries on NODE (default: the writable node, else the first node).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON on stdout.")
@handle_errors
def checksum(
    config_path: Path,
    databases: tuple[str, ...],
    tables: tuple[str, ...],
    chunk_size: int,
    reference: str | None,
    as_json: bool,
) -> None:
    """Compare the data of both servers, chunk by chunk, without writing anything.

    \b
    What it reads: every table of the user databases on both servers (all but mysql,
    sys, information_schema, performance_schema and dualbeat), or only those named with
    --database / --table. A table on one server only, or whose columns differ, is
    reported without reading its rows.

    \b
    How it compares:
      1. each table is walked along its primary key (else its first unique NOT NULL
         key) in chunks of --chunk-size rows, the boundaries read on the reference
         (the active); the first and last chunks are open-ended, so rows beyond the
         reference's key range are caught too;
      2. both servers digest the same key range at once: COUNT(*) and the exact sum of
         64-bit MD5 row digests (NULL-safe; strings and BLOBs as stored bytes, FLOAT
         widened to DOUBLE, TIMESTAMP in UTC);
      3. a table without such a key is compared whole, in one chunk ("no key:
         compared whole");
      4. the rows of a chunk that differs are listed by key: only on one node, or on
         both with different contents.

    \b
    It never writes: consistent-read SELECTs in sessions set READ ONLY, and no
    checksum table like pt-table-checksum's (on the passive that write would be an
    errant transaction). It takes no locks beyond those of a plain SELECT.

    \b
    A busy active: before each table the passive gets up to 30 s to apply everything
    the active has executed. A chunk that differs is re-checked up to 3 times, each
    time after the passive has caught up to the active's read, and only a difference
    that persists is reported. If the passive cannot catch up (replication stopped or
    far behind) the table is marked "had not caught up": its differences may be lag.

    A progress bar per table goes to standard error; the summary (or --json) to
    standard output.
    """
    from rich import progress as bar
    from rich.markup import escape

    from dualbeat.checksum.compare import ChecksumProgress, checksum_pair
    from dualbeat.checksum.report import TableStatus, show_key

    config = load(config_path)
    bars = bar.Progress(
        bar.TextColumn("{task.description}", markup=False),
        bar.BarColumn(),
        bar.MofNCompleteColumn(),
        bar.TextColumn("chunks  {task.fields[rows]} rows"),
        bar.TimeElapsedColumn(),
        console=err,
    )
    tasks: dict[str, bar.TaskID] = {}

    def show(p: ChecksumProgress) -> None:
        if p.table not in tasks:
            tasks[p.table] = bars.add_task(p.table, total=p.chunks_estimated, rows=0)
        bars.update(tasks[p.table], completed=p.chunks_done, total=p.chunks_estimated, rows=p.rows)

    with bars:
        report = checksum_pair(
            config,
            reference=reference,
            databases=databases,
            tables=tables,
            chunk_size=chunk_size,
            progress=show,
        )
    if as_json:
        click.echo(json.dumps(report.as_json(), indent=2))
        sys.exit(0 if report.equal else 1)
    table = Table(title=f"checksum: {report.reference} (reference) vs {report.peer}")
    for col in ("table", "rows", "chunks", "differing chunks", "differing rows", "status"):
        table.add_column(
            col, overflow="fold", justify="left" if col in {"table", "status"} else "right"
        )
    for t in report.tables:
        colour = "green" if t.equal else "bold red"
        status = f"[{colour}]{t.status.value.replace('_', ' ')}[/]"
        if t.status is TableStatus.DIFFERENT and t.rows != t.peer_rows:
            status += f" ({report.peer}: {t.peer_rows} rows)"
        if t.note:
            status += f"\n[dim]{escape(t.note)}[/]"
        rows_cell = str(t.rows) if t.chunks else "-"
        counts = (rows_cell, str(t.chunks), str(len(t.diffs)), str(t.differing_rows))
        table.add_row(escape(t.full_name), *counts, status)
    out.print(table)
    shown = 20
    for t in report.tables:
        for d in t.diffs:
            out.print(
                f"{t.full_name} chunk {d.chunk.index} ({d.chunk.describe()}): "
                f"{report.reference} {d.reference.rows} rows, {report.peer} {d.peer.rows} rows, "
                f"still different after {d.checks} checks",
                highlight=False,
                markup=False,
            )
            if not d.rows_listed:
                why = "; a smaller --chunk-size narrows it" if t.key else " (no key: one chunk)"
                out.print(f"  too many rows to list{why}")
            for r in d.rows[:shown]:
                row = show_key(r.key) if t.key else f"a row with digest {r.key[0]}"
                line = f"  {row}: {report.where(r.kind)}"
                out.print(line, highlight=False, markup=False)
            if len(d.rows) > shown:
                out.print(f"  ... {len(d.rows) - shown} more (--json lists them all)")
    rate = report.rows / report.seconds if report.seconds > 0 else 0.0
    verdict = "[green]equal[/]" if report.equal else "[bold red]DIFFERENT[/]"
    out.print(
        f"{len(report.tables)} table(s), {report.rows} rows in {report.seconds:.1f} s "
        f"({rate:,.0f} rows/s): {verdict}"
    )
    if not report.equal:
        sys.exit(1)


# ---------------------------------------------------------------------------- rejoin

REJOIN_EXIT_CODES = """\b
Exit codes:
  0  NODE holds nothing of its own that the active lacks
  1  NODE holds transactions the active lacks (the report lists them)
  2  bad configuration or usage, binlog tool missing, report not writable
  3  a MySQL server could not be reached, refused us, or a binlog read failed
  4  refused: --accept with writes still missing, --reapply/--discard on a node
     that is not fenced or without a live active, checksums differ after a rejoin
  7  NODE's agent does not answer (--accept, --reapply, --discard)"""


@cli.command(epilog=REJOIN_EXIT_CODES)
@click.argument("node")
@config_option
@click.option(
    "--analyze",
    is_flag=True,
    help="Find, decode and classify what NODE wrote that the active lacks (read-only).",
)
@click.option(
    "--accept",
    is_flag=True,
    help="NODE's difference is empty or resolved: let it stand by and replicate again.",
)
@click.option(
    "--reapply",
    is_flag=True,
    help="Re-apply NODE's safe lost transactions on the active, then rebuild NODE from it.",
)
@click.option(
    "--include",
    is_flag=True,
    help="With --reapply: re-apply conflicting transactions too (NODE's version wins).",
)
@click.option(
    "--discard",
    is_flag=True,
    help="Rebuild NODE from the active; its lost transactions are saved, then dropped.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option(
    "--binlog-timeout",
    type=float,
    default=300.0,
    show_default=True,
    help="Seconds the binary log read may take.",
)
@click.option("--limit", default=200, show_default=True, help="Row changes shown on screen.")
@handle_errors
def rejoin(
    node: str,
    config_path: Path,
    analyze: bool,
    accept: bool,
    reapply: bool,
    include: bool,
    discard: bool,
    as_json: bool,
    binlog_timeout: float,
    limit: int,
) -> None:
    """Review what NODE (a returning, fenced node) wrote that the active lacks.

      \b
      --analyze, read-only on both servers:
        1. GTID difference NODE - active, restricted to NODE's own writes (its
           server_id / server_uuid): an old active's unreplicated writes, or errant
           transactions written on a passive node;
        2. those transactions from NODE's binary logs (mariadb-binlog / mysqlbinlog
           --read-from-remote-server), rows decoded with NODE's column names;
        3. every row looked up by primary key on the active and classified:
           safe (untouched on the active since), conflict_changed (the active's row
           differs from the before image), conflict_key_taken (the inserted key exists),
           conflict_missing (the updated/deleted row is gone), unclassified (no primary
           key, table differs, DDL or statement-logged DML).
      The report is printed and saved as STATE_DIR/rejoin/<UTC time>-analysis.json of
      NODE's state directory.

      \b
      --accept (run where NODE's agent runs): analyses again and refuses (exit 4) while
      NODE still holds writes the active lacks; re-apply them on the active or rebuild
      NODE first. With nothing missing, NODE's agent leaves the fenced role, replicates
      from the active again as the standby, and `dualbeat checksum` compares the pair.

      The account needs REPLICATION SLAVE and BINLOG MONITOR (MariaDB) or REPLICATION
      CLIENT (MySQL), and SELECT on the application tables.

      \b
      --reapply / --discard (run where NODE's agent runs; NODE must be fenced and its
      peer active; MariaDB):
        1. a fresh analysis is saved, and a byte-exact copy of NODE's binary logs that
           hold the lost transactions (STATE_DIR/rejoin/<time>-binlogs/);
        2. --reapply only: each transaction whose rows are all safe is re-applied on the
           active, whole, in commit order, as a new transaction there (--include adds the
           conflicting ones: NODE's version wins); the rest is reported as discarded;
        3. NODE is rebuilt from the active: a logical copy (mariadb-dump | mariadb, with
           NODE's binary log off, progress on standard error), then its GTID history
           restarts at the copy's position;
        4. the active replicates from NODE again from that position, and the --accept step
           follows: NODE stands by, replicates, and the pair is checksummed.
      A record of what was applied, discarded and saved: STATE_DIR/rejoin/<time>-<mode>.json.
    They use the [admin] account (the [mysql] one without it): it writes on the active
    and loads NODE with its binary log off, so it needs SUPER-level rights there.
    """
    from dualbeat.errors import ConfigError
    from dualbeat.rejoin.analysis import analyze as run_analysis
    from dualbeat.rejoin.analysis import save
    from dualbeat.rejoin.render import render_analysis

    modes = [m for m, on in (("analyze", analyze), ("accept", accept), ("reapply", reapply),
                             ("discard", discard)) if on]  # fmt: skip
    if len(modes) != 1:
        raise UsageError("say what to do: one of --analyze, --accept, --reapply, --discard")
    if include and not reapply:
        raise UsageError("--include only makes sense with --reapply")
    config = load(config_path)
    if reapply or discard:
        _resolve_rejoin(config, node, modes[0], include, binlog_timeout)
        return
    analysis = run_analysis(config, node, timeout=binlog_timeout)
    if as_json:
        click.echo(json.dumps(analysis.to_json(), indent=2, ensure_ascii=False))
    else:
        out.print(render_analysis(analysis, limit=limit))
    try:
        path = save(analysis, config)
    except OSError as exc:
        raise ConfigError(
            f"cannot save the report under {config.state_dir(analysis.node)}: {exc}"
        ) from exc
    err.print(f"report saved: {path}", highlight=False)
    _record_rejoin_report(config, analysis, path)
    if accept:
        _accept_rejoin(config, analysis.node, analysis.has_missing)
    elif analysis.has_missing:
        sys.exit(1)


def _resolve_rejoin(
    config: Config, node: str, mode: str, include: bool, binlog_timeout: float
) -> None:
    from rich import progress as bar

    from dualbeat.rejoin.analysis import analyze as run_analysis
    from dualbeat.rejoin.resolve import resolve

    bars = bar.Progress(
        bar.TextColumn("copying"),
        bar.BarColumn(),
        bar.DownloadColumn(),
        bar.TimeElapsedColumn(),
        console=err,
        transient=True,
    )
    task = bars.add_task("copy", total=None)
    say = progress_printer(f"rejoin {node}: ")
    with bars:
        result = resolve(
            config,
            node,
            mode=mode,
            include=include,
            binlog_timeout=binlog_timeout,
            say=say,
            copy_progress=lambda done, total: bars.update(
                task, completed=done, total=max(done, total)
            ),
        )
    _record_rejoin_report(config, result.analysis, result.analysis_path)
    if result.copy:
        say(f"copied {result.copy.bytes} bytes: {', '.join(result.copy.databases)}")
    applied = len(result.applied)
    skipped = len(result.plan.skipped) if result.plan else 0
    out.print(
        f"{node}: {applied} transaction(s) re-applied on {result.active}, {skipped} "
        f"discarded; record: {result.record_path}"
        if mode == "reapply"
        else f"{node} rebuilt from {result.active}; record: {result.record_path}",
        highlight=False,
    )
    again = run_analysis(config, result.node, timeout=binlog_timeout)
    _accept_rejoin(config, result.node, again.has_missing)


def _record_rejoin_report(config: Config, analysis: Any, path: Path) -> None:
    """Link the report from the node's history (by path), with the agent up or down."""
    from dualbeat.agent import history
    from dualbeat.core.state import Reason

    lacking = f"{analysis.missing_count} transaction(s) the active lacks"
    reason = Reason(
        "REJOIN_REPORT",
        f"lost-writes analysis of {analysis.node} against {analysis.active}: "
        + (lacking if analysis.has_missing else "nothing the active lacks"),
        {"report": str(path), "active": analysis.active, "missing": analysis.missing}
        | analysis.summary(),
    )
    try:
        history.record(config.state_dir(analysis.node), analysis.node, reason)
    except (OSError, DualbeatError) as exc:
        err.print(f"warning: the report is not linked from the history: {exc}", highlight=False)


def _accept_rejoin(config: Config, node: str, missing: bool) -> None:

    from dualbeat.agent import control
    from dualbeat.checksum.compare import checksum_pair

    if missing:
        raise RefusedError(
            f"{node} still holds transactions the active lacks (listed above): re-apply them "
            f"on the active or rebuild {node}, then run --accept again"
        )
    # The agent decides on its latest probe and the active's latest heartbeat (each at
    # most a monitor interval old): right after a rebuild they may still show the old
    # difference, so a refusal is retried for a few seconds before it stands.
    deadline = time.monotonic() + 5.0
    while True:
        try:
            answer = control.command(
                config.state_dir(node), {"cmd": "rejoined"}, f"{node}'s agent refused"
            )
            break
        except RefusedError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.25)
    if answer["finding"] != "rejoin_accepted":
        raise RefusedError(f"{node}'s agent is {answer['role']} ({answer['finding']}): try again")
    standing_by = control.wait_status(
        config.state_dir(node),
        lambda st: bool(st["role"] == "standby" and st["mysql"]["replicating"]),
        30.0,
    )
    if standing_by is None:
        raise RefusedError(f"{node} did not start replicating within 30 s; see dualbeat status")
    out.print(f"[green]✓[/] {node} is a standby again and replicates from the active")
    report = checksum_pair(config)
    if not report.equal:
        raise RefusedError(
            f"{node} rejoined, but `dualbeat checksum` finds differences: run it to see them"
        )
    out.print(f"[green]✓[/] checksum: {report.rows} rows equal on both servers")


# ----------------------------------------------------------------------------- agent


def _node_for(config_path: Path, node: str | None) -> tuple[Config, str]:
    """The config and the node this command speaks for: --node, or this host's address."""
    config = load(config_path)
    if node is not None:
        return config, config.node(node).name
    from dualbeat.vip.addresses import local_addresses

    return config, local_node(config, local_addresses()).name


node_option = click.option(
    "--node", help="The node to act as / ask (default: the node whose address is on this host)."
)


@cli.command()
@config_option
@node_option
@click.option(
    "--keep",
    is_flag=True,
    help="On SIGTERM keep the role: an active stays active instead of handing over.",
)
@handle_errors
def agent(config_path: Path, node: str | None, keep: bool) -> None:
    """Run the HA agent for this node (HeartBeat + Mon in one process).

    \b
    Every keepalive it sends authenticated heartbeats on every link; every monitor
    interval it probes the local MySQL, the peer's MySQL over SQL and the VIP. The
    decisions (promote, yield, fence) are logged one JSON line each to standard error
    and to STATE_DIR/events.jsonl; `dualbeat status` asks it over STATE_DIR/agent.sock.

    \b
    Signals: SIGTERM/SIGINT stop it. An active agent first hands over to a healthy
    standby (like hb_standby) unless --keep; with no healthy standby it keeps the role.
    Run it under systemd: deploy/dualbeat.service.
    """
    import asyncio
    import logging

    from dualbeat.agent.runtime import Agent

    config = load(config_path)
    from dualbeat.vip.addresses import local_addresses

    me = local_node(config, local_addresses(), node)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    asyncio.run(Agent(config, me.name, keep_on_stop=keep).run())


@cli.command()
@config_option
@node_option
@click.option("--json", "as_json", is_flag=True, help="Print the agent's status as JSON.")
@click.option(
    "--watch", is_flag=True, help="A live view that refreshes itself until Ctrl-C (exit code 0)."
)
@click.option(
    "--interval",
    type=click.FloatRange(min=0.1),
    default=1.0,
    show_default=True,
    help="Seconds between refreshes of --watch.",
)
@handle_errors
def status(
    config_path: Path, node: str | None, as_json: bool, watch: bool, interval: float
) -> None:
    """Show both nodes as the local agent sees them.

    Role, epoch, maintenance mode, MySQL health, writability, replication and lag, VIP,
    heartbeat age per link, semi-sync, and the last decisions. Exit code 7 if no agent
    answers.

    \b
    --watch keeps the view on screen and refreshes it every --interval seconds: both
    nodes, the VIP, replication and lag, the heartbeat links and the latest events of
    this node's history file. When the agent does not answer (stopped, restarting) the
    view says so and keeps the events, which are read from the file; it picks the agent
    up again when it answers. Ctrl-C leaves it.
    """
    from dualbeat.agent import control
    from dualbeat.agent.render import render_status

    config, name = _node_for(config_path, node)
    if watch:
        if as_json:
            raise UsageError("--watch is a view for a terminal; it does not combine with --json")
        _watch(config.state_dir(name), name, interval)
        return
    answer = control.request(config.state_dir(name), {"cmd": "status"})
    if as_json:
        click.echo(json.dumps(answer["status"], indent=2, default=str))
    else:
        out.print(render_status(answer["status"]))


def _watch(state_dir: Path, name: str, interval: float) -> None:
    """Refresh the live view until Ctrl-C; an unreachable agent is shown, not fatal."""
    import time

    from rich.live import Live

    from dualbeat.agent import control, history
    from dualbeat.agent.render import render_watch
    from dualbeat.errors import AgentUnreachable

    def frame() -> Any:
        status, error = None, ""
        try:
            status = control.request(state_dir, {"cmd": "status"}, timeout=2.0)["status"]
        except (AgentUnreachable, OSError) as exc:
            error = str(exc)
        events = history.tail(state_dir, 12)
        return render_watch(name, status, error, events, interval=interval, now=time.time())

    try:
        with Live(frame(), console=out, auto_refresh=False, screen=False) as live:
            while True:
                time.sleep(interval)
                live.update(frame(), refresh=True)
    except KeyboardInterrupt:
        return


@cli.command()
@config_option
@node_option
@click.option(
    "--since",
    metavar="WHEN",
    help="Only events since WHEN: a span back from now (90s, 10m, 2h, 1d) or an ISO 8601 "
    "time (2026-11-25T17:00; local time unless it names a zone).",
)
@click.option("--limit", type=click.IntRange(min=0), metavar="N", help="Only the newest N events.")
@click.option(
    "--json", "as_json", is_flag=True, help="One JSON object per line, as stored (for jq)."
)
@handle_errors
def history(
    config_path: Path,
    node: str | None,
    since: str | None,
    limit: int | None,
    as_json: bool,
) -> None:
    """Show the node's event history, oldest first, from its own store.

    \b
    Every decision of the agent with its reason code, sentence and evidence (the
    finding, the peer's silence per link, MySQL health, the peer's role and epoch);
    every takeover with its phase timings (detect, apply, promote, VIP, total) and
    takeover record; every demotion with its fence time; maintenance on/off; the
    rejoin reports written by `dualbeat rejoin` (by path).

    \b
    It reads STATE_DIR/events.jsonl (and the rotated events.1.jsonl) directly, so it
    works while the agent is stopped or after it crashed; a line torn by a crash is
    skipped and counted on standard error. --node reads another node's store when its
    state directory is on this host (the sandbox).
    """
    import time

    from dualbeat.agent import history as store
    from dualbeat.agent.render import render_history

    config, name = _node_for(config_path, node)
    try:
        cutoff = None if since is None else store.parse_since(since, time.time())
    except ValueError as exc:
        raise UsageError(f"--since: {exc}") from None
    state_dir = config.state_dir(name)
    found = store.read(state_dir, since=cutoff, limit=limit)
    if found.damaged:
        err.print(f"{found.damaged} damaged line(s) skipped in {state_dir}", highlight=False)
    if as_json:
        for event in found.events:
            click.echo(json.dumps(event, sort_keys=True, ensure_ascii=False))
        return
    if not found.events:
        out.print(
            f"no events in {state_dir / store.FILENAME}" + (f" since {since}" if since else "")
        )
        return
    out.print(render_history(found.events, f"{name} ({state_dir})"))


@cli.command()
@click.argument("state", type=click.Choice(["on", "off"]))
@config_option
@node_option
@click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    default=10.0,
    show_default=True,
    help="Seconds to wait for the peer to confirm it follows.",
)
@handle_errors
def maintenance(state: str, config_path: Path, node: str | None, timeout: float) -> None:
    """Pause (on) or resume (off) automation on both nodes, like Patroni's pause.

    \b
    On: no failover, no demotion, no fencing, no corrective action (read-only, VIP,
    replication) on either node; the active keeps serving as it is. Monitoring goes
    on: every finding is still judged, shown in `status` and written to the history,
    with what it would have done ("held by maintenance mode"). Operator commands
    (standby, takeover, switchover, rejoin --accept) are refused (exit 4). A node that
    restarts paused adopts the role its servers show and changes nothing.

    \b
    The setting is durable (the node's state file) and travels in the heartbeat: the
    peer follows within a heartbeat, and a node that was down catches up when it hears
    the other again; the newest command wins, from either node.

    \b
    Off: the agents judge the situation afresh from current evidence; if the active's
    MySQL died meanwhile, the failover happens now.

    Needs the local agent running (exit 7 otherwise); waits up to --timeout for the
    peer to confirm (a warning, not an error, if it does not: it follows when it hears
    this node).
    """
    from dualbeat.agent import control

    config, name = _node_for(config_path, node)
    on = state == "on"
    answer = control.request(config.state_dir(name), {"cmd": "maintenance", "on": on})
    if not answer.get("ok"):
        raise UsageError(str(answer.get("error")))
    for reason in answer["reasons"]:
        if reason["code"].startswith("MAINTENANCE_"):
            out.print(f"{name}: {reason['code']}: {reason['text']}", highlight=False)
    if not answer.get("persisted"):
        err.print(f"warning: {name} has not written the setting to its state file yet")
    peer = config.peer_of(name).name
    confirmed = control.wait_status(
        config.state_dir(name), lambda st: st["peer_view"]["maintenance"] is on, timeout
    )
    if confirmed is None:
        err.print(
            f"warning: {peer} has not confirmed within {timeout:g} s (is its agent running?); "
            f"it follows when it hears {name}",
            highlight=False,
        )
        return
    out.print(f"[green]✓[/] maintenance mode {state} on {name} and {peer}")


def _command(config_path: Path, node: str | None, payload: dict[str, Any]) -> None:
    from dualbeat.agent import control

    config, name = _node_for(config_path, node)
    answer = control.command(config.state_dir(name), payload, f"{name} refused")
    for reason in answer["reasons"]:
        out.print(f"{name}: {reason['code']}: {reason['text']}", highlight=False)
    out.print(f"{name} is now {answer['role']} ({answer['finding']})", highlight=False)


@cli.command()
@config_option
@node_option
@handle_errors
def standby(config_path: Path, node: str | None) -> None:
    """Hand over to the peer (HeartBeat's hb_standby).

    The active makes itself read-only, kills client sessions, releases the VIP and tells
    the peer to take over. Refused (exit 4) unless the peer is a healthy standby.
    """
    _command(config_path, node, {"cmd": "standby"})


@cli.command()
@config_option
@node_option
@click.option(
    "--force", is_flag=True, help="Take over even if the peer holds transactions this node lacks."
)
@handle_errors
def takeover(config_path: Path, node: str | None, force: bool) -> None:
    """Make this node active (HeartBeat's hb_takeover).

    With a live active peer, asks it to yield, then promotes. With the peer gone,
    promotes at once, but refuses (exit 4) while the peer's last known transactions are
    not all here, since they would be lost; --force accepts that loss.
    """
    _command(config_path, node, {"cmd": "takeover", "force": force})


@cli.command()
@click.option("--dot", is_flag=True, help="Print the role diagram in Graphviz dot.")
def fsm(dot: bool) -> None:
    """Print the role transition table (role, finding -> role: why)."""
    from dualbeat.core.transitions import TABLE, to_dot

    if dot:
        click.echo(to_dot())
        return
    for (role, finding), (target, why) in TABLE.items():
        click.echo(f"{role.value:9} {finding.value:18} -> {target.value:9} {why}")


@cli.command()
@config_option
@node_option
@click.option("--to", "to", help="The node to make active (default: the current standby).")
@click.option("--dry-run", is_flag=True, help="Run the checks and show the plan; change nothing.")
@click.option(
    "--timeout", default=30.0, show_default=True, help="Seconds to wait for the switchover to end."
)
@handle_errors
def switchover(
    config_path: Path, node: str | None, to: str | None, dry_run: bool, timeout: float
) -> None:
    """Move the active role to the other node: planned, lossless, explained.

    \b
    Checks first, over SQL on both servers, and refuses (exit 4) with the reasons when
    the standby is not replicating, lags, holds errant transactions, or the offsets
    or server ids are wrong. Then the agents do it:
      1. the active goes read-only, kills client sessions, reads its final executed
         GTID set and releases the VIP;
      2. the standby applies exactly that set (bounded by replication.apply_timeout);
         if it cannot, the switchover rolls back and the old active keeps the role;
      3. the standby raises the epoch, becomes writable, claims the VIP and sends
         gratuitous ARP; the old active replicates from it as the new standby.
    Run it on either node; it waits until the new active holds the VIP.
    """

    from dualbeat.agent import control
    from dualbeat.repl.switchover import preflight

    config, name = _node_for(config_path, node)
    status = control.request(config.state_dir(name), {"cmd": "status"})["status"]
    if status["role"] == "active":
        active = name
    elif status["peer_view"]["role"] == "active":
        active = config.peer_of(name).name
    else:
        raise RefusedError("no node is active right now: there is nothing to switch over")
    target = config.peer_of(active).name
    if to is not None and to != target:
        raise UsageError(
            f"--to {to}: {to} is already the active node"
            if to == active
            else f"--to {to}: no node named {to!r} (nodes: {config.node_names()})"
        )
    checks = preflight(config, active, target)
    if checks.blockers:
        raise RefusedError("switchover refused:\n  " + "\n  ".join(checks.explain()))
    out.print(f"checks passed: {target} is replicating, caught up, without errant transactions")
    if dry_run:
        out.print(f"would move the active role from {active} to {target} (dry run: nothing done)")
        return
    started = time.monotonic()
    control.command(
        config.state_dir(name), {"cmd": "switchover"}, "switchover refused by the agent"
    )

    def moved(st: dict[str, Any]) -> bool:
        if any(
            e["code"] == "SWITCHOVER_ABORTED" and e["ts"] >= time.time() - timeout
            for e in st["recent"]
        ):
            raise RefusedError(
                f"switchover rolled back: {target} could not apply {active}'s "
                "final transactions in time; see `dualbeat status`"
            )
        if target == name:
            return bool(st["role"] == "active" and st["vip"]["held"])
        return bool(st["peer_view"]["role"] == "active" and st["peer_view"]["vip_held"])

    if control.wait_status(config.state_dir(name), moved, timeout) is not None:
        out.print(
            f"[green]✓[/] {target} is active and holds the VIP "
            f"({time.monotonic() - started:.2f} s); {active} is the standby"
        )
        return
    raise RefusedError(f"switchover did not finish within {timeout:g} s; see `dualbeat status`")


add_installed_commands(cli)
