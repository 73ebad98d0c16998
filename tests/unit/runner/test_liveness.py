"""The runner's watchdog kills a child that answered and then hangs (the supervisor restarts it), and
leaves alone one that has not answered yet (still starting)."""

import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from kmm.runner.liveness import Probe, Watchdog, livez, redis_ping
from kmm.runner.redis_proc import free_port, redis_argv, redis_server_binary
from kmm.runner.supervisor import ProcSpec, Supervisor
from tests.helpers import eventually

# answers 200 to every GET: a service's /livez
SERVER = """
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.send_header("Content-Length", "0"); self.end_headers()
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""


@pytest.fixture
def sup(tmp_path: Path) -> Iterator[Supervisor]:
    s = Supervisor(tmp_path / "logs")
    try:
        yield s
    finally:
        for name, child in s.children.items():
            if child.proc is not None and child.proc.poll() is None:
                child.proc.send_signal(signal.SIGCONT)
            s.stop(name, timeout=5)


def watch(sup: Supervisor, probes: dict, said: list[str]) -> Watchdog:
    w = Watchdog(sup, probes, after_s=1.0, say=said.append, period_s=0.1, timeout_s=0.3)
    w.start()
    return w


def restarted(sup: Supervisor, name: str, old_pid: int) -> bool:
    sup.poll()
    p = sup.children[name].proc
    return p is not None and p.pid != old_pid


def hang_and_see_it_restarted(sup: Supervisor, w: Watchdog, name: str, probe: Probe) -> None:
    """Once the watchdog has heard ``name``, SIGSTOP it: it must be SIGKILLed and the supervisor start a new one."""
    eventually(lambda: w.seen.get(name) and w.seen[name].answered_at, timeout=10, what=f"the watchdog heard {name}")
    first = sup.children[name].proc
    assert first is not None
    os.kill(first.pid, signal.SIGSTOP)
    assert not probe(0.3)
    eventually(lambda: first.poll() == -signal.SIGKILL, timeout=15, what=f"the hung {name} killed")
    eventually(lambda: restarted(sup, name, first.pid), timeout=15, what=f"a new {name} started")
    assert w.killed == [name]


def test_a_service_that_answered_and_then_hangs_is_killed_and_restarted(sup: Supervisor) -> None:
    port = free_port()
    sup.add(ProcSpec("svc", [sys.executable, "-c", SERVER, str(port)], http_port=port, first_backoff=0.1))
    probe = livez(port)
    eventually(lambda: probe(0.5), timeout=20, what="the server answers")
    said: list[str] = []
    w = watch(sup, {"svc": probe}, said)
    try:
        hang_and_see_it_restarted(sup, w, "svc", probe)
        assert len(said) == 1 and said[0].startswith("svc answered nothing for ") and "killed" in said[0]
        eventually(lambda: probe(0.5), timeout=20, what="the new server answers")
    finally:
        w.stop()


def test_a_child_that_never_answered_is_left_alone(sup: Supervisor) -> None:
    """The quoter compiles its quoting core before it serves: silence before the first answer is a start.
    The child here never serves: it waits for a signal (the fixture's stop)."""
    port = free_port()
    sup.add(ProcSpec("starting", [sys.executable, "-c", "import signal; signal.pause()"], http_port=port))
    said: list[str] = []
    w = watch(sup, {"starting": livez(port)}, said)
    try:
        eventually(lambda: w.seen.get("starting"), timeout=10, what="the watchdog asked")
        def unanswered_for_a_while() -> bool:  # 30 checks: about three times after_s
            sup.poll()
            return w.checks >= 30

        eventually(unanswered_for_a_while, timeout=30, interval=0.1, what="30 unanswered checks")
        proc = sup.children["starting"].proc
        assert proc is not None and proc.poll() is None
        assert w.killed == [] and said == []
    finally:
        w.stop()


def test_a_redis_that_stops_answering_is_killed(sup: Supervisor, tmp_path: Path) -> None:
    """Any reply to PING counts (this Redis has an ACL-less default user; NOAUTH would count too)."""
    binary = redis_server_binary()
    if binary is None:
        pytest.skip("redis-server not on PATH")
    d = tmp_path / "redis"
    d.mkdir()
    sup.add(ProcSpec("redis", redis_argv(binary, d), first_backoff=0.1))
    probe = redis_ping(d / "redis.sock")
    eventually(lambda: probe(0.5), timeout=20, what="redis answers PING")
    said: list[str] = []
    w = watch(sup, {"redis": probe}, said)
    try:
        hang_and_see_it_restarted(sup, w, "redis", probe)
        eventually(lambda: probe(0.5), timeout=20, what="the new redis answers")
    finally:
        w.stop()
