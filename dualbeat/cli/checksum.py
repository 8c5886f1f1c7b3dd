"""``dualbeat checksum``: compare the data of both servers, chunk by chunk."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.markup import escape
from rich.table import Table

from dualbeat.cli.common import config_option, err, handle_errors, out
from dualbeat.config import load
from dualbeat.ops import pair


@click.command(
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

    from dualbeat.checksum.compare import ChecksumProgress
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
        compared = pair.checksum(
            config,
            reference=reference,
            databases=databases,
            tables=tables,
            chunk_size=chunk_size,
            progress=show,
        )
    report = compared.report
    if as_json:
        click.echo(json.dumps(report.as_json(), indent=2))
        sys.exit(compared.outcome)
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
    sys.exit(compared.outcome)
