"""``dualbeat rejoin``: review and resolve what a returning node wrote that the active lacks."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from dualbeat.agent.control import SocketAgent
from dualbeat.cli.common import config_option, err, handle_errors, out, progress_printer
from dualbeat.config import Config, load
from dualbeat.errors import UsageError
from dualbeat.ops import rejoin as ops
from dualbeat.ops.outcome import ExitCode
from dualbeat.rejoin.method import Method

REJOIN_EXIT_CODES = """\b
Exit codes:
  0  NODE holds nothing of its own that the active lacks
  1  NODE holds transactions the active lacks (the report lists them)
  2  bad configuration or usage, binlog tool missing, report not writable
  3  a MySQL server could not be reached, refused us, or a binlog read failed
  4  refused: --accept with writes still missing, --reapply/--discard on a node
     that is not fenced or without a live active, a --method that is not possible
     (the reason is given), checksums differ after a rejoin
  7  NODE's agent does not answer (--accept, --reapply, --discard)"""


@click.command(epilog=REJOIN_EXIT_CODES)
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
@click.option(
    "--method",
    type=click.Choice(["flashback", "dump", "backup"]),
    default=None,
    help="With --reapply/--discard: how NODE becomes a copy of the active (default: "
    "chosen and explained; see step 3 above).",
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
    method: str | None,
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
           active, whole, in commit order, as a new transaction there with a marker
           row (dualbeat.reapplied: never applied twice, even by a rerun); --include
           adds the conflicting ones (NODE's version wins); the rest is reported as
           discarded;
        3. NODE is made a copy of the active by one of three methods (--method), then
           its GTID history restarts at the position that copy stands at:
             flashback  NODE's lost transactions are reverted on NODE itself
                        (mariadb-binlog --flashback over the saved copy, applied as one
                        transaction with NODE's binary log off); nothing is copied, so
                        it takes seconds whatever the data size. Possible only on
                        MariaDB when every lost transaction is complete, row-based with
                        full images, without DDL, on tables with a primary key, and the
                        newest of NODE's history in its GTID domain; otherwise refused
                        with the reason. A flashback already applied is seen in the
                        rows themselves and never applied twice.
             dump       a logical copy (mariadb-dump | mariadb, NODE's binary log off);
                        needs only the SQL ports, time grows with the data.
             backup     a physical copy with mariadb-backup, for large data: needs
                        [rejoin] backup_command (puts a backup of the active in
                        {target} on this host), server_stop_command and
                        server_start_command (NODE's server is stopped while its
                        datadir is replaced); refused until they are set.
           Without --method: a rejoin interrupted earlier is finished with its method;
           else flashback when possible and at most 10,000 row changes; else backup
           when configured and the active holds at least [rejoin] backup_above_mb;
           else dump. The choice is printed in one line and recorded.
        4. the active replicates from NODE again from that position, and the --accept step
           follows: NODE stands by, replicates, and the pair is checksummed.
      A record of what was applied, discarded and saved, and the method with why:
      STATE_DIR/rejoin/<time>-<mode>.json. A failed or killed run is safe to run again:
      it says what state it left and continues where it stopped
      (STATE_DIR/rejoin/in-progress.json holds the method and position meanwhile).
    They use the [admin] account (the [mysql] one without it): it writes on the active
    and loads NODE with its binary log off, so it needs SUPER-level rights there.
    """
    from dualbeat.rejoin.analysis import analyze as run_analysis
    from dualbeat.rejoin.render import render_analysis

    modes = [m for m, on in (("analyze", analyze), ("accept", accept), ("reapply", reapply),
                             ("discard", discard)) if on]  # fmt: skip
    if len(modes) != 1:
        raise UsageError("say what to do: one of --analyze, --accept, --reapply, --discard")
    if include and not reapply:
        raise UsageError("--include only makes sense with --reapply")
    if method and not (reapply or discard):
        raise UsageError("--method only makes sense with --reapply or --discard")
    config = load(config_path)
    if reapply or discard:
        chosen = Method(method) if method else None
        _resolve(config, node, modes[0], include, binlog_timeout, chosen)
        return
    analysis = run_analysis(config, node, timeout=binlog_timeout)
    if as_json:
        click.echo(json.dumps(analysis.to_json(), indent=2, ensure_ascii=False))
    else:
        out.print(render_analysis(analysis, limit=limit))
    ops.keep(config, analysis, progress_printer())
    if accept:
        port = SocketAgent(config.state_dir(analysis.node))
        say = progress_printer(f"rejoin {analysis.node}: ")
        rows = ops.accept(config, port, analysis.node, analysis.has_missing, say)
        _accepted(analysis.node, rows)
    elif analysis.has_missing:
        sys.exit(ExitCode.CHECK_FAILED)


def _resolve(
    config: Config,
    node: str,
    mode: str,
    include: bool,
    binlog_timeout: float,
    method: Method | None,
) -> None:
    from rich import progress as bar

    bars = bar.Progress(
        bar.TextColumn("copying"),
        bar.BarColumn(),
        bar.DownloadColumn(),
        bar.TimeElapsedColumn(),
        console=err,
        transient=True,
    )
    task = bars.add_task("copy", total=None)
    with bars:
        done = ops.resolve_and_accept(
            config,
            SocketAgent(config.state_dir(config.node(node).name)),
            node,
            mode=mode,
            include=include,
            binlog_timeout=binlog_timeout,
            method=method,
            progress=progress_printer(f"rejoin {node}: "),
            copy_progress=lambda done, total: bars.update(
                task, completed=done, total=max(done, total)
            ),
        )
    result = done.resolution
    if result.choice:
        out.print(f"method {result.choice.why}", highlight=False, markup=False)
    how = result.choice.method.value if result.choice else Method.DUMP.value
    applied = len(result.applied)
    skipped = len(result.plan.skipped) if result.plan else 0
    out.print(
        f"{node}: {applied} transaction(s) re-applied on {result.active}, {skipped} "
        f"discarded; record: {result.record_path}"
        if mode == "reapply"
        else f"{node} rebuilt from {result.active} ({how}); record: {result.record_path}",
        highlight=False,
    )
    _accepted(result.node, done.rows)


def _accepted(node: str, rows: int) -> None:
    out.print(f"[green]✓[/] {node} is a standby again and replicates from the active")
    out.print(f"[green]✓[/] checksum: {rows} rows equal on both servers")
