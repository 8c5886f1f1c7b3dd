"""Conflict classes, decided against a fake active (a dict), and the report's JSON."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from rich.console import Console

from dualbeat.cli import cli
from dualbeat.config import load
from dualbeat.rejoin.analysis import save
from dualbeat.rejoin.render import render_analysis
from dualbeat.rejoin.report import (
    Analysis,
    Classifier,
    Conflict,
    LostTransaction,
    RowChange,
    same_row,
)
from tests.unit.test_config import BASE

T = "app.t"


class Active:
    """The active's rows by (table, key); counts lookups."""

    def __init__(self, rows: Mapping[int, dict[str, Any]]) -> None:
        self.rows = {(T, json.dumps({"id": k})): v for k, v in rows.items()}
        self.calls: list[Mapping[str, Any]] = []

    def __call__(self, table: str, key: Mapping[str, Any]) -> dict[str, Any] | None:
        self.calls.append(dict(key))
        return self.rows.get((table, json.dumps(dict(key))))


def row(i: int, v: str) -> dict[str, Any]:
    return {"id": i, "v": v}


def k(i: int) -> dict[str, Any]:
    return {"id": i}


@pytest.fixture
def active() -> Active:
    return Active({1: row(1, "orig"), 2: row(2, "changed on the active"), 5: row(5, "x")})


def test_insert_on_a_free_key_is_safe_and_on_a_taken_key_conflicts(active: Active) -> None:
    c = Classifier(active)
    assert c.classify("g1", T, "insert", None, k(9), None).conflict is Conflict.SAFE
    taken = c.classify("g2", T, "insert", None, k(5), None)
    assert taken.conflict is Conflict.KEY_TAKEN and taken.active_row == row(5, "x")


@pytest.mark.parametrize("kind", ["update", "delete"])
def test_update_and_delete_compare_the_before_image(active: Active, kind: str) -> None:
    c = Classifier(active)
    assert c.classify("g1", T, kind, k(1), k(1), row(1, "orig")).conflict is Conflict.SAFE
    changed = c.classify("g2", T, kind, k(2), k(2), row(2, "orig"))
    assert changed.conflict is Conflict.CHANGED
    assert changed.active_row == row(2, "changed on the active")
    assert c.classify("g3", T, kind, k(7), k(7), row(7, "orig")).conflict is Conflict.MISSING


def test_uncomparable_columns_never_decide() -> None:
    image = {"id": 1, "u": {"raw": "'\\x12>Eg'"}, "v": "a"}
    assert same_row(image, {"id": 1, "u": {"raw": "123E4567"}, "v": "a"})
    assert not same_row(image, {"id": 1, "u": {"raw": "123E4567"}, "v": "b"})
    assert not same_row(image, {"id": 1})  # a column the active lacks


def test_later_changes_of_the_same_row_follow_the_first(active: Active) -> None:
    c = Classifier(active)
    first = c.classify("g1", T, "insert", None, k(9), None)
    then = c.classify("g2", T, "update", k(9), k(9), row(9, "new"))
    gone = c.classify("g3", T, "delete", k(9), None, row(9, "newer"))
    assert first.conflict is then.conflict is gone.conflict is Conflict.SAFE
    assert then.follows == gone.follows == "g1"
    assert active.calls == [k(9)]  # the row was looked up once


def test_a_chain_starting_with_a_conflict_stays_a_conflict(active: Active) -> None:
    c = Classifier(active)
    assert c.classify("g1", T, "delete", k(2), None, row(2, "orig")).conflict is Conflict.CHANGED
    again = c.classify("g2", T, "insert", None, k(2), None)  # re-inserted after the delete
    assert again.conflict is Conflict.CHANGED and again.follows == "g1"


def test_an_update_moving_the_key_needs_the_new_key_free(active: Active) -> None:
    c = Classifier(active)
    moved = c.classify("g1", T, "update", k(1), k(5), row(1, "orig"))
    assert moved.conflict is Conflict.KEY_TAKEN and moved.active_row == row(5, "x")
    free = Classifier(active).classify("g1", T, "update", k(1), k(8), row(1, "orig"))
    assert free.conflict is Conflict.SAFE


def sample() -> Analysis:
    rows = (
        RowChange(T, "insert", k(9), None, row(9, "a"), Conflict.SAFE),
        RowChange(T, "update", k(2), row(2, "orig"), row(2, "b"), Conflict.CHANGED,
                  row(2, "changed on the active")),
    )  # fmt: skip
    return Analysis(
        cluster="c",
        node="db1",
        active="db2",
        flavor="mariadb",
        created_at=1762160761.5,
        origin="1",
        node_executed="1-1-12,2-2-5",
        active_executed="1-1-10,2-2-7",
        missing="1-1-11..12",
        missing_count=2,
        binlog_files=("mysql-bin.000001",),
        takeover={"epoch": 2, "new_active": "db2", "old_active": "db1", "reason": "peer_dead"},
        tables={T: {"columns": [], "primary_key": ["id"], "note": ""}},
        transactions=(
            LostTransaction(
                "1-1-11",
                1,
                1762160760.25,
                "mysql-bin.000001",
                400,
                True,
                ("INSERT ...", "UPDATE ..."),
                rows,
            ),
            LostTransaction("1-1-12", 1, None, "mysql-bin.000001", 900, True, ("ALTER ...",)),
        ),
        warnings=("a warning",),
    )


def test_report_json_round_trip_and_summary() -> None:
    a = sample()
    data = json.loads(json.dumps(a.to_json()))
    assert data["kind"] == "dualbeat.rejoin.analysis" and data["version"] == 1
    assert data["created"] == "2025-11-03T09:06:01.500000Z"
    assert data["summary"] == {
        "transactions": 2,
        "rows": 2,
        "statements": 1,
        "classes": {"safe": 1, "conflict_changed": 1, "conflict_key_taken": 0,
                    "conflict_missing": 0, "unclassified": 0},
    }  # fmt: skip
    first, ddl = data["transactions"]
    assert first["classes"] == ["safe", "conflict_changed"] and first["tables"] == [T]
    assert first["rows"][1]["class"] == "conflict_changed"
    assert ddl["classes"] == ["unclassified"] and ddl["time"] is None
    assert Analysis.from_json(data) == a


def test_a_report_of_another_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="not a version-1 rejoin analysis"):
        Analysis.from_json({"kind": "something else", "version": 1})


def test_rendering_shows_the_conflict_and_what_the_active_holds() -> None:
    console = Console(record=True, width=200)
    console.print(render_analysis(sample()))
    text = console.export_text()
    assert "db1 wrote, db2 lacks  2 transaction(s): 1-1-11..12" in text
    assert 'active has v: "orig" -> "changed on the active"' in text
    assert "ALTER ..." in text and "warning: a warning" in text
    nothing = Analysis("c", "db1", "db2", "mariadb", 0.0, "1", "", "", "", 0)
    console = Console(record=True, width=120)
    console.print(render_analysis(nothing))
    assert "db1 holds nothing of its own that db2 lacks" in console.export_text()


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    key = tmp_path / "hb.key"
    key.write_bytes(os.urandom(32))
    key.chmod(0o600)
    pw = tmp_path / "mysql.pass"
    pw.write_text("pw\n")
    pw.chmod(0o600)
    text = BASE.format(dir=tmp_path) + f'\n[state]\ndir = "{tmp_path / "state"}"\n'
    path = tmp_path / "dualbeat.toml"
    path.write_text(text)
    return path


def test_reports_are_saved_under_the_nodes_state_dir_never_overwritten(
    config_file: Path,
) -> None:
    config = load(config_file)
    first, second = save(sample(), config), save(sample(), config)
    assert first.parent == config.state_dir("db1") / "rejoin"
    assert first.name == "20251103T090601Z-analysis.json"
    assert second.name == "20251103T090601Z-2-analysis.json"
    assert first.stat().st_mode & 0o777 == 0o600
    assert Analysis.from_json(json.loads(first.read_text())) == sample()


def test_the_command_needs_a_mode(config_file: Path) -> None:
    result = CliRunner().invoke(cli, ["rejoin", "db1", "-c", str(config_file)])
    assert result.exit_code == 2 and "--analyze" in result.output
    unknown = CliRunner().invoke(cli, ["rejoin", "db9", "--analyze", "-c", str(config_file)])
    assert unknown.exit_code == 2 and "no node named 'db9'" in unknown.output
