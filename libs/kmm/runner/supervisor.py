"""Process supervisor for the local runner: start, watch, restart with backoff, stop in order.

Each child's stdout and stderr go to ``<logdir>/<name>.log``. A child that exits while the
supervisor is running is restarted after a backoff that starts at its spec's ``first_backoff``,
doubles up to ``max_backoff`` and resets once the child has stayed up for ``stable_after`` seconds;
an exit code in the spec's ``final_exit_codes`` (a service's 2: bad configuration, which a restart
with the same settings would only repeat) is not restarted.
Every child gets ``PR_SET_PDEATHSIG`` (:mod:`kmm.runner.pdeathsig`): it receives SIGTERM when the
supervising process dies.
"""

import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from .pdeathsig import preexec

FIRST_BACKOFF_S = 0.5  # a child's first restart delay unless its spec says otherwise


@dataclass
class ProcSpec:
    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    http_port: int | None = None
    restart: bool = True
    first_backoff: float = FIRST_BACKOFF_S
    final_exit_codes: frozenset[int] = frozenset()  # exits a restart cannot mend: the child stays down
    exit_reasons: dict[int, str] = field(default_factory=dict)  # what an exit code means, said with the exit


@dataclass
class Child:
    spec: ProcSpec
    proc: subprocess.Popen | None = None
    started_at: float = 0.0
    restarts: int = 0
    backoff: float = 0.0  # the next restart delay: the spec's first_backoff, set by Supervisor.add
    next_start: float = 0.0
    last_exit: int | None = None


class Supervisor:
    def __init__(self, logdir: Path, max_backoff: float = 10.0, stable_after: float = 30.0) -> None:
        self.logdir = logdir
        self.logdir.mkdir(parents=True, exist_ok=True)
        self.children: dict[str, Child] = {}
        self.max_backoff = max_backoff
        self.stable_after = stable_after

    def log_path(self, name: str) -> Path:
        return self.logdir / f"{name}.log"

    def add(self, spec: ProcSpec, start: bool = True) -> Child:
        child = Child(spec, backoff=spec.first_backoff)
        self.children[spec.name] = child
        if start:
            self._start(child)
        return child

    def _start(self, child: Child) -> None:
        env = {**os.environ, **child.spec.env}
        log = open(self.log_path(child.spec.name), "ab")  # noqa: SIM115 - the child owns it
        child.proc = subprocess.Popen(
            child.spec.argv, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, preexec_fn=preexec(),
        )
        log.close()
        child.started_at = time.monotonic()

    def poll(self) -> list[str]:
        """Restart children that died; return messages about what happened."""
        events = []
        now = time.monotonic()
        for child in self.children.values():
            p = child.proc
            if p is not None and p.poll() is not None:
                child.last_exit = p.returncode
                child.proc = None
                if now - child.started_at > self.stable_after:
                    child.backoff = child.spec.first_backoff
                restart = child.spec.restart and p.returncode not in child.spec.final_exit_codes
                child.next_start = now + child.backoff if restart else 0.0
                why = child.spec.exit_reasons.get(p.returncode)
                events.append(f"{child.spec.name} exited with {p.returncode}" + (f" ({why})" if why else "")
                              + (f"; restart in {child.backoff:.1f}s" if restart else ""))
                child.backoff = min(child.backoff * 2, self.max_backoff)
            if child.proc is None and child.spec.restart and child.next_start and now >= child.next_start:
                child.restarts += 1
                child.next_start = 0.0
                self._start(child)
                events.append(f"{child.spec.name} restarted (#{child.restarts})")
        return events

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        p = self.children[name].proc
        if p is not None and p.poll() is None:
            p.send_signal(sig)

    def stop(self, name: str, timeout: float = 15.0) -> int | None:
        child = self.children[name]
        child.spec.restart = False
        p = child.proc
        if p is None:
            return child.last_exit
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        child.last_exit = p.returncode
        child.proc = None
        return child.last_exit

    def stop_all(self, order: list[str] | None = None) -> dict[str, int | None]:
        names = order or list(reversed(self.children))
        return {n: self.stop(n) for n in names if n in self.children}

    def alive(self, name: str) -> bool:
        p = self.children[name].proc
        return p is not None and p.poll() is None
