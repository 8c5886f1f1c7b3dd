"""``repl setup`` on two servers that hold the same data without GTIDs (both restored from
one backup, the binary log off): it compares them with the checksum engine and goes on
without ``--force`` when they are equal, and refuses, saying so, when they are not.

On the two bare hosts of hosts.py, with this checkout's ``dualbeat`` (the hosts' roots are
overlays of this machine's, so the virtualenv is visible in them).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.packaging.hosts import Host, destroy, make_pair
from tests.packaging.test_quickstart import ADDRESSES, mysql_settings, quick_start, start_mariadb

pytestmark = pytest.mark.integration

DUALBEAT = Path(sys.executable).parent / "dualbeat"
ADMIN = (
    "SET sql_log_bin = 0; CREATE USER 'dualbeat_admin'@'192.0.2.%' IDENTIFIED BY "
    "'$(cat /etc/dualbeat/admin.pass)'; GRANT ALL PRIVILEGES ON *.* TO "
    "'dualbeat_admin'@'192.0.2.%' WITH GRANT OPTION"
)
DATA = (
    "SET sql_log_bin = 0; CREATE DATABASE app; "
    "CREATE TABLE app.t (id INT PRIMARY KEY, v VARCHAR(10)); "
    "INSERT INTO app.t VALUES (1, 'a'), (2, 'b'), (3, 'c')"
)


@pytest.fixture
def hosts() -> Iterator[dict[str, Host]]:
    import os

    if os.geteuid() != 0:
        pytest.skip("the hosts need root (namespaces, mounts)")
    pair = make_pair("dbsd", ADDRESSES, 24)
    try:
        yield {h.name: h for h in pair}
    finally:
        destroy("dbsd", pair)


def test_repl_setup_goes_on_when_untracked_data_is_equal(hosts: dict[str, Host]) -> None:
    db1, db2 = hosts["db1"], hosts["db2"]
    settings = quick_start()[0]
    db1.run(f"{DUALBEAT} init /etc/dualbeat >/dev/null 2>&1")
    db2.run("mkdir -m 700 -p /etc/dualbeat")
    db1.copy_tree_to(db2, "/etc/dualbeat")
    for host in (db1, db2):
        path, text = mysql_settings(settings, host)
        host.run(f"cat > {path} <<'EOF'\n{text}EOF")
        start_mariadb(host)
        host.run(f'mariadb -e "{ADMIN}"')
        host.run(f'mariadb -e "{DATA}"')
    db2.run("mariadb -e \"SET sql_log_bin = 0; UPDATE app.t SET v = 'x' WHERE id = 2\"")

    refused = db1.run(f"{DUALBEAT} repl setup --dry-run || echo exit=$?", check=False)
    assert "exit=4" in refused, refused
    assert "Their checksums differ" in refused

    db2.run("mariadb -e \"SET sql_log_bin = 0; UPDATE app.t SET v = 'b' WHERE id = 2\"")
    done = db1.run(f"{DUALBEAT} repl setup 2>&1")
    assert "their checksums are equal" in done
    assert "db1 is active" in done
