"""``dualbeat rejoin``: review and resolve what a returning node wrote that the active lacks."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import click

from dualbeat.cli.common import config_option, err, handle_errors, out, progress_printer
from dualbeat.config import Config, load
from dualbeat.errors import DualbeatError, RefusedError, UsageError

REJOIN_EXIT_CODES = """\b
Exit codes:
  0  NODE holds nothing of its own that the active lacks
  1  NODE holds transactions the active lacks (the report lists them)
  2  bad configuration or usage, binlog tool missing, report not writable
  3  a MySQL server could not be reached, refused us, or a binlog read failed
  4  refused: --accept with writes still missing, --reapply/--discard on a node
     that is not fenced or without a live active, checksums differ after a rejoin
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
    from dualbeat.mysql.checksum import checksum_pair

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
