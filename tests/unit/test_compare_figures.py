"""Pure parts of the side-by-side benchmark and the soak: sampled overlap, aggregation,
ratios, the markdown table, keepalived's generated files, /proc parsing (no lab)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dualbeat_lab.errors import SandboxError
from dualbeat_lab.sandbox.disturb import Disturbance
from dualbeat_lab.sandbox.figures import (
    RunResult,
    Sample,
    aggregate,
    markdown_table,
    overlap_seconds,
    ratio,
    ratios,
    summary,
)
from dualbeat_lab.sandbox.keepalived import (
    TUNED,
    Files,
    Timings,
    render_check,
    render_config,
    render_notify,
)
from dualbeat_lab.sandbox.soak import ProcSample, parse_stat, usage


def s(ts: float, node: str, value: bool, kind: str = "vip") -> Sample:
    return Sample(ts, node, kind, value)


# --- overlap of sampled states -----------------------------------------------------------


def test_overlap_counts_only_time_when_both_nodes_hold() -> None:
    samples = [
        s(0.0, "db1", True),
        s(0.05, "db2", False),
        s(1.0, "db2", True),  # both from 1.0 ...
        s(1.5, "db1", True),
        s(2.0, "db1", False),  # ... to 2.0
        s(3.0, "db2", True),
    ]
    assert overlap_seconds(samples, "vip") == pytest.approx(1.0)


def test_overlap_ignores_other_kinds_and_a_single_node() -> None:
    samples = [s(0.0, "db1", True), s(1.0, "db1", True), s(0.5, "db2", True, kind="writable")]
    assert overlap_seconds(samples, "vip") == 0.0
    assert overlap_seconds(samples, "writable") == 0.0


def test_overlap_before_a_nodes_first_sample_is_not_counted() -> None:
    samples = [s(0.0, "db1", True), s(5.0, "db2", True), s(6.0, "db1", True)]
    assert overlap_seconds(samples, "vip") == pytest.approx(1.0)


def test_overlap_is_independent_of_input_order() -> None:
    samples = [s(2.0, "db1", False), s(0.0, "db1", True), s(1.0, "db2", True), s(3.0, "db2", True)]
    assert overlap_seconds(samples, "vip") == pytest.approx(1.0)


# --- aggregation, ratios, table -------------------------------------------------------------


def result(stack: str, scenario: str, run: int, rto: float | None, **kw: object) -> RunResult:
    base: dict[str, object] = {
        "stack": stack, "scenario": scenario, "run": run, "rto_s": rto,
        "longest_gap_s": None if rto is None else rto + 0.01, "acked_lost": 0,
        "two_vip_holders_s": 0.0, "two_writable_s": 0.0, "checksum_equal": True,
        "differing_rows": 0,
    }  # fmt: skip
    base.update(kw)
    return RunResult(**base)  # type: ignore[arg-type]


RUNS = [
    result("dualbeat", "kill", 1, 0.8),
    result("dualbeat", "kill", 2, 0.9),
    result("dualbeat", "kill", 3, 1.0),
    result("keepalived", "kill", 1, 3.0, acked_lost=2, two_writable_s=0.4),
    result("keepalived", "kill", 2, None, checksum_equal=False, differing_rows=3),
    result("keepalived", "kill", 3, 2.0, checksum_equal=None, error="repair: no writer"),
]


def test_summary_rounds_and_handles_empty() -> None:
    assert summary([0.8004, 1.2, 0.9]) == {"min": 0.8, "median": 0.9, "max": 1.2}
    assert summary([]) == {"min": None, "median": None, "max": None}


def test_aggregate_per_scenario_and_stack() -> None:
    fig = aggregate(RUNS)
    d, k = fig["kill"]["dualbeat"], fig["kill"]["keepalived"]
    assert d["rto_s"] == {"min": 0.8, "median": 0.9, "max": 1.0}
    assert d["runs"] == 3 and d["runs_without_recovery"] == 0 and d["runs_diverged"] == 0
    assert k["rto_s"]["median"] == 2.5  # the run without recovery has no RTO
    assert k["runs_without_recovery"] == 1
    assert k["acked_writes_lost"] == 2
    assert k["two_writable_s_max"] == 0.4
    assert k["runs_diverged"] == 1 and k["runs_not_compared"] == 1
    assert k["errors"] == ["repair: no writer"]


def test_ratio_and_ratios() -> None:
    assert ratio(1.0, 4.0) == 0.25
    assert ratio(None, 1.0) is None and ratio(1.0, 0.0) is None and ratio(1.0, None) is None
    assert ratios(aggregate(RUNS)) == {"kill": {"rto_median": 0.36, "gap_median": 0.363}}
    only_ours = aggregate([result("dualbeat", "kill", 1, 1.0)])
    assert ratios(only_ours) == {}


def test_markdown_table_rows_titles_and_ratio() -> None:
    table = markdown_table(aggregate(RUNS), {"kill": "kill -9 mysqld"})
    lines = table.strip().splitlines()
    assert len(lines) == 4  # header, rule, one row per stack
    assert lines[2].startswith("| kill -9 mysqld | dualbeat | 3 | 0 | 0.800 / 0.900 / 1.000 |")
    assert lines[2].endswith("| 0.360 |")
    assert "| 1 (1 not compared) |" in lines[3]
    assert lines[3].endswith("|  |")  # the ratio is shown on dualbeat's row only


def test_markdown_table_one_ratio_column_per_baseline() -> None:
    runs = [
        *RUNS,
        result("keepalived-tuned", "kill", 1, 1.8),
        result("keepalived-tuned", "kill", 2, 2.0),
    ]
    lines = markdown_table(aggregate(runs), baselines=("keepalived", "keepalived-tuned"))
    header, rule, ours, *theirs = lines.strip().splitlines()
    assert cells(header)[-2:] == ["RTO ratio to keepalived", "RTO ratio to keepalived-tuned"]
    assert len(cells(rule)) == len(cells(header))
    assert cells(ours)[-2:] == ["0.360", "0.474"]  # 0.9 / 2.5 and 0.9 / 1.9
    assert all(cells(row)[-2:] == ["", ""] for row in theirs)


def cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def test_runs_without_recovery_show_in_the_table() -> None:
    """Issue 13 item 14: a run that never recovered has no RTO, and must still show."""
    header, _, ours, theirs = markdown_table(aggregate(RUNS)).strip().splitlines()
    assert cells(header)[3] == "not recovered"
    assert cells(ours)[3] == "0" and cells(theirs)[3] == "1"
    none_recovered = markdown_table(aggregate([result("dualbeat", "kill", 1, None)]))
    assert cells(none_recovered.strip().splitlines()[2])[2:5] == ["1", "1", "n/a"]


def test_run_result_json_round_trip() -> None:
    r = RUNS[3]
    assert RunResult.from_json(r.as_json()) == r


# --- keepalived's files ---------------------------------------------------------------------


PATHS = Files(Path("/state/db1/keepalived"), Path("/state/keepalived/db1"))


def test_keepalived_config_is_the_recipe() -> None:
    text = render_config(
        node="db1", interface="eth0", address="10.77.0.11", peer_address="10.77.0.12",
        vip="10.77.0.100/24", priority=101, paths=PATHS,
        timings=Timings(advert_int=1, check_interval=2, check_timeout=1, fall=3, rise=2),
    )  # fmt: skip
    lines = [line.strip() for line in text.splitlines()]
    for expected in (
        "state BACKUP", "nopreempt", "advert_int 1", "priority 101", "interface eth0",
        "unicast_src_ip 10.77.0.11", "10.77.0.12", "10.77.0.100/24 dev eth0",
        "interval 2", "timeout 1", "fall 3", "rise 2", "chk_mysql",
        'script "/state/keepalived/db1/check_mysql.sh"',
        'notify "/state/keepalived/db1/notify.sh"', "enable_script_security",
    ):  # fmt: skip
        assert expected in lines, expected
    assert "state MASTER" not in text and "preempt_delay" not in text
    assert text.count("{") == text.count("}")


def test_tuned_keepalived_config() -> None:
    """VRRP v3, sub-second adverts, check fall 1, and the host's own mariadbd tracked from
    the namespace keepalived enters itself (the proc connector answers the root one only)."""
    argv = ("/usr/sbin/mariadbd", "--defaults-file=/state/db1/my.cnf")
    text = render_config(
        node="db1", interface="eth0", address="10.77.0.11", peer_address="10.77.0.12",
        vip="10.77.0.100/24", priority=101, paths=PATHS, timings=TUNED, server_argv=argv,
    )  # fmt: skip
    lines = [line.strip() for line in text.splitlines()]
    for expected in (
        "net_namespace db1", "vrrp_version 3", "advert_int 0.2", "interval 1", "fall 1",
        "vrrp_track_process mariadbd {", f"process {' '.join(argv)}",
        "param_match partial", "weight 0", "quorum 1", "track_process {", "nopreempt",
    ):  # fmt: skip
        assert expected in lines, expected
    assert text.index("net_namespace") < text.index("global_defs")  # a top-level keyword
    assert text.count("{") == text.count("}")
    plain = render_config(
        node="db1", interface="eth0", address="10.77.0.11", peer_address="10.77.0.12",
        vip="10.77.0.100/24", priority=101, paths=PATHS,
    )  # fmt: skip
    assert "net_namespace" not in plain and "vrrp_version" not in plain
    assert "track_process" not in plain and "advert_int 1" in plain
    with pytest.raises(SandboxError, match="command line"):
        render_config(
            node="db1", interface="eth0", address="a", peer_address="b", vip="v",
            priority=1, paths=PATHS, timings=TUNED,
        )  # fmt: skip


def test_keepalived_scripts() -> None:
    check = render_check(Path("/state/db1/my.cnf"), 1)
    assert check.startswith("#!/bin/sh\n")
    assert "mariadb-admin --defaults-file=/state/db1/my.cnf --connect-timeout=1 ping" in check
    notify = render_notify("db1", Path("/state/db1/my.cnf"), PATHS.events)
    master = notify[notify.index("MASTER)") : notify.index("*)")]
    other = notify[notify.index("*)") :]
    assert "read_only = OFF" in master and "PROMOTED" in master
    assert "read_only = ON" in other and "read_only = OFF" not in other
    assert f">> {PATHS.events}" in notify


# --- /proc for the soak ---------------------------------------------------------------------


STAT = (
    "4242 (python3 -m (x)) S 1 4242 4242 0 -1 4194560 1000 0 0 0 "
    "150 50 0 0 20 0 3 0 100 500000000 12800 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17"
)


def test_parse_stat_skips_a_command_name_with_parentheses() -> None:
    assert parse_stat(STAT) == (200, 12800)


def test_usage_cpu_percent_of_one_core_and_rss() -> None:
    mb = 2**20
    samples = [
        ProcSample(0.0, 0, 40 * mb),
        ProcSample(1.0, 1, 42 * mb),  # 1 tick in 1 s at 100 Hz: 1 %
        ProcSample(2.0, 5, 41 * mb),  # 4 ticks: 4 %
    ]
    u = usage(samples, hz=100)
    assert u["cpu_percent_avg"] == 2.5
    assert u["cpu_percent_max"] == 4.0
    assert u["rss_mb"] == {"min": 40.0, "median": 41.0, "max": 42.0}
    assert usage(samples[:1], hz=100)["cpu_percent_avg"] is None


def test_a_disturbance_is_placed_from_the_start_of_the_soak_load() -> None:
    d = Disturbance("backup_lock", "db1", started=1000.5, held_s=5.01234, detail="held")
    assert d.as_json(origin=990.0) == {
        "name": "backup_lock",
        "node": "db1",
        "at_s": 10.5,
        "at": "00:16:40",  # UTC, like the agents' event times
        "held_s": 5.012,
        "detail": "held",
    }


def test_arp_answerers_not_sampled_in_older_runs_are_said_so_not_zero() -> None:
    old = [result("dualbeat", "kill", 1, 0.2, two_vip_holders_s=2.0)]
    new = [result("dualbeat", "kill", 1, 0.2, two_vip_holders_s=2.0, two_arp_answerers_s=0.0)]
    assert aggregate(old)["kill"]["dualbeat"]["two_arp_answerers_s_max"] is None
    assert aggregate(new)["kill"]["dualbeat"]["two_arp_answerers_s_max"] == 0.0
    assert RunResult.from_json(old[0].as_json()) == old[0]
    table = markdown_table(aggregate([*old, result("keepalived", "kill", 1, 2.0)]))
    assert "not sampled" in table
