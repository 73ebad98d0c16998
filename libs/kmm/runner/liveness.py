"""The runner's liveness watchdog: a child that stops answering is killed, so the supervisor restarts it.

The supervisor restarts what exits. A service whose event loop hangs (a deadlock, a call that blocks
forever, a SIGSTOP) or a Redis that stops answering still runs, and would stay hung for good. This does
for ``kmm run`` what the liveness probes in deploy/k8s do for a cluster (``/livez`` every 10 s, 2 s
timeout, 3 failures): every ``period_s`` it asks each watched child (a service's ``/livez``, Redis's
PING on its socket; any reply counts, NOAUTH and LOADING too), and a child that has answered since it
started and then answers nothing for ``after_s`` seconds gets SIGKILL; the supervisor then restarts it
as after a crash. A child that has not answered yet is still starting (the quoter compiles its quoting
core before it serves) and is left alone. The simulator is not watched: a new one would be a
different exchange (``Run.simulator_died``).
"""

import contextlib
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from .supervisor import Supervisor

Probe = Callable[[float], bool]  # answers within the timeout (seconds)?


def livez(port: int) -> Probe:
    def probe(timeout: float) -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/livez", timeout=timeout).status_code == 200
        except httpx.HTTPError:
            return False
    return probe


def redis_ping(unix_socket: Path) -> Probe:
    def probe(timeout: float) -> bool:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(timeout)
                s.connect(str(unix_socket))
                s.sendall(b"PING\r\n")
                return bool(s.recv(64))
        except OSError:
            return False
    return probe


@dataclass
class Seen:
    proc: subprocess.Popen
    answered_at: float | None = None  # last answer from this process (None: none yet, or killed)


class Watchdog(threading.Thread):
    def __init__(self, sup: Supervisor, probes: dict[str, Probe], after_s: float, say: Callable[[str], None],
                 period_s: float = 2.0, timeout_s: float = 2.0) -> None:
        super().__init__(name="liveness", daemon=True)
        self.sup, self.probes, self.after_s, self.say = sup, probes, after_s, say
        self.period_s, self.timeout_s = period_s, timeout_s
        self.seen: dict[str, Seen] = {}
        self.killed: list[str] = []
        self.checks = 0
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.period_s):
            for name, probe in self.probes.items():
                if self.stopped.is_set():
                    return
                self.check(name, probe)

    def stop(self) -> None:
        self.stopped.set()
        if self.is_alive():
            self.join(self.timeout_s * 2 + 1)

    def check(self, name: str, probe: Probe) -> None:
        child = self.sup.children.get(name)
        p = child.proc if child is not None else None
        if p is None or p.poll() is not None:
            return
        seen = self.seen.get(name)
        if seen is None or seen.proc is not p:  # a new process: it has said nothing yet
            seen = self.seen[name] = Seen(p)
        now = time.monotonic()
        self.checks += 1
        if probe(self.timeout_s):
            seen.answered_at = now
            return
        if seen.answered_at is None or now - seen.answered_at < self.after_s:
            return
        silent = now - seen.answered_at
        seen.answered_at = None
        with contextlib.suppress(ProcessLookupError):
            p.send_signal(signal.SIGKILL)  # a no-op once the supervisor has reaped it
        self.killed.append(name)
        self.say(f"{name} answered nothing for {silent:.0f} s (hung): killed, the supervisor restarts it")
