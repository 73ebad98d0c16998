"""Exit a service whose event loop has stopped running, so whatever supervises it restarts it.

A supervisor restarts a process that exits, not one that hangs. ``kmm run`` kills a hung service
after ``--liveness-s`` and Kubernetes after its liveness probe, but Docker Compose (or a plain
systemd unit) would leave it hung for good, and a hung gateway leaves its orders resting. Here the
loop stamps a clock every ``period_s``; a thread looks at the stamp, and once the loop has not run
for ``after_s`` seconds it writes why and every thread's stack to stderr (where the service hung) and
ends the process with :data:`EXIT_STALLED`. Time the whole process was frozen (SIGSTOP, a paused
VM: the thread's own wake-ups come late too) does not count. A loop stuck inside a C call that holds
the GIL stops the thread as well and is not seen; the outside probes remain for that.
"""

import asyncio
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import TextIO

EXIT_STALLED = 70  # EX_SOFTWARE
FROZEN_S = 2.0  # a wake-up of the thread this late means the whole process was not running


class LoopStallWatchdog:
    def __init__(self, service: str, after_s: float, period_s: float = 0.5,
                 exit: Callable[[int], None] = os._exit, out: TextIO | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.service, self.after_s, self.period_s = service, after_s, period_s
        self._exit, self._out, self._clock = exit, out, clock
        self._beat = clock()  # the loop's last stamp
        self._since = self._beat  # counting from here: the start, or the end of a freeze
        self._woke = self._beat  # the thread's last wake-up
        self._stopped = threading.Event()
        self._handle: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._beat = self._since = self._woke = self._clock()
        self._stamp()
        self._thread = threading.Thread(target=self._watch, name="loop-stall", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._handle is not None:
            self._handle.cancel()

    def _stamp(self) -> None:
        self._beat = self._clock()
        if not self._stopped.is_set() and self._loop is not None:
            self._handle = self._loop.call_later(self.period_s, self._stamp)

    def stalled_for(self, now: float) -> float:
        """Seconds the loop has not run as of ``now`` (a wake-up of the thread), freezes left out."""
        if now - self._woke > self.period_s + FROZEN_S:
            self._since = now  # nothing ran, this thread included: not the loop's fault
        self._woke = now
        return now - max(self._beat, self._since)

    def _watch(self) -> None:
        while not self._stopped.wait(self.period_s):
            stalled = self.stalled_for(self._clock())
            if stalled >= self.after_s and not self._stopped.is_set():
                self._fire(stalled)
                return

    def _fire(self, stalled: float) -> None:
        out = self._out or sys.stderr
        out.write(f"{self.service}: the event loop has not run for {stalled:.1f} s (KMM_LOOP_STALL_EXIT_S="
                  f"{self.after_s:g}); exiting {EXIT_STALLED} so the supervisor restarts it. Every thread's "
                  "stack:\n")
        names = {t.ident: t.name for t in threading.enumerate()}
        for ident, frame in sys._current_frames().items():
            out.write(f"Thread {names.get(ident, hex(ident))}:\n{''.join(traceback.format_stack(frame))}")
        out.flush()
        self._exit(EXIT_STALLED)
