"""``dualbeat repl setup`` and ``dualbeat repl check``: dual-master replication itself."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.markup import escape
from rich.table import Table

from dualbeat.cli.common import EXIT_CODES, config_option, handle_errors, out, progress_printer
from dualbeat.config import load
from dualbeat.ops import pair


@click.group()
def repl() -> None:
    """Set up and check dual-master replication between the two nodes."""


@repl.command("setup")
@config_option
@click.option("--active", help="The node that ends up writable (default: the first node).")
@click.option("--force", is_flag=True, help="Proceed even if the servers' data has diverged.")
@click.option("--dry-run", is_flag=True, help="Show what would change; change nothing.")
@click.option(
    "--create-agent-user",
    is_flag=True,
    help="Also create the [mysql] account on both servers with exactly the agent's grants "
    "(needs [admin]).",
)
@handle_errors
def repl_setup(
    config_path: Path, active: str | None, force: bool, dry_run: bool, create_agent_user: bool
) -> None:
    """Make the two servers replicate from each other, idempotently.

    \b
    Steps (each shown as it runs; a step already done is skipped):
      1. read both servers; refuse if a static setting is missing (log_bin,
         log_slave_updates, MySQL gtid_mode) or if their data has diverged
         (each has transactions the other lacks) unless --force; data without
         a GTID history on both is compared by checksum and must be equal;
      2. SET GLOBAL binlog_format=ROW, auto_increment_increment=2 and
         offsets 1/2, distinct server_id / gtid_domain_id, slave_net_timeout=10;
      3. create the replication user on both (not binlogged) when [admin] is given,
         and with --create-agent-user the agent's account;
      4. CHANGE MASTER both ways with GTID auto-positioning, START SLAVE;
      5. make the passive read-only, then the active writable.

    Settings changed with SET GLOBAL are listed at the end: add them to my.cnf
    (MariaDB has no SET PERSIST), or a restart undoes them.
    """
    config = load(config_path)
    report = pair.setup(
        config,
        active=active,
        force=force,
        dry_run=dry_run,
        create_agent_user=create_agent_user,
        progress=progress_printer(),
    )
    verb = "would be" if dry_run else "is"
    out.print(
        f"[green]✓[/] {report.active} {verb} active (writable), {report.passive} {verb} passive "
        f"(read-only); {len(report.changes)} change(s)"
    )
    for node, settings in report.persist.items():
        out.print(f"\nPersist in my.cnf on {node} ([mariadbd] / [mysqld] section):", markup=False)
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
    from dualbeat.repl.check import Status

    config = load(config_path)
    checked = pair.check(config, active=active)
    findings = checked.findings

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
    sys.exit(checked.outcome)
