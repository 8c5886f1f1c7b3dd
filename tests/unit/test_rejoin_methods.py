"""``rejoin --method flashback|dump|backup`` (issue 12 item 5): the automatic choice and its
one-line reason, when a flashback is refused, which rows it checks to know whether it
already ran, the one-transaction revert script, the journal a resumed rejoin reads, the
``[rejoin]`` commands, and the backup's datadir swap from any point it stopped at."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from dualbeat.config.rejoin import Rejoin
from dualbeat.errors import RefusedError
from dualbeat.rejoin import backup, flashback, journal
from dualbeat.rejoin.method import FLASHBACK_MAX_ROWS, Facts, Method, choose
from dualbeat.rejoin.report import Analysis, Conflict, LostTransaction, RowChange

MIB = 1 << 20


def facts(**kw: Any) -> Facts:
    base: dict[str, Any] = {
        "flashback_refusal": None,
        "backup_refusal": None,
        "rows": 10,
        "data_bytes": 10 * MIB,
        "backup_above": 1024 * MIB,
    }
    return Facts(**{**base, **kw})


# --- the choice -----------------------------------------------------------------------------


def test_auto_flashes_back_a_few_row_changes() -> None:
    choice = choose(None, facts())
    assert choice.method is Method.FLASHBACK and not choice.requested
    assert choice.why.startswith("flashback: 10 lost row change(s)")


def test_auto_prefers_a_backup_for_large_data_when_no_flashback() -> None:
    choice = choose(None, facts(flashback_refusal="t has no primary key", data_bytes=2048 * MIB))
    assert choice.method is Method.BACKUP
    assert "2048 MiB" in choice.why and "t has no primary key" in choice.why


def test_auto_dumps_small_data_or_without_backup_commands() -> None:
    too_many = FLASHBACK_MAX_ROWS + 1
    small = choose(None, facts(rows=too_many))
    assert small.method is Method.DUMP and f"{too_many} row changes" in small.why
    unconfigured = choose(
        None, facts(rows=too_many, data_bytes=4096 * MIB, backup_refusal="not configured")
    )
    assert unconfigured.method is Method.DUMP and "not configured" in unconfigured.why


def test_a_requested_method_is_used_or_refused_with_its_reason() -> None:
    assert choose(Method.DUMP, facts(flashback_refusal="x", backup_refusal="y")).requested
    assert choose(Method.BACKUP, facts()).method is Method.BACKUP
    with pytest.raises(RefusedError, match="--method flashback is not possible: DDL"):
        choose(Method.FLASHBACK, facts(flashback_refusal="DDL"))
    with pytest.raises(RefusedError, match="not configured"):
        choose(Method.BACKUP, facts(backup_refusal="not configured"))


def test_an_interrupted_rejoin_is_finished_with_its_own_method() -> None:
    resumed = choose(None, facts(resuming=Method.BACKUP, backup_refusal="gone"))
    assert resumed.method is Method.BACKUP and "resuming" in resumed.why
    assert choose(Method.BACKUP, facts(resuming=Method.BACKUP)).method is Method.BACKUP
    with pytest.raises(RefusedError, match="interrupted rejoin of this node used --method dump"):
        choose(Method.FLASHBACK, facts(resuming=Method.DUMP))


# --- when a flashback is possible --------------------------------------------------------------

T = "app.t"
TABLES: dict[str, dict[str, Any]] = {
    T: {"columns": [{"name": "id"}, {"name": "v"}], "primary_key": ["id"], "note": ""}
}


def row(kind: str, before: dict[str, Any] | None, after: dict[str, Any] | None) -> RowChange:
    return RowChange(T, kind, None, before, after, Conflict.SAFE)


def txn(gtid: str, *rows: RowChange, complete: bool = True) -> LostTransaction:
    return LostTransaction(gtid, 1, 0.0, "mysql-bin.000002", 400, complete, (), rows)


def lost(*txns: LostTransaction, **kw: Any) -> Analysis:
    fields: dict[str, Any] = {
        "cluster": "c",
        "node": "db1",
        "active": "db2",
        "flavor": "mariadb",
        "created_at": 0.0,
        "origin": "1",
        "node_executed": "1-1-12,2-2-5,9000-1-7",
        "active_executed": "1-1-10,2-2-9,9000-1-6,9001-2-3",
        "missing": "1-1-11..12",
        "missing_count": len(txns),
        "tables": TABLES,
        "transactions": txns,
    }
    return Analysis(**{**fields, **kw})


A = {"id": 1, "v": "a"}
B = {"id": 1, "v": "b"}
TWO = (txn("1-1-11", row("insert", None, A)), txn("1-1-12", row("update", A, B)))


def test_row_changes_with_full_images_and_keys_as_the_tail_can_be_flashed_back() -> None:
    assert flashback.refusal(lost(*TWO)) is None
    # The last position both hold: NODE's history without its tail, internal domains too.
    assert flashback.common_position(lost(*TWO)) == "1-1-10,2-2-5,9000-1-6"


@pytest.mark.parametrize(
    ("analysis", "reason"),
    [
        (lost(*TWO, flavor="mysql"), "needs MariaDB"),
        (lost(*TWO, other_missing="3-3-1"), "did not write"),
        (lost(*TWO, unread="1-1-11"), "no binary log"),
        (lost(txn("1-1-11", row("insert", None, A), complete=False)), "partly"),
        (lost(txn("1-1-11")), "DDL or statement-logged"),
        (lost(*TWO, tables={T: {**TABLES[T], "primary_key": []}}), "no primary key"),
        (lost(txn("1-1-11", row("insert", None, {"id": 1, "@2": "a"}))), "not full"),
        (lost(txn("1-1-11", row("insert", None, {"id": 1}))), "not full"),
        (lost(*TWO, missing="1-1-9..10"), "not the newest"),
    ],
)
def test_a_flashback_is_refused_with_the_reason(analysis: Analysis, reason: str) -> None:
    assert reason in (flashback.refusal(analysis) or "")


def test_the_rows_say_whether_the_revert_ran() -> None:
    """Inserted then updated key 1, deleted key 2, key 3 moved to key 4."""
    c = {"id": 2, "v": "c"}
    d, e = {"id": 3, "v": "d"}, {"id": 4, "v": "d"}
    analysis = lost(
        *TWO,
        txn("1-1-13", row("delete", c, None), row("update", d, e)),
        node_executed="1-1-13",
        missing="1-1-11..13",
    )
    touched = {t.key["id"]: (t.original, t.final) for t in flashback.touched_rows(analysis)}
    assert touched == {1: (None, B), 2: (c, None), 3: (d, None), 4: (None, e)}
    rows = flashback.touched_rows(analysis)
    pending = {1: B, 2: None, 3: None, 4: e}
    reverted = {1: None, 2: c, 3: d, 4: None}
    state = flashback.row_state
    assert state(rows, lambda t: pending[t.key["id"]]) is flashback.RowState.PENDING
    assert state(rows, lambda t: reverted[t.key["id"]]) is flashback.RowState.REVERTED
    half = {**reverted, 1: A}  # someone else wrote key 1
    assert state(rows, lambda t: half[t.key["id"]]) is flashback.RowState.MIXED


FLASHBACK_OUTPUT = """\
DELIMITER /*!*/;
ROLLBACK/*!*/;
BINLOG 'fd'/*!*/;
START TRANSACTION/*!*/;
BINLOG 'second reverted'/*!*/;
COMMIT
/*!*/;
START TRANSACTION/*!*/;
BINLOG 'first reverted'/*!*/;
COMMIT
/*!*/;
COMMIT
/*!*/;
DELIMITER ;
ROLLBACK /* added by mysqlbinlog */;
"""


def test_the_revert_is_one_unlogged_transaction() -> None:
    text, count = flashback.one_transaction(FLASHBACK_OUTPUT)
    assert count == 2
    assert text.startswith("SET SESSION sql_log_bin = 0;\n")
    body = text.split("\n")
    start, end = body.index("START TRANSACTION/*!*/;"), body.index("COMMIT")
    assert body.count("START TRANSACTION/*!*/;") == 1 and body.count("COMMIT") == 1
    assert start < body.index("BINLOG 'second reverted'/*!*/;") < end
    assert body.index("BINLOG 'first reverted'/*!*/;") < end < body.index("DELIMITER ;")


# --- journal, configuration, swap --------------------------------------------------------------


def test_the_journal_survives_a_restart_and_goes_when_done(tmp_path: Path) -> None:
    assert journal.load(tmp_path) is None
    j = journal.write(tmp_path, journal.Journal(Method.BACKUP, "discard", "20260101T000000Z"))
    j = journal.write(tmp_path, j.but(position="1-1-5", swapped=True))
    assert journal.load(tmp_path) == j and j.method is Method.BACKUP
    assert (tmp_path / "in-progress.json").stat().st_mode & 0o777 == 0o600
    journal.clear(tmp_path)
    assert journal.load(tmp_path) is None


def test_the_backup_commands_are_checked_at_load() -> None:
    assert Rejoin().backup_missing() == [
        "[rejoin] backup_command",
        "[rejoin] server_stop_command",
        "[rejoin] server_start_command",
    ]
    r = Rejoin(
        backup_command="ssh {active_host} mariadb-backup --backup | mbstream -x -C {target}",
        server_stop_command="systemctl stop 'mariadb@{node}'",
        server_start_command="systemctl start mariadb",
    )
    assert not r.backup_missing()
    assert r.server_argv("stop", "db1") == ["systemctl", "stop", "mariadb@db1"]
    shell = r.backup_shell(active_host="h", target="/x y", active="a", node="n", active_port="1")
    assert shell == "ssh h mariadb-backup --backup | mbstream -x -C '/x y'"
    with pytest.raises(ValueError, match=r"unknown placeholder\(s\) \{host\}"):
        Rejoin(backup_command="ssh {host}")
    with pytest.raises(ValueError, match="cannot split"):
        Rejoin(server_start_command="start 'db")


def datadirs(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    target, _ = backup.paths(data)
    for d, files in ((data, ("ibdata1", "master.info", "bin.000001", "bin.index")),
                     (target, ("ibdata1", "aria_log.00000001"))):  # fmt: skip
        d.mkdir()
        for f in files:
            (d / f).write_text(f"{d.name}:{f}")
    return data


def test_the_swap_finishes_from_any_point_and_keeps_the_nodes_own_files(tmp_path: Path) -> None:
    data = datadirs(tmp_path)
    target, old = backup.paths(data)
    data.rename(old)  # a run killed between the two renames
    backup.finish_swap(data, "bin")
    backup.finish_swap(data, "bin")  # again: nothing left to do
    assert not target.exists()
    assert (data / "ibdata1").read_text() == "data.dualbeat-backup:ibdata1"
    assert (data / "master.info").read_text() == "data:master.info"
    assert (data / "bin.000001").exists() and (data / "bin.index").exists()
    assert (old / "ibdata1").read_text() == "data:ibdata1"
    backup.discard_old(data)
    assert not old.exists()


def test_a_swap_not_begun_moves_the_data_aside_first(tmp_path: Path) -> None:
    data = datadirs(tmp_path)
    backup.finish_swap(data, None)
    assert (data / "aria_log.00000001").exists() and not (data / "bin.000001").exists()
    assert (backup.paths(data)[1] / "bin.000001").exists()


def test_the_agent_looks_for_the_journal_where_the_rejoin_writes_it(tmp_path: Path) -> None:
    from dualbeat.agent.observers import REJOIN_JOURNAL

    assert journal.path(tmp_path / "rejoin") == tmp_path.joinpath(*REJOIN_JOURNAL)


class _Server:
    name = "db1"


def resync_for(tmp_path: Path, analysis: Analysis, log: journal.Journal) -> Any:
    from dualbeat.rejoin.resync import Resync

    return Resync(
        object(),  # type: ignore[arg-type]
        _Server(),  # type: ignore[arg-type]
        _Server(),  # type: ignore[arg-type]
        analysis,
        tmp_path,
        log,
        lambda _m: None,
        lambda _d, _t: None,
        tmp_path / "revert.sql",
    )


@pytest.mark.parametrize(
    ("state", "reverts"),
    [(flashback.RowState.PENDING, 1), (flashback.RowState.REVERTED, 0)],
)
def test_a_flashback_runs_once_whatever_run_gets_there(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, state: flashback.RowState, reverts: int
) -> None:
    """The journal holds the position before the revert; the rows decide whether to revert."""
    applied: list[Path] = []
    monkeypatch.setattr(flashback, "node_row_state", lambda *_a: state)
    monkeypatch.setattr(flashback, "revert", lambda _s, path, timeout: applied.append(path))
    work = resync_for(tmp_path, lost(*TWO), journal.Journal(Method.FLASHBACK, "discard", "s"))
    assert work.run() == "1-1-10,2-2-5,9000-1-6"
    assert len(applied) == reverts
    assert journal.load(tmp_path) == work.log and work.log.position == "1-1-10,2-2-5,9000-1-6"


def test_a_flashback_over_rows_someone_else_changed_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(flashback, "node_row_state", lambda *_a: flashback.RowState.MIXED)
    monkeypatch.setattr(flashback, "revert", lambda *_a, **_k: pytest.fail("reverted"))
    work = resync_for(tmp_path, lost(*TWO), journal.Journal(Method.FLASHBACK, "discard", "s"))
    with pytest.raises(RefusedError, match="something else changed them"):
        work.run()


def test_a_resumed_flashback_after_the_history_restart_reuses_the_recorded_position(
    tmp_path: Path,
) -> None:
    """NODE's history was already restarted: nothing is lost any more, and the position
    is the one recorded, not one recomputed from the reset server."""
    log = journal.Journal(Method.FLASHBACK, "discard", "s", position="1-1-10,2-2-5")
    work = resync_for(tmp_path, lost(missing="", node_executed="1-1-10"), log)
    assert work.run() == "1-1-10,2-2-5"


def test_the_automatic_rejoin_never_picks_the_backup(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The agent's own rejoin ([rejoin] auto = "safe") would stop the server it watches."""
    from dualbeat.rejoin import rebuild, resync

    monkeypatch.setattr(rebuild, "data_size", lambda _s: 1 << 40)
    many = lost(txn("1-1-11", *(row("insert", None, {"id": i, "v": "a"}) for i in range(20_000))))
    config = SimpleNamespace(rejoin=Rejoin(backup_above_mb=0))
    monkeypatch.setattr(flashback, "script", lambda *_a: tmp_path / "r.sql")
    choice, _script = resync.plan(
        config,  # type: ignore[arg-type]
        _Server(),  # type: ignore[arg-type]
        many, [], tmp_path / "r.sql", None, None, 1.0, automatic=True,
    )  # fmt: skip
    assert choice.method is Method.DUMP
    assert "an automatic rejoin never stops a server" in choice.why


def test_a_resumed_backup_finishes_a_half_swap_and_starts_the_server(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    data = datadirs(tmp_path)
    data.rename(backup.paths(data)[1])  # killed between the two renames, server down
    started: list[str] = []
    monkeypatch.setattr(backup, "_answers", lambda _e: False)
    monkeypatch.setattr(backup, "start_server", lambda _c, node, _e, _s: started.append(node))
    log = journal.Journal(
        Method.BACKUP, "discard", "s", "1-1-5", str(data), "bin", server_stopped=True
    )
    now = backup.resume(object(), "db1", object(), log, lambda _m: None)  # type: ignore[arg-type]
    assert now.swapped and started == ["db1"] and (data / "bin.000001").exists()
