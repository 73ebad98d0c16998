"""The supervisor's restart backoff: from the spec's first backoff, doubling per exit, capped."""

import sys
from pathlib import Path

from kmm.chassis.stall import EXIT_STALLED
from kmm.runner.cli import SERVICE_EXITS
from kmm.runner.supervisor import ProcSpec, Supervisor
from tests.helpers import eventually

EXIT_AT_ONCE = [sys.executable, "-c", "raise SystemExit(3)"]


def restart_delays(sup: Supervisor, exits: int) -> list[str]:
    """The 'restart in Ns' part of the first ``exits`` exit events."""
    seen: list[str] = []

    def more() -> bool:
        seen.extend(e.split("restart in ")[1] for e in sup.poll() if "exited with 3" in e)
        return len(seen) >= exits

    eventually(more, timeout=30, what=f"{exits} exits")
    return seen[:exits]


def test_a_crashing_child_is_restarted_after_a_doubling_backoff_from_its_first(tmp_path: Path) -> None:
    sup = Supervisor(tmp_path, max_backoff=0.4)
    sup.add(ProcSpec("fast", EXIT_AT_ONCE, first_backoff=0.1))
    try:
        assert restart_delays(sup, 4) == ["0.1s", "0.2s", "0.4s", "0.4s"]
        assert sup.children["fast"].restarts >= 3
        assert sup.children["fast"].last_exit == 3
    finally:
        sup.stop("fast")


def test_the_default_first_backoff_is_half_a_second(tmp_path: Path) -> None:
    sup = Supervisor(tmp_path)
    sup.add(ProcSpec("slow", EXIT_AT_ONCE))
    try:
        assert restart_delays(sup, 1) == ["0.5s"]
    finally:
        sup.stop("slow")


def test_a_child_that_is_not_restarted_says_only_that_it_exited(tmp_path: Path) -> None:
    sup = Supervisor(tmp_path)
    sup.add(ProcSpec("once", EXIT_AT_ONCE, restart=False))
    seen: list[str] = []

    def exited() -> bool:
        seen.extend(sup.poll())
        return bool(seen)

    try:
        eventually(exited, timeout=30, what="the exit")
        assert seen == ["once exited with 3"]
        assert not [e for e in sup.poll() if "restarted" in e]
        assert sup.children["once"].restarts == 0 and sup.children["once"].proc is None
    finally:
        sup.stop("once")


def test_an_exit_code_a_restart_cannot_mend_is_not_restarted(tmp_path: Path) -> None:
    """A service's exit 2 is its bad configuration: a restart with the same settings would fail again."""
    sup = Supervisor(tmp_path)
    sup.add(ProcSpec("misconfigured", EXIT_AT_ONCE, first_backoff=0.01, final_exit_codes=frozenset({3})))
    seen: list[str] = []
    try:
        eventually(lambda: bool(seen.extend(sup.poll()) or seen), timeout=30, what="the exit")
        assert seen == ["misconfigured exited with 3"]
        child = sup.children["misconfigured"]
        assert child.proc is None and child.last_exit == 3 and child.next_start == 0.0
        assert sup.poll() == [] and child.restarts == 0
    finally:
        sup.stop("misconfigured")


def test_a_child_that_exited_for_a_hung_loop_is_restarted_and_the_event_says_so(tmp_path: Path) -> None:
    sup = Supervisor(tmp_path)
    sup.add(ProcSpec("gateway", [sys.executable, "-c", f"raise SystemExit({EXIT_STALLED})"], first_backoff=0.01,
                     exit_reasons=SERVICE_EXITS))  # as the runner starts a service
    seen: list[str] = []
    try:
        eventually(lambda: bool(seen.extend(sup.poll()) or seen), timeout=30, what="the exit")
        assert seen[0] == (f"gateway exited with {EXIT_STALLED} (its event loop hung: the stack is in its log); "
                           "restart in 0.0s")
    finally:
        sup.stop("gateway")
