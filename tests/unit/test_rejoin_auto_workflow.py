"""Issue 12 item 3, the workflow (``ops.rejoin.auto_resolve``): transactions all committed
while the client gate was shut (``gate.window``) are discarded, whatever ``[rejoin] auto``
(but ``off``); otherwise ``auto = "safe"`` re-applies only when every lost transaction is
``safe``. Anything else is refused before any change (``RefusedUntouched``), with the
report kept (a conflict never resolves itself), and the re-apply step itself never
discards a transaction that turned into a conflict meanwhile."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from dualbeat.core.state import RejoinAuto
from dualbeat.errors import RefusedError, RefusedUntouched
from dualbeat.gate.window import Window, Windows, file_identity
from dualbeat.mysql import lookup
from dualbeat.ops import rejoin as ops
from dualbeat.rejoin import reapply
from dualbeat.rejoin import resolve as resolving
from dualbeat.rejoin.report import Analysis, Conflict
from dualbeat.rejoin.resolve import Resolution
from tests.unit.test_rejoin_reapply import ROW, TABLE, analysis, change, txn

LOST = analysis(
    txn("1-1-5", change("insert", after=ROW)),
    txn("1-1-6", change("update", Conflict.CHANGED, before=ROW, after=ROW)),
)
SAFE = analysis(txn("1-1-5", change("insert", after=ROW)))


class _Config:
    """What ``auto_resolve`` reads of the configuration itself."""

    def __init__(self, state_dir: Path, auto: RejoinAuto) -> None:
        self.rejoin = SimpleNamespace(auto=auto)
        self._state_dir = state_dir

    def state_dir(self, _node: str) -> Path:
        return self._state_dir


def config(tmp_path: Path, auto: RejoinAuto = RejoinAuto.SAFE) -> Any:
    return _Config(tmp_path, auto)


def in_window(
    tmp_path: Path, lost: Analysis, start: int = 400, unacked_after: str | None = None
) -> Analysis:
    """``lost`` with its transactions from position 400 on in a binary log of
    ``tmp_path`` that a closed window covers from ``start`` to its end."""
    binlog = tmp_path / "mysql-bin.000003"
    binlog.write_bytes(b"x" * 1000)
    identity = file_identity(str(binlog)) or ""
    Windows(tmp_path)._save([Window(str(binlog), identity, start, 1000, unacked_after)])
    moved = tuple(
        replace(t, binlog_file=binlog.name, position=400 + 100 * i)
        for i, t in enumerate(lost.transactions)
    )
    return replace(lost, transactions=moved)


def test_a_conflict_is_refused_before_anything_changes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    kept: list[Any] = []

    def keep(_config: object, lost: Any, _progress: object = None) -> Path:
        kept.append(lost)
        return tmp_path / "r"

    monkeypatch.setattr(ops, "analyze", lambda *_a, **_k: LOST)
    monkeypatch.setattr(ops, "keep", keep)
    monkeypatch.setattr(ops, "resolve", lambda *_a, **_k: pytest.fail("resolve ran"))
    with pytest.raises(RefusedUntouched, match=r"1 of 2 lost transaction\(s\) are not all safe"):
        ops.auto_resolve(config(tmp_path), "db1")
    assert kept == [LOST], "the report is kept for the operator"


def test_all_safe_runs_the_reapply_all_or_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    asked: dict[str, Any] = {}

    def resolve(_config: object, node: str, **kwargs: Any) -> Resolution:
        asked.update(kwargs, node=node)
        return Resolution(node, "db2", "reapply", SAFE, tmp_path / "a.json")

    monkeypatch.setattr(ops, "analyze", lambda *_a, **_k: SAFE)
    monkeypatch.setattr(ops, "keep", lambda *_a, **_k: tmp_path / "r")
    monkeypatch.setattr(ops, "record_report", lambda *_a, **_k: None)
    monkeypatch.setattr(ops, "resolve", resolve)
    done = ops.auto_resolve(config(tmp_path), "db1")
    assert asked["mode"] == "reapply" and asked["all_or_nothing"] is True
    assert "include" not in asked or asked["include"] is False
    assert done.startswith("re-applied 0 safe transaction(s) on db2")


def test_internal_refuses_writes_made_while_clients_could_reach_the_server(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(ops, "analyze", lambda *_a, **_k: SAFE)  # safe, but not in a window
    monkeypatch.setattr(ops, "keep", lambda *_a, **_k: tmp_path / "r")
    monkeypatch.setattr(ops, "resolve", lambda *_a, **_k: pytest.fail("resolve ran"))
    with pytest.raises(RefusedUntouched, match="may have been acknowledged to a client"):
        ops.auto_resolve(config(tmp_path, RejoinAuto.INTERNAL), "db1")


@pytest.mark.parametrize("auto", [RejoinAuto.INTERNAL, RejoinAuto.SAFE])
def test_commits_made_while_the_gate_was_shut_are_discarded(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, auto: RejoinAuto
) -> None:
    """Even conflicting ones: no client was acknowledged them (the in-doubt statement of a
    frozen server that thawed), and the active's history is the pair's."""
    lost = in_window(tmp_path, LOST)
    asked: dict[str, Any] = {}

    def resolve(_config: object, node: str, **kwargs: Any) -> Resolution:
        asked.update(kwargs, node=node)
        kwargs["guard"](lost)  # the fresh analysis, under the lock: still all in the window
        early = replace(lost.transactions[0], position=100)  # before the gate shut
        outside = replace(lost, transactions=(early, *lost.transactions[1:]))
        with pytest.raises(RefusedUntouched, match="may have been acknowledged to a client"):
            kwargs["guard"](outside)
        return Resolution(node, "db2", "discard", lost, tmp_path / "a.json")

    monkeypatch.setattr(ops, "analyze", lambda *_a, **_k: lost)
    monkeypatch.setattr(ops, "keep", lambda *_a, **_k: tmp_path / "r")
    monkeypatch.setattr(ops, "record_report", lambda *_a, **_k: None)
    monkeypatch.setattr(ops, "resolve", resolve)
    done = ops.auto_resolve(config(tmp_path, auto), "db1")
    assert asked["mode"] == "discard" and asked["all_or_nothing"] is True
    assert done.startswith("discarded 2 transaction(s) acknowledged to no client")


def test_commits_waiting_for_their_ack_when_the_gate_shut_count_as_in_the_window(
    tmp_path: Path,
) -> None:
    """Written before the shut, but after the probe that proves they were still waiting
    for semi-sync's acknowledgement when it shut (``gate.acks``): the window claims
    them; the ones that probe had seen, it does not."""
    gtids = [t.gtid for t in SAFE.transactions]
    windows = Windows(tmp_path)
    lost = in_window(tmp_path, SAFE, start=900, unacked_after="0-1-9")
    assert ops.outside_windows(lost, windows) is None, gtids
    lost = in_window(tmp_path, SAFE, start=900, unacked_after=gtids[0])
    assert "may have been acknowledged" in (ops.outside_windows(lost, windows) or "")
    lost = in_window(tmp_path, SAFE, start=900)
    assert "may have been acknowledged" in (ops.outside_windows(lost, windows) or "")


def test_a_window_counts_only_whole_transactions_found_in_the_logs(tmp_path: Path) -> None:
    lost = in_window(tmp_path, SAFE)
    windows = Windows(tmp_path)
    assert ops.outside_windows(lost, windows) is None
    torn = replace(lost, transactions=(replace(lost.transactions[0], complete=False),))
    assert "not whole" in (ops.outside_windows(torn, windows) or "")
    unread = replace(lost, unread="1-1-9")
    assert "not found" in (ops.outside_windows(unread, windows) or "")
    nothing = replace(lost, missing_count=0, transactions=())
    assert "no lost transaction" in (ops.outside_windows(nothing, windows) or "")


class _Active:
    name = "db2"


def test_the_reapply_step_refuses_instead_of_discarding(monkeypatch: pytest.MonkeyPatch) -> None:
    applied: list[Any] = []

    def apply(*args: Any) -> list[Any]:
        applied.append(args)
        return []

    monkeypatch.setattr(lookup, "describe", lambda *_a: TABLE)
    monkeypatch.setattr(reapply, "apply", apply)
    result = Resolution("db1", "db2", "reapply", LOST, Path("a.json"))
    with pytest.raises(RefusedError, match="cannot be re-applied safely"):
        resolving._reapply(
            _Active(),  # type: ignore[arg-type]
            LOST,
            False,
            result,
            print,
            marker=("20260101T000000Z", 9001),
            before_changes=lambda: pytest.fail("a change was about to be made"),
            all_or_nothing=True,
        )
    assert applied == []
