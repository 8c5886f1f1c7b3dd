"""``gate.window``: where the binary log stood while the client gate was shut, read from a
server process's open descriptors, and which transactions lie in such a window."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dualbeat.gate.window import Recorder, Window, Windows, current_binlog, file_identity


def server(tmp_path: Path, sizes: dict[str, int]) -> tuple[int, str, Path]:
    """A process (``/proc`` under tmp_path) holding the given binary logs and a relay log
    open; its pid, the binary log's base name, the fake /proc."""
    data, proc = tmp_path / "data", tmp_path / "proc"
    data.mkdir()
    fds = proc / "4242" / "fd"
    fds.mkdir(parents=True)
    names = [*sizes, "relay-bin.000009", "mysql-bin.index"]
    for number, name in enumerate(names, start=3):
        (data / name).write_bytes(b"x" * sizes.get(name, 10))
        os.symlink(data / name, fds / str(number))
    return 4242, str(data / "mysql-bin"), proc


def test_the_newest_binary_log_of_the_process_is_found(tmp_path: Path) -> None:
    pid, base, proc = server(tmp_path, {"mysql-bin.000002": 50, "mysql-bin.000003": 700})
    path, identity, size = current_binlog(pid, base, proc) or ("", "", 0)
    assert path == base + ".000003" and size == 700 and identity == file_identity(path)


def test_no_process_or_no_binary_log_records_nothing(tmp_path: Path) -> None:
    pid, base, proc = server(tmp_path, {})
    assert current_binlog(pid, base, proc) is None  # only a relay log and the index
    assert current_binlog(999999, base, proc) is None


def at(binlog: Path, start: int, end: int | None = None) -> Window:
    """A window of ``binlog`` as it is now."""
    return Window(str(binlog), file_identity(str(binlog)) or "", start, end)


def test_a_closed_window_holds_what_starts_inside_it_of_the_same_file(tmp_path: Path) -> None:
    binlog = tmp_path / "mysql-bin.000003"
    binlog.write_bytes(b"x" * 1000)
    window = at(binlog, 400, 900)
    assert window.holds("mysql-bin.000003", 400) and window.holds("mysql-bin.000003", 899)
    assert not window.holds("mysql-bin.000003", 399), "written before the gate shut"
    assert not window.holds("mysql-bin.000003", 900), "written once it was open"
    assert not window.holds("mysql-bin.000004", 500) and not window.holds("mysql-bin.000003", None)
    assert not at(binlog, 400).holds("mysql-bin.000003", 500), "still open: counts for nothing"
    binlog.unlink()  # RESET MASTER: a new file under the old name
    binlog.write_bytes(b"y" * 1000)
    assert not window.holds("mysql-bin.000003", 500)


class Growing(Windows):
    """Windows over one binary log that the test makes grow (no server process)."""

    def __init__(self, tmp_path: Path) -> None:
        super().__init__(tmp_path)
        self.binlog = tmp_path / "mysql-bin.000001"
        self.binlog.write_bytes(b"x" * 100)

    def open(self, pid: int, base: str) -> Window | None:
        window = at(self.binlog, self.binlog.stat().st_size)
        self._save([*self.closed(), window])
        return window

    def grow(self, n: int) -> None:
        with self.binlog.open("ab") as f:
            f.write(b"x" * n)


def recorder(windows: Windows, told: list[Window] | None = None) -> Recorder:
    sink: list[Window] = [] if told is None else told
    return Recorder(windows, lambda: "/var/lib/mysql/mysql-bin", sink.append)


def test_a_window_runs_from_the_shut_to_the_opening(tmp_path: Path) -> None:
    windows, told = Growing(tmp_path), list[Window]()
    rec = recorder(windows, told)
    rec.opened(pid=1, shut=1)
    windows.grow(50)  # the thawed server's in-doubt commit
    rec.opened(pid=1, shut=1)  # the same shut again: the window stays
    rec.closing()
    windows.grow(50)  # read-only, the gate open: not in the window
    assert windows.load() == [at(windows.binlog, 100, 150)]
    assert len(told) == 1


def test_a_window_never_spans_a_time_the_gate_was_open(tmp_path: Path) -> None:
    """An open window in the file that this recorder did not open (an earlier run's, or
    one it could not close) is dropped, never closed later."""
    windows = Growing(tmp_path)
    windows._save([at(windows.binlog, 10)])
    rec = recorder(windows)
    assert windows.load() == [], "dropped at the start"
    windows._save([at(windows.binlog, 10)])
    rec.closing()
    assert windows.load() == []


def test_without_the_binary_log_name_nothing_is_recorded(tmp_path: Path) -> None:
    windows = Windows(tmp_path)
    Recorder(windows, lambda: None).opened(pid=1, shut=1)
    assert windows.load() == []


def test_a_file_that_cannot_be_written_drops_the_windows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    windows = Growing(tmp_path)
    rec = recorder(windows)
    rec.opened(pid=1, shut=1)

    def fail(_windows: list[Window]) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(windows, "_save", fail)
    rec.closing()
    assert not windows.path.exists(), "an open window that could not be closed"


def test_a_window_whose_file_was_replaced_is_dropped_at_the_close(tmp_path: Path) -> None:
    windows = Growing(tmp_path)
    rec = recorder(windows)
    rec.opened(pid=1, shut=1)
    windows.binlog.unlink()
    windows.binlog.write_bytes(b"y" * 500)
    rec.closing()
    assert windows.load() == []
