"""The watchdog's pure parts, and its kicks against a FIFO and a regular file.

Never the real /dev/watchdog: opening it on this machine would arm a reset of the host.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from dualbeat.agent.watchdog import (
    WDIOC_GETTIMEOUT,
    WDIOC_SETTIMEOUT,
    Watchdog,
    kick_interval,
    softdog_needed,
)
from dualbeat.config import WatchdogConfig
from dualbeat.errors import WatchdogError


def test_ioctl_numbers_match_linux_watchdog_h() -> None:
    assert WDIOC_SETTIMEOUT == 0xC0045706
    assert WDIOC_GETTIMEOUT == 0x80045707


@pytest.mark.parametrize(
    ("device", "exists", "needed"),
    [
        ("/dev/watchdog", False, True),
        ("/dev/watchdog1", False, True),
        ("/dev/watchdog", True, False),
        ("/tmp/watchdog", False, False),  # never modprobe for a path that is not a device
        ("/dev/watchdogs", False, False),
    ],
)
def test_softdog_is_loaded_only_for_a_missing_dev_watchdog(
    device: str, exists: bool, needed: bool
) -> None:
    assert softdog_needed(Path(device), exists) is needed


def test_kicks_three_times_per_timeout() -> None:
    assert kick_interval(6.0) == 2.0


@pytest.fixture
def fifo(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    path = tmp_path / "watchdog.fifo"
    os.mkfifo(path)
    reader = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    yield path, reader
    os.close(reader)


def test_kicks_and_magic_close_reach_the_device(fifo: tuple[Path, int]) -> None:
    path, reader = fifo
    dog = Watchdog(WatchdogConfig(enabled=True, device=path, timeout=5))
    assert "is not a watchdog device" in dog.open()
    assert dog.is_open
    dog.kick()
    dog.kick()
    assert os.read(reader, 16) == b"\0\0"
    dog.close(magic=True)
    assert os.read(reader, 16) == b"V"
    assert not dog.is_open
    dog.close()  # idempotent
    with pytest.raises(WatchdogError, match="kick on a closed watchdog"):
        dog.kick()


def test_close_without_magic_leaves_the_timer_armed(tmp_path: Path) -> None:
    path = tmp_path / "watchdog.file"
    path.touch()
    dog = Watchdog(WatchdogConfig(enabled=True, device=path, timeout=5))
    dog.open()
    dog.kick()
    dog.close(magic=False)
    assert path.read_bytes() == b"\0"


def test_open_errors_name_the_device(tmp_path: Path) -> None:
    missing = tmp_path / "watchdog"
    with pytest.raises(WatchdogError, match=rf"cannot open watchdog {missing}: No such file"):
        Watchdog(WatchdogConfig(device=missing)).open()
    lonely = tmp_path / "no-reader.fifo"
    os.mkfifo(lonely)
    with pytest.raises(WatchdogError, match="No such device or address"):
        Watchdog(WatchdogConfig(device=lonely)).open()
