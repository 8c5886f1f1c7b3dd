"""``rejoin --method backup``: rebuild a fenced node from a physical copy of the active
(``mariadb-backup``), for data too large to dump and load in reasonable time.

The steps, each safe to repeat, with the state they need kept in ``journal``:

1. ``[rejoin] backup_command`` (a shell command, run here on NODE's host) leaves a backup
   of the active in ``<datadir>.dualbeat-backup``, beside NODE's datadir so that the swap
   below is a rename on one file system; progress is its size against the active's data.
   The copy's GTID position is the active's ``BINLOG_GTID_POS`` of the binary-log file
   and offset the backup recorded (``xtrabackup_binlog_info``): exact, where the GTID list
   written beside it is the active's ``gtid_current_pos``, which leaves out domains it
   last received as a replica.
2. ``mariadb-backup --prepare`` makes it consistent (here, with NODE's own tool).
3. ``[rejoin] server_stop_command``; the journal says the server is down from here on.
4. The swap: NODE's datadir becomes ``<datadir>.dualbeat-old`` (kept until the rejoin
   completes), the backup takes its place with its owner, and NODE's own replication
   settings (``master.info``, ``multi-master.info``) are carried over: the active's would
   point NODE at itself. NODE's binary logs move over too (when they live in the
   datadir): until its history is restarted, NODE must still show its lost transactions,
   or its agent, seeing a node that lacks nothing, would rejoin it by itself
   (``[rejoin] auto``) and replicate from a position no one chose. Repeatable from any
   point (``finish_swap``).
5. ``[rejoin] server_start_command``, then wait until NODE answers; NODE starts read-only
   and without replication (its my.cnf: ``read_only``, ``skip_slave_start``).

The caller then restarts NODE's GTID history at the position, as after a dump. A rejoin
run again after a kill finds the journal: a stopped server is started (and a half swap
finished) first; after the swap only the history restart remains.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

from dualbeat.config import Config
from dualbeat.errors import DualbeatError, MysqlQueryError, UsageError
from dualbeat.mysql.connection import Endpoint, Server
from dualbeat.rejoin import sql
from dualbeat.rejoin.journal import Journal

__all__ = [
    "Backup",
    "discard_old",
    "finish_swap",
    "paths",
    "refusal",
    "resume",
    "size",
    "start_server",
]

_KEEP = ("master.info", "multi-master.info")
_TOOL = "mariadb-backup"
_SEARCH = "/usr/bin:/usr/local/bin:/usr/sbin:/usr/local/sbin:/bin:/sbin"
Say = Callable[[str], None]
CopyProgress = Callable[[int, int], None]


def refusal(config: Config, flavor_family: str) -> str | None:
    """Why the backup method cannot be used here (None: it can)."""
    if flavor_family != "mariadb":
        return "the physical rebuild uses mariadb-backup (MariaDB)"
    if missing := config.rejoin.backup_missing():
        return f"not configured: set {', '.join(missing)} (see docs/operations.md)"
    if _tool() is None:
        return f"{_TOOL} not found on this host: install the mariadb-backup package"
    return None


def _tool() -> str | None:
    return shutil.which(_TOOL) or shutil.which(_TOOL, path=_SEARCH)


def paths(datadir: Path) -> tuple[Path, Path]:
    """Where the backup is put, and where NODE's replaced datadir is kept."""
    return (
        datadir.with_name(f"{datadir.name}.dualbeat-backup"),
        datadir.with_name(f"{datadir.name}.dualbeat-old"),
    )


def _run(argv: list[str], what: str, timeout: float, say: Say, name: str) -> None:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise MysqlQueryError(name, f"{what} took > {timeout:g} s") from exc
    except OSError as exc:
        raise UsageError(f"{what}: cannot run {argv[0]!r}: {exc}") from exc
    if proc.returncode != 0:
        detail = " ".join((proc.stdout + proc.stderr).split())[-400:]
        raise MysqlQueryError(name, f"{what} failed (exit {proc.returncode}): {detail}")
    say(f"{what}: done")


def size(directory: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(directory):
        for f in files:
            with contextlib.suppress(OSError):  # a file the backup just renamed
                total += os.lstat(os.path.join(root, f)).st_size
    return total


class Backup:
    """Steps 1-4 against one NODE and its active (``journal`` updated by the caller's
    ``keep``, which writes it durably before the step that needs it)."""

    def __init__(self, config: Config, fenced: Server, act: Server, say: Say) -> None:
        self.config, self.fenced, self.act, self.say = config, fenced, act, say
        self.settings = config.rejoin

    def datadir(self) -> tuple[Path, str | None]:
        """NODE's datadir, and the name of its binary logs when they are kept there."""
        rows = self.fenced.query(sql.DATADIR)
        datadir = Path(str(rows[0]["d"])).resolve()
        base = Path(str(rows[0]["b"] or "")).resolve()
        return datadir, base.name if base.parent == datadir else None

    def take(self, datadir: Path, estimate: int, progress: CopyProgress) -> str:
        """Steps 1-2; returns the copy's GTID position on the active."""
        target, _ = paths(datadir)
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(mode=0o750)
        shutil.chown(target, *_owner(datadir))
        command = self.settings.backup_shell(
            active=self.act.name, node=self.fenced.name, target=str(target),
            active_host=self.act.endpoint.host, active_port=str(self.act.endpoint.port),
        )  # fmt: skip
        self.say(f"backing up {self.act.name} into {target} ...")
        done = threading.Event()

        def watch() -> None:
            while not done.wait(0.5):
                progress(size(target), estimate)

        watcher = threading.Thread(target=watch, name="backup-progress", daemon=True)
        watcher.start()
        try:
            _run(["/bin/sh", "-c", command], "[rejoin] backup_command",
                 self.settings.backup_timeout, self.say, self.act.name)  # fmt: skip
        finally:
            done.set()
            watcher.join()
        progress(size(target), estimate)
        position = self._position(target)
        tool = _tool() or _TOOL
        _run([tool, "--prepare", f"--target-dir={target}"], "mariadb-backup --prepare",
             self.settings.backup_timeout, self.say, self.fenced.name)  # fmt: skip
        return position

    def _position(self, target: Path) -> str:
        info = target / "xtrabackup_binlog_info"
        try:
            fields = info.read_text().split()
        except OSError as exc:
            raise MysqlQueryError(
                self.act.name, f"the backup has no readable {info.name} (binary log off?): {exc}"
            ) from exc
        if len(fields) < 2 or not fields[1].isdigit():
            raise MysqlQueryError(self.act.name, f"cannot read {info}: {' '.join(fields)!r}")
        rows = self.act.query(sql.binlog_gtid_pos(fields[0].lstrip("./"), int(fields[1])))
        position = str(rows[0]["p"] or "") if rows else ""
        if not position:
            raise MysqlQueryError(
                self.act.name,
                f"{self.act.name} cannot say which GTID position {fields[0]}:{fields[1]} is "
                "(that binary log purged?)",
            )
        return position

    def stop_server(self) -> None:
        """Step 3: run the stop command and wait until NODE no longer answers."""
        argv = self.settings.server_argv("stop", self.fenced.name)
        self.fenced.close()
        _run(argv, "[rejoin] server_stop_command", self.settings.server_timeout, self.say,
             self.fenced.name)  # fmt: skip
        deadline = time.monotonic() + self.settings.server_timeout
        while _answers(self.fenced.endpoint):
            if time.monotonic() > deadline:
                raise MysqlQueryError(
                    self.fenced.name, "still answers after [rejoin] server_stop_command"
                )
            time.sleep(0.2)


def _owner(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_uid, st.st_gid


def finish_swap(datadir: Path, binlog: str | None) -> None:
    """Step 4, from wherever a previous run stopped: the backup ends up as ``datadir``,
    the node's own data as ``<datadir>.dualbeat-old``, NODE's binary logs (named
    ``binlog``, when in the datadir) moved over. Idempotent."""
    target, old = paths(datadir)
    if target.exists() and datadir.exists():  # not begun: NODE's data still in place
        shutil.rmtree(old, ignore_errors=True)
        datadir.rename(old)
    if target.exists() and not datadir.exists():
        uid, gid = _owner(old)
        for name in _KEEP:
            if (old / name).exists():
                shutil.copy2(old / name, target / name)
        if binlog is not None:
            for f in old.glob(f"{binlog}.*"):
                if f.suffix == ".index" or f.suffix[1:].isdigit():
                    f.rename(target / f.name)
        for root, dirs, files in os.walk(target):
            for entry in (*dirs, *files):
                os.chown(os.path.join(root, entry), uid, gid)
        os.chown(target, uid, gid)
        target.rename(datadir)
    if not datadir.exists():
        raise UsageError(f"neither {datadir} nor the backup {target} exists: restore by hand")


def start_server(config: Config, node: str, endpoint: Endpoint, say: Say) -> None:
    """Step 5: run the start command and wait until NODE answers."""
    settings = config.rejoin
    _run(settings.server_argv("start", node), "[rejoin] server_start_command",
         settings.server_timeout, say, node)  # fmt: skip
    deadline = time.monotonic() + settings.server_timeout
    while not _answers(endpoint):
        if time.monotonic() > deadline:
            raise MysqlQueryError(node, "does not answer after [rejoin] server_start_command")
        time.sleep(0.5)


def resume(config: Config, node: str, endpoint: Endpoint, journal: Journal, say: Say) -> Journal:
    """A previous backup rejoin left NODE's server stopped: finish the swap if it had
    begun, and start the server, so this run can go on. Returns the journal as it now
    stands (swapped, when a half swap was finished)."""
    if not journal.server_stopped or _answers(endpoint):
        return journal
    assert journal.datadir is not None
    say(f"the interrupted rejoin left {node}'s server stopped: finishing and starting it")
    if journal.swapped or paths(Path(journal.datadir))[1].exists():
        finish_swap(Path(journal.datadir), journal.binlog)
        journal = journal.but(swapped=True)
    start_server(config, node, endpoint, say)
    return journal


def discard_old(datadir: Path) -> None:
    """After the rejoin completed: NODE's replaced datadir goes (its lost transactions are
    in the saved binary logs)."""
    shutil.rmtree(paths(datadir)[1], ignore_errors=True)


def _answers(endpoint: Endpoint) -> bool:
    try:
        with Server(endpoint) as server:
            server.query(sql.ANSWERS)
        return True
    except DualbeatError:
        return False
