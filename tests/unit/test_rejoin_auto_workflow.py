"""Issue 12 item 3, the workflow: ``[rejoin] auto = "safe"`` re-applies only when every
lost transaction is ``safe``; anything else is refused before any change, with the report
kept (a conflict never resolves itself), and the re-apply step itself never discards a
transaction that turned into a conflict meanwhile."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dualbeat.errors import RefusedError
from dualbeat.mysql import lookup
from dualbeat.ops import rejoin as ops
from dualbeat.rejoin import reapply
from dualbeat.rejoin import resolve as resolving
from dualbeat.rejoin.report import Conflict
from dualbeat.rejoin.resolve import Resolution
from tests.unit.test_rejoin_reapply import ROW, TABLE, analysis, change, txn

LOST = analysis(
    txn("1-1-5", change("insert", after=ROW)),
    txn("1-1-6", change("update", Conflict.CHANGED, before=ROW, after=ROW)),
)
SAFE = analysis(txn("1-1-5", change("insert", after=ROW)))


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
    with pytest.raises(RefusedError, match=r"1 of 2 lost transaction\(s\) are not all safe"):
        ops.auto_reapply(object(), "db1")  # type: ignore[arg-type]
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
    done = ops.auto_reapply(object(), "db1")  # type: ignore[arg-type]
    assert asked["mode"] == "reapply" and asked["all_or_nothing"] is True
    assert "include" not in asked or asked["include"] is False
    assert done.startswith("re-applied 0 safe transaction(s) on db2")


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
