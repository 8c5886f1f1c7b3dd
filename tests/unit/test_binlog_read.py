"""Reading binary logs: which files, which GTIDs, the tool's command line and failures.

The tool itself is replaced by small Python programs so its failures (access denied,
unreachable server, a hang) are tested without a server.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from dualbeat.core.gtid import MariadbGtidSet, MysqlGtidSet
from dualbeat.errors import MysqlMisconfigured, MysqlQueryError, MysqlUnavailable
from dualbeat.mysql import tools
from dualbeat.mysql.binlog import read as binlog
from dualbeat.mysql.binlog.text import BinlogParser, Gtid
from dualbeat.mysql.connection import Endpoint
from dualbeat.mysql.dialect import Flavor

DATA = Path(__file__).parent / "data" / "binlog"
UUID = "3e11fa47-71ca-11e1-9e33-c80aa9429562"


def test_reading_starts_at_the_newest_file_begun_before_the_wanted_gtids() -> None:
    states = [MariadbGtidSet.parse(s) for s in ("", "1-1-50", "1-1-100", "1-1-160")]
    assert binlog.first_needed(states, MariadbGtidSet.parse("1-1-101..150")) == 2
    assert binlog.first_needed(states, MariadbGtidSet.parse("1-1-161..170")) == 3
    assert binlog.first_needed(states, MariadbGtidSet.parse("1-1-40..60")) == 0
    unknown = [states[0], None, states[2], None]
    assert binlog.first_needed(unknown, MariadbGtidSet.parse("1-1-101..150")) == 2
    assert binlog.first_needed([None, None], MariadbGtidSet.parse("1-1-5")) == 0


def test_membership_over_intervals() -> None:
    wanted = binlog._membership(MariadbGtidSet.parse("1-1-5..7,1-1-10..10,2-2-3"))
    assert [wanted(Gtid("mariadb", "1", n, 1)) for n in (4, 5, 7, 8, 10, 11)] == [
        False, True, True, False, True, False,
    ]  # fmt: skip
    assert wanted(Gtid("mariadb", "2", 1, 2)) and not wanted(Gtid("mariadb", "3", 1, 3))
    tagged = binlog._membership(MysqlGtidSet.parse(f"{UUID}:1-3:billing:5"))
    assert tagged(Gtid("mysql", UUID, 2)) and not tagged(Gtid("mysql", UUID, 5))
    assert tagged(Gtid("mysql", f"{UUID}:billing", 5))


def test_the_password_goes_to_an_option_file_never_to_argv(tmp_path: Path) -> None:
    ep = Endpoint("db1", "10.77.0.11", 3306, "dualbeat", 'p@ss "w\\rd"\n')
    argv = binlog.tool_command("mariadb-binlog", ep, tmp_path / "x.cnf", ["b.1"], Flavor.MARIADB)
    assert argv[:2] == ["mariadb-binlog", f"--defaults-extra-file={tmp_path / 'x.cnf'}"]
    assert "--base64-output=DECODE-ROWS" in argv and argv[-1] == "b.1"
    assert not any("p@ss" in a for a in argv)
    assert tools._option_value(ep.password) == '"p@ss \\"w\\\\rd\\"\\n"'
    mysql = binlog.tool_command("mysqlbinlog", ep, tmp_path / "x.cnf", ["b.1"], Flavor.MYSQL)
    assert "--get-server-public-key" in mysql


def fake_tool(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_the_tools_output_streams_into_the_parser() -> None:
    data = DATA / "mariadb-10.11-verbose.txt"
    parser = BinlogParser("mysql-bin.000001", lambda g: g.seq in (12, 13))
    code = f"import sys; sys.stdout.buffer.write(open({str(data)!r}, 'rb').read())"
    binlog._run(fake_tool(code), "db1", 10.0, parser)
    assert [t.gtid.text for t in parser.close()] == ["7-7-12", "7-7-13"]


@pytest.mark.parametrize(
    ("stderr", "error"),
    [
        ("ERROR: Failed on connect: Access denied for user 'u'@'h' (using password: YES)",
         MysqlMisconfigured),
        ("ERROR: Failed on connect: Can't connect to server on '10.0.0.1' (115)",
         MysqlUnavailable),
        ("ERROR: Could not find first log file name in binary log index file", MysqlQueryError),
    ],
)  # fmt: skip
def test_tool_failures_become_dualbeat_errors(stderr: str, error: type[Exception]) -> None:
    code = f"import sys; sys.stderr.write({stderr!r}); sys.exit(1)"
    with pytest.raises(error, match="binary logs"):
        binlog._run(fake_tool(code), "db1", 10.0, BinlogParser())


def test_a_hanging_tool_is_killed_at_the_timeout() -> None:
    with pytest.raises(MysqlUnavailable, match=r"longer than 0\.3 s"):
        binlog._run(fake_tool("import time; time.sleep(30)"), "db1", 0.3, BinlogParser())
