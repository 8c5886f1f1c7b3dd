"""Self-heal drills (issue 12 item 7): one fault on the active under a writer, undone after
``hold`` seconds, then the time until the pair is *redundant again*.

Redundant again: both servers replicate from each other (both threads running, no lag),
exactly one is writable, and the writer's table checksums the same on both. The writer
stops at the heal, so the checksum compares a table that no longer moves (under a live
writer two checksums would only agree by chance). A pair that is not redundant within
``timeout`` needed an operator (a fenced node waits for ``dualbeat rejoin``).

Also per run: acknowledged writes missing on the active afterwards; in-doubt commits on
the old active: writer rows it holds that the new active lacks and the writer never saw
acknowledged (a statement that committed after the peer promoted), once the pair is
redundant again (or given up); and the transactions the old active's agent discarded by
itself on the way (committed while its client gate was shut, ``gate.window``): in-doubt
commits that did happen, and that no operator had to remove.
"""

from __future__ import annotations

import enum
import re
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass

from dualbeat.errors import DualbeatError
from dualbeat.mysql.connection import Server
from dualbeat.mysql.dialect import Statement
from dualbeat_lab import writer
from dualbeat_lab.errors import SandboxError
from dualbeat_lab.sandbox import agents, faults, lab
from dualbeat_lab.sandbox.drill import VIP_HOST, acked_after, present_seqs, wait_until
from dualbeat_lab.sandbox.lab import LabInfo, Progress
from dualbeat_lab.sandbox.timeline import lab_event_paths, load_events

_DISCARDED = re.compile(r"^discarded (\d+) transaction")


class Scenario(enum.Enum):
    KILL = "kill"  # kill -9 mysqld on the active, restarted after the hold
    FREEZE = "freeze"  # SIGSTOP mysqld, SIGCONT after the hold
    LINKDOWN = "linkdown"  # the active's links lose carrier
    PARTITION = "partition"  # db1 and db2 cut from each other; both reach the client
    ISOLATE = "isolate"  # the active cut from everything, links up
    AGENT_RESTART = "agent-restart"  # kill -9 the active's agent, started again
    HOST_RESTART = "host-restart"  # the active's agent and mysqld killed, both started again


@dataclass(frozen=True)
class SelfHeal:
    scenario: Scenario
    old_active: str
    new_active: str | None
    redundant_s: float | None  # from the heal; None: not within the timeout
    acked_lost: int | None  # None: no active to check against
    in_doubt: int | None
    discarded: int = 0  # by the old active's agent itself (``REJOIN_AUTO_RESOLVED``)

    @property
    def needed_operator(self) -> bool:
        return self.redundant_s is None

    def as_json(self) -> dict[str, object]:
        return {
            "scenario": self.scenario.value,
            "old_active": self.old_active,
            "new_active": self.new_active,
            "redundant_again_s": self.redundant_s,
            "needed_operator": self.needed_operator,
            "acked_writes_lost": self.acked_lost,
            "in_doubt_commits_on_old_active": self.in_doubt,
            "discarded_by_old_active_agent": self.discarded,
        }


def _server_view(info: LabInfo, node: str) -> tuple[bool, bool, str] | None:
    """(replicating with no lag, writable, the writer table's checksum), None if down."""
    try:
        with Server(info.node(node).root_endpoint()) as s:
            replica = s.query(Statement("SHOW SLAVE STATUS"))
            ro = s.query(Statement("SELECT @@global.read_only AS ro"))[0]["ro"]
            checksum = s.query(Statement("CHECKSUM TABLE app.writes"))[0]["Checksum"]
    except DualbeatError:
        return None
    r = replica[0] if replica else {}
    flowing = (
        r.get("Slave_IO_Running") == "Yes"
        and r.get("Slave_SQL_Running") == "Yes"
        and str(r.get("Seconds_Behind_Master")) == "0"
    )
    return flowing, not int(str(ro)), str(checksum)


def redundant(info: LabInfo) -> bool:
    """Both replicating with no lag, one writable, the writer's table equal on both."""
    views = [_server_view(info, n.name) for n in info.nodes]
    if any(v is None for v in views):
        return False
    seen = [v for v in views if v is not None]
    return (
        all(flowing for flowing, _, _ in seen)
        and sum(writable for _, writable, _ in seen) == 1
        and len({checksum for _, _, checksum in seen}) == 1
    )


def _fault(info: LabInfo, scenario: Scenario, node: str) -> Callable[[], object]:
    """Inject ``scenario`` on ``node``; returns how to undo it."""
    state = info.lab.state_dir
    match scenario:
        case Scenario.KILL:
            faults.kill_mysqld(info.lab, node)
            return lambda: lab.up(state)
        case Scenario.FREEZE:
            faults.freeze_mysqld(info.lab, node)
            return lambda: faults.thaw_mysqld(info.lab, node)
        case Scenario.LINKDOWN:
            faults.link_down(info.lab, node)
            return lambda: faults.link_up(info.lab, node)
        case Scenario.PARTITION:
            faults.partition(info.lab, "db1", "db2")
            return lambda: faults.heal_all(info.lab)
        case Scenario.ISOLATE:
            faults.isolate(info.lab, node)
            return lambda: faults.heal_all(info.lab)
        case Scenario.AGENT_RESTART:
            faults.kill_agent(info.lab, node)
            return lambda: agents.start(info, node, lambda _m: None)
        case Scenario.HOST_RESTART:
            faults.kill_agent(info.lab, node)
            faults.kill_mysqld(info.lab, node)

            def restart() -> None:
                lab.up(state)
                agents.start(info, node, lambda _m: None)

            return restart


def run(
    info: LabInfo,
    scenario: Scenario,
    *,
    hold: float = 20.0,
    timeout: float = 60.0,
    progress: Progress = lambda _m: None,
    profile: writer.Profile = writer.Profile.TIGHT,
) -> SelfHeal:
    """One drill on a settled pair: the fault for ``hold`` s, the heal, then up to
    ``timeout`` s for the pair to be redundant again."""
    old = agents.wait_settled(info, progress)
    log = info.lab.state_dir / f"selfheal-{scenario.value}-{time.strftime('%H%M%S')}.jsonl"
    argv = writer.command(
        VIP_HOST, info.secrets.app_password_file, log, hold + timeout + 30, profile=profile
    )
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if not wait_until(lambda: log.exists() and acked_after(log, 0.0), 15.0):
            raise SandboxError(f"the writer acknowledged no write through {VIP_HOST}")
        undo = _fault(info, scenario, old)
        progress(f"{scenario.value} on {old} for {hold:g} s")
        time.sleep(hold)
        undo()
        healed = time.time()
        progress(f"{scenario.value} undone")
    finally:
        proc.terminate()
        proc.wait(10)
    ok = wait_until(lambda: redundant(info), timeout)
    redundant_s = round(time.time() - healed, 3) if ok else None
    # The servers may be redundant before the agents say who serves (a restarted agent
    # resumes within initdead): the writes are counted against the settled active.
    wait_until(lambda: agents.settled(info) is not None, timeout)
    new = agents.settled(info)
    writes = writer.load_log(log)
    acked = {w.seq for w in writes if w.acked}
    lost = in_doubt = None
    if new is not None:
        on_new = present_seqs(info, new)
        lost = len(acked - on_new)
        if new != old:
            try:
                in_doubt = len(present_seqs(info, old) - on_new - acked)
            except DualbeatError:
                in_doubt = None
        else:
            in_doubt = 0
    return SelfHeal(scenario, old, new, redundant_s, lost, in_doubt, discarded(info, old))


def discarded(info: LabInfo, node: str) -> int:
    """Transactions ``node``'s agent discarded by itself (its ``REJOIN_AUTO_RESOLVED``)."""
    return sum(
        int(found[1])
        for e in load_events(lab_event_paths(info.lab))
        if e.node == node
        and e.code == "REJOIN_AUTO_RESOLVED"
        and (found := _DISCARDED.match(e.text))
    )
