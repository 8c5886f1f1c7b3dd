"""The kernel watchdog: the active's agent kicks it; if the agent hangs, the HOST RESETS.

Why: a hung agent cannot demote its MySQL when its lease runs out, and a paused one that
resumes would write after the standby took over. The Linux watchdog resets the whole
machine (no shutdown, no sync) when nobody has written to ``/dev/watchdog`` for
``[watchdog].timeout`` seconds. Without a hardware watchdog the ``softdog`` module gives a
software one (loaded here with ``modprobe softdog`` when ``/dev/watchdog`` is missing);
softdog cannot help when the whole kernel hangs, but it does when the agent does.

Off by default. The agent opens the device when it becomes active and kicks it every
``timeout/3``; when it stops being active it closes with the magic character ``V``, which
disarms the timer. A close WITHOUT ``V`` (the agent killed or crashed while active) leaves
the timer running: the host is reset ``timeout`` later. (With the driver's ``nowayout``
parameter set, even the magic close does not disarm it: do not set it for dualbeat.)
Never open the real device in a test: the machine would reboot.

Any path may be configured; a FIFO or a regular file receives the kicks (the tests use
that) and the timeout ioctl is only sent to a character device.
"""

from __future__ import annotations

import fcntl
import os
import re
import stat
import struct
import subprocess
from pathlib import Path

from dualbeat.config import WatchdogConfig
from dualbeat.errors import WatchdogError

MODPROBE_TIMEOUT = 10.0
_KICK = b"\0"  # any byte but "V", which would arm the magic close
_MAGIC = b"V"


def _ioc(direction: int, kind: str, nr: int, size: int) -> int:
    """An ioctl request number, as the kernel's ``_IOC`` macro builds it (asm-generic)."""
    return (direction << 30) | (size << 16) | (ord(kind) << 8) | nr


_IOC_WRITE, _IOC_READ = 1, 2
# <linux/watchdog.h>: WDIOC_SETTIMEOUT = _IOWR('W', 6, int), WDIOC_GETTIMEOUT = _IOR('W', 7, int)
WDIOC_SETTIMEOUT = _ioc(_IOC_READ | _IOC_WRITE, "W", 6, 4)
WDIOC_GETTIMEOUT = _ioc(_IOC_READ, "W", 7, 4)


def softdog_needed(device: Path, exists: bool) -> bool:
    """Load softdog only for a missing ``/dev/watchdogN``, never for another path."""
    return (
        not exists
        and device.parent == Path("/dev")
        and bool(re.fullmatch(r"watchdog\d*", device.name))
    )


def kick_interval(timeout: float) -> float:
    """Kick three times per timeout, so two late kicks in a row still do not reset."""
    return timeout / 3


class Watchdog:
    """One open watchdog device. Not thread-safe: one thread opens, kicks and closes."""

    def __init__(self, cfg: WatchdogConfig) -> None:
        self.cfg = cfg
        self._fd: int | None = None

    @property
    def is_open(self) -> bool:
        return self._fd is not None

    def open(self) -> str:
        """Load softdog if needed, open the device, set its timeout; says what it did."""
        device = self.cfg.device
        loaded = ""
        if softdog_needed(device, device.exists()):
            _modprobe_softdog()
            loaded = "softdog loaded; "
            if not device.exists():
                raise WatchdogError(f"modprobe softdog succeeded but {device} did not appear")
        try:
            fd = os.open(device, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as exc:
            raise WatchdogError(f"cannot open watchdog {device}: {exc.strerror}") from None
        self._fd = fd
        if not stat.S_ISCHR(os.fstat(fd).st_mode):
            return f"{loaded}{device} is not a watchdog device: kicks are written, nothing resets"
        wanted = int(self.cfg.timeout)
        try:
            fcntl.ioctl(fd, WDIOC_SETTIMEOUT, struct.pack("i", wanted))
            got = struct.unpack("i", fcntl.ioctl(fd, WDIOC_GETTIMEOUT, struct.pack("i", 0)))[0]
        except OSError as exc:
            self.close(magic=True)
            raise WatchdogError(f"cannot set the timeout of {device}: {exc.strerror}") from None
        if got != wanted:
            self.close(magic=True)
            raise WatchdogError(f"{device} took a timeout of {got} s instead of {wanted} s")
        return f"{loaded}{device} armed: the host resets {wanted} s after the last kick"

    def kick(self) -> None:
        if self._fd is None:
            raise WatchdogError("kick on a closed watchdog")
        try:
            os.write(self._fd, _KICK)
        except OSError as exc:
            raise WatchdogError(f"cannot kick {self.cfg.device}: {exc.strerror}") from None

    def close(self, magic: bool = True) -> None:
        """Close; with ``magic`` write ``V`` first, which disarms the timer. Idempotent."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            if magic:
                os.write(fd, _MAGIC)
        except OSError as exc:
            raise WatchdogError(
                f"cannot disarm {self.cfg.device} ({exc.strerror}): the host will reset"
            ) from None
        finally:
            os.close(fd)


def _modprobe_softdog() -> None:
    try:
        proc = subprocess.run(
            ["modprobe", "softdog"],
            capture_output=True,
            text=True,
            timeout=MODPROBE_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise WatchdogError(f"modprobe softdog: {exc}") from None
    if proc.returncode != 0:
        raise WatchdogError(f"modprobe softdog failed: {proc.stderr.strip() or proc.returncode}")
