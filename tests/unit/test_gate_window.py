"""``gate.window``: where the binary log stood while the client gate was shut, read from a
server process's open descriptors, and which transactions lie in such a window."""

from __future__ import annotations

import os
from dataclasses import replace
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
    assert window.holds("mysql-bin.000003", 400, G) and window.holds("mysql-bin.000003", 899, G)
    assert not window.holds("mysql-bin.000003", 399, G), "written before the gate shut"
    assert not window.holds("mysql-bin.000003", 900, G), "written once it was open"
    assert not window.holds("mysql-bin.000004", 500, G)
    assert not window.holds("mysql-bin.000003", None, G)
    assert not at(binlog, 400).holds("mysql-bin.000003", 500, G), "still open: for nothing"
    binlog.unlink()  # RESET MASTER: a new file under the old name
    binlog.write_bytes(b"y" * 1000)
    assert not window.holds("mysql-bin.000003", 500, G)


#: A client transaction (MariaDB: domain 0, server 1, seq 12).
G = "0-1-12"
UUID = "3e11fa47-71ca-11e1-9e33-c80aa9429562"


@pytest.mark.parametrize(
    ("gtid", "unacked_after", "held"),
    [
        ("0-1-12", "0-1-11,9000-1-40", True),  # written after the proving probe
        ("0-1-11", "0-1-11,9000-1-40", False),  # the probe saw it: it may have returned
        ("0-1-12", "0-1-12", False),
        ("0-1-12", "9000-1-40", True),  # nothing of domain 0 yet at the probe
        ("0-1-12", None, False),  # nothing proves it
        ("0-1-12", "not a set", False),  # unreadable: the safe side
        ("junk", "0-1-11", False),
        (f"{UUID}:8", f"{UUID}:1-7", True),  # MySQL
        (f"{UUID}:7", f"{UUID}:1-7", False),
    ],
)  # fmt: skip
def test_a_window_reaches_back_to_commits_waiting_for_their_ack(
    tmp_path: Path, gtid: str, unacked_after: str | None, held: bool
) -> None:
    """Before ``start``, a window holds what the semi-sync counters prove was still
    waiting for its acknowledgement when the gate shut (``gate.acks``): the transactions
    the proving probe had not seen, of the same file, before the window's end."""
    binlog = tmp_path / "mysql-bin.000003"
    binlog.write_bytes(b"x" * 1000)
    window = replace(at(binlog, 400, 900), unacked_after=unacked_after)
    assert window.holds("mysql-bin.000003", 120, gtid) is held
    assert not window.holds("mysql-bin.000002", 120, gtid), "another file"
    assert not window.holds("mysql-bin.000003", 900, gtid), "after the gate opened"
    binlog.unlink()
    binlog.write_bytes(b"y" * 1000)
    assert not window.holds("mysql-bin.000003", 120, gtid), "the file replaced"


class Growing(Windows):
    """Windows over one binary log that the test makes grow (no server process)."""

    def __init__(self, tmp_path: Path) -> None:
        super().__init__(tmp_path)
        self.binlog = tmp_path / "mysql-bin.000001"
        self.binlog.write_bytes(b"x" * 100)

    def open(self, pid: int, base: str, unacked_after: str | None = None) -> Window | None:
        window = replace(at(self.binlog, self.binlog.stat().st_size), unacked_after=unacked_after)
        self._save([*self.closed(), window])
        return window

    def grow(self, n: int) -> None:
        with self.binlog.open("ab") as f:
            f.write(b"x" * n)


def recorder(
    windows: Windows, told: list[Window] | None = None, proven: str | None = None
) -> Recorder:
    sink: list[Window] = [] if told is None else told
    return Recorder(windows, lambda: "/var/lib/mysql/mysql-bin", sink.append, lambda _at: proven)


def test_a_window_runs_from_the_shut_to_the_opening(tmp_path: Path) -> None:
    windows, told = Growing(tmp_path), list[Window]()
    rec = recorder(windows, told)
    rec.opened(pid=1, shut=1, at=5.0)
    windows.grow(50)  # the thawed server's in-doubt commit
    rec.opened(pid=1, shut=1, at=5.0)  # the same shut again: the window stays
    rec.closing()
    windows.grow(50)  # read-only, the gate open: not in the window
    assert windows.load() == [at(windows.binlog, 100, 150)]
    assert len(told) == 1


def test_a_window_keeps_what_the_counters_proved_at_the_shut(tmp_path: Path) -> None:
    windows = Growing(tmp_path)
    rec = recorder(windows, proven="0-1-11")
    rec.opened(pid=1, shut=1, at=5.0)
    rec.closing()
    assert windows.load() == [replace(at(windows.binlog, 100, 100), unacked_after="0-1-11")]


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
    Recorder(windows, lambda: None).opened(pid=1, shut=1, at=5.0)
    assert windows.load() == []


def test_a_file_that_cannot_be_written_drops_the_windows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    windows = Growing(tmp_path)
    rec = recorder(windows)
    rec.opened(pid=1, shut=1, at=5.0)

    def fail(_windows: list[Window]) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(windows, "_save", fail)
    rec.closing()
    assert not windows.path.exists(), "an open window that could not be closed"


def test_a_window_whose_file_was_replaced_is_dropped_at_the_close(tmp_path: Path) -> None:
    windows = Growing(tmp_path)
    rec = recorder(windows)
    rec.opened(pid=1, shut=1, at=5.0)
    windows.binlog.unlink()
    windows.binlog.write_bytes(b"y" * 500)
    rec.closing()
    assert windows.load() == []
