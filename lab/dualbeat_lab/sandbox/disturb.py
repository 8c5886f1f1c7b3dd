"""Disturbances of a *live* active that must not fail it over (issue 14 item 4), for the soak.

Why these three: each makes the server look wrong to a naive health check while it is alive
and an operator (or a backup tool) is doing something ordinary with it.

* ``backup_lock``: ``FLUSH TABLES WITH READ LOCK`` held for ``hold`` seconds on a session of
  its own, then ``UNLOCK TABLES``: what mariadb-dump/mariabackup do. Reads answer, every
  write (the agent's heartbeat row too) waits.
* ``fsync_stall``: the server's block I/O throttled to one write per second (and 4 KiB/s)
  for ``hold`` seconds, through the blkio cgroup controller: mariadbd is moved into a cgroup
  of its own, ``blkio.throttle.write_iops_device``/``write_bps_device`` set on the disk that
  holds its datadir, then the limit is lifted and the process moved back. A commit's redo
  log and binlog writes and their fsyncs wait in the kernel's throttle queue, the way they
  wait on a disk or SAN that stops answering; reads from memory and the network go on.
  Why this way: this machine has cgroup v1 with blk-throttle (no v2 ``io.max``), no
  dm-delay/dm-flakey under the sandbox's datadir, and the datadir sits on the root file
  system, so ``fsfreeze`` would freeze the whole machine (a loop-mounted datadir would
  need a different lab for this one test). Measured here: a 4 KiB write + fsync in such a
  cgroup waits until the limit is lifted, then completes at once. Limits: ext4's journal
  commits run in the jbd2 kernel thread, outside the cgroup, and are not throttled, and
  one write per second still passes, so this is a near-stall rather than a total one; the
  witness write (below) shows how long a commit actually waited.
* ``read_only_by_hand``: ``SET GLOBAL read_only = ON`` on the active, as an operator might;
  the agent must notice a writable role on a read-only server and repair it (or report
  it), never fail over. Waits up to ``repair_within`` seconds for ``read_only`` to be OFF
  again and says who turned it off: the agent, or this module after the bound.

Each returns a ``Disturbance``: when it took effect, how long it was held, and what it did
(the witness write's wait for the first two: one ``INSERT`` into ``app.soak_witness`` as root
sent right after the disturbance took effect, timed until its commit).
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from dualbeat.errors import MysqlError
from dualbeat.mysql.connection import Endpoint, Server
from dualbeat.mysql.statement import Statement
from dualbeat_lab.errors import SandboxError
from dualbeat_lab.sandbox import mariadb
from dualbeat_lab.sandbox.lab import LabInfo

BLKIO = Path("/sys/fs/cgroup/blkio")
CGROUP = "dualbeat-soak"
STALL_IOPS = 1  # blk-throttle's smallest limit: 0 means "no limit"
STALL_BPS = 4096
WITNESS_TABLE = "app.soak_witness"


@dataclass(frozen=True)
class Disturbance:
    """One disturbance: what, when it took effect (``time.time()``), how long, what it did."""

    name: str
    node: str
    started: float
    held_s: float
    detail: str

    def as_json(self, origin: float) -> dict[str, Any]:
        return {
            "name": self.name,
            "node": self.node,
            "at_s": round(self.started - origin, 3),
            "at": time.strftime("%H:%M:%S", time.gmtime(self.started)),
            "held_s": round(self.held_s, 3),
            "detail": self.detail,
        }


def _endpoint(info: LabInfo, node: str, timeout: float) -> Endpoint:
    return replace(info.node(node).root_endpoint(), read_timeout=timeout)


def prepare(info: LabInfo, node: str) -> None:
    """The witness table (replicated like any other table)."""
    with Server(_endpoint(info, node, 30.0)) as server:
        server.execute(
            Statement(
                f"CREATE TABLE IF NOT EXISTS {WITNESS_TABLE} "
                "(id INT AUTO_INCREMENT PRIMARY KEY, what VARCHAR(32), ts DATETIME(6))"
            )
        )


class _Witness:
    """One committed INSERT sent from a thread; ``wait`` says how long it took (or why not)."""

    def __init__(self, info: LabInfo, node: str, what: str, timeout: float) -> None:
        self._endpoint = _endpoint(info, node, timeout)
        self._what = what
        self._outcome = "not sent"
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        sent = time.monotonic()
        try:
            with Server(self._endpoint) as server:
                server.execute(
                    Statement(
                        f"INSERT INTO {WITNESS_TABLE} (what, ts) VALUES (%s, NOW(6))",
                        (self._what,),
                    )
                )
            self._outcome = f"a commit sent as it began took {time.monotonic() - sent:.2f} s"
        except MysqlError as exc:
            self._outcome = f"a commit sent as it began failed: {exc}"

    def wait(self, timeout: float) -> str:
        self._thread.join(timeout)
        if self._thread.is_alive():
            return f"a commit sent as it began had not returned {timeout:g} s after the end"
        return self._outcome


def backup_lock(info: LabInfo, node: str, hold: float) -> Disturbance:
    """``FLUSH TABLES WITH READ LOCK`` for ``hold`` seconds on its own session."""
    with Server(_endpoint(info, node, hold + 60.0)) as server:
        asked = time.monotonic()
        server.execute(Statement("FLUSH TABLES WITH READ LOCK"))
        started, acquired = time.time(), time.monotonic()
        witness = _Witness(info, node, "backup_lock", hold + 60.0)
        try:
            time.sleep(hold)
        finally:
            server.execute(Statement("UNLOCK TABLES"))
        held = time.monotonic() - acquired
    outcome = witness.wait(10.0)
    return Disturbance(
        "backup_lock",
        node,
        started,
        held,
        f"FLUSH TABLES WITH READ LOCK acquired in {acquired - asked:.2f} s, held, "
        f"UNLOCK TABLES; {outcome}",
    )


def _disk_of(path: Path) -> str:
    """``major:minor`` of the whole disk under ``path`` (blk-throttle takes disks, not
    partitions)."""
    dev = os.stat(path).st_dev
    sys_dev = Path(f"/sys/dev/block/{os.major(dev)}:{os.minor(dev)}")
    if not sys_dev.exists():
        raise SandboxError(f"{path} is not on a block device (st_dev {dev}): no fsync stall")
    if (sys_dev / "partition").exists():
        return (sys_dev.resolve().parent / "dev").read_text().strip()
    return f"{os.major(dev)}:{os.minor(dev)}"


def _throttle(group: Path, disk: str, iops: int, bps: int) -> None:
    (group / "blkio.throttle.write_iops_device").write_text(f"{disk} {iops}\n")
    (group / "blkio.throttle.write_bps_device").write_text(f"{disk} {bps}\n")


def _blkio_group(pid: int) -> Path:
    """The blkio cgroup ``pid`` is in now (where it goes back after the stall)."""
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if "blkio" in controllers.split(","):
            return BLKIO / path.lstrip("/")
    raise SandboxError(f"pid {pid} is in no blkio cgroup: no fsync stall here")


def fsync_stall(info: LabInfo, node: str, hold: float) -> Disturbance:
    """Throttle the node's mariadbd writes to ``STALL_IOPS``/``STALL_BPS`` for ``hold``
    seconds (see the module doc for why and the limits)."""
    if not (BLKIO / "blkio.throttle.write_iops_device").exists():
        raise SandboxError(f"no cgroup v1 blk-throttle at {BLKIO}: no fsync stall here")
    pid = mariadb.running_pid(info.lab, node)
    if pid is None:
        raise SandboxError(f"{node}: no mariadbd of the sandbox is running")
    disk = _disk_of(info.lab.node_paths(node).data)
    home = _blkio_group(pid)
    group = BLKIO / f"{CGROUP}-{node}"
    group.mkdir(exist_ok=True)
    _throttle(group, disk, STALL_IOPS, STALL_BPS)
    started, began = time.time(), time.monotonic()
    try:
        (group / "cgroup.procs").write_text(f"{pid}\n")
        started, began = time.time(), time.monotonic()
        witness = _Witness(info, node, "fsync_stall", hold + 60.0)
        time.sleep(hold)
    finally:
        _throttle(group, disk, 0, 0)  # 0: no limit; the queued writes go at once
        held = time.monotonic() - began
        (home / "cgroup.procs").write_text(f"{pid}\n")
        group.rmdir()
    outcome = witness.wait(10.0)
    return Disturbance(
        "fsync_stall",
        node,
        started,
        held,
        f"mariadbd (pid {pid}) writes to disk {disk} throttled to {STALL_IOPS}/s and "
        f"{STALL_BPS} B/s (blkio cgroup), then released; {outcome}",
    )


def _read_only(server: Server) -> bool:
    return server.variables(["read_only"])["read_only"].upper() in ("ON", "1")


def read_only_by_hand(info: LabInfo, node: str, repair_within: float) -> Disturbance:
    """``SET GLOBAL read_only = ON`` on ``node``; how long until it is OFF again."""
    with Server(_endpoint(info, node, 10.0)) as server:
        server.execute(Statement("SET GLOBAL read_only = ON"))
        started, began = time.time(), time.monotonic()
        deadline = began + repair_within
        while _read_only(server) and time.monotonic() < deadline:
            time.sleep(0.02)
        held = time.monotonic() - began
        if not _read_only(server):
            return Disturbance(
                "read_only_by_hand",
                node,
                started,
                held,
                f"SET GLOBAL read_only = ON; OFF again after {held:.2f} s (the agent)",
            )
        server.execute(Statement("SET GLOBAL read_only = OFF"))
    return Disturbance(
        "read_only_by_hand",
        node,
        started,
        held,
        f"SET GLOBAL read_only = ON; still ON after {repair_within:g} s: set OFF by the soak, "
        "NOT by the agent",
    )
