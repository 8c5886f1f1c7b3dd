"""The pair's own workflows, which need no agent: replication setup and check, and the
data checksum. Each returns what it found and the outcome it stands for (a FAIL, a
difference: ``ExitCode.CHECK_FAILED``), so no shell decides that on its own."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Unpack

from dualbeat.checksum.compare import ChecksumOptions, checksum_pair
from dualbeat.checksum.report import ChecksumReport
from dualbeat.config import Config
from dualbeat.ops.outcome import ExitCode
from dualbeat.ops.port import Progress, quiet
from dualbeat.repl.check import CheckResult, Status, worst
from dualbeat.repl.inspect import inspect_pair
from dualbeat.repl.setup import SetupReport, setup_pair


def setup(
    config: Config,
    *,
    active: str | None = None,
    force: bool = False,
    dry_run: bool = False,
    create_agent_user: bool = False,
    progress: Progress = quiet,
) -> SetupReport:
    """Make the two servers replicate from each other, idempotently (``repl.setup``)."""
    return setup_pair(
        config,
        active=active,
        force=force,
        dry_run=dry_run,
        create_agent_user=create_agent_user,
        progress=progress,
    )


@dataclass(frozen=True)
class Checked:
    findings: tuple[CheckResult, ...]

    @property
    def outcome(self) -> ExitCode:
        failed = worst(list(self.findings)) is Status.FAIL
        return ExitCode.CHECK_FAILED if failed else ExitCode.OK


def check(config: Config, *, active: str | None = None) -> Checked:
    """Every dual-master rule against both servers as they are now."""
    return Checked(tuple(inspect_pair(config, active=active)))


@dataclass(frozen=True)
class Compared:
    report: ChecksumReport

    @property
    def outcome(self) -> ExitCode:
        return ExitCode.OK if self.report.equal else ExitCode.CHECK_FAILED


def checksum(
    config: Config, *, reference: str | None = None, **options: Unpack[ChecksumOptions]
) -> Compared:
    """Compare the data of both servers chunk by chunk, reading only."""
    return Compared(checksum_pair(config, reference=reference, **options))
