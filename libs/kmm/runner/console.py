"""The live console of ``kmm run`` on a terminal: redraws the system every second, takes keys.

Shows the services (up, restarts, ready, DLQ, each one's summary), the system line (risk state,
exposure against its limit, P&L, fills, denials, tick-to-order p50/p99, write-budget tokens), and
per market the book, our resting orders (the quoter's target in brackets while nothing rests),
position, limit, P&L, fills and the last denial (:mod:`kmm.ops.views`).

Keys: ``h`` halts trading at once (risk cancels every order); ``r`` asks, then ``y`` resumes;
``q`` quits cleanly (the runner stops the quoter first and the gateway cancels every resting order
before the venue stops). Ctrl-C does what ``q`` does. The terminal is put in cbreak mode (keys
without Enter, Ctrl-C still a signal) and restored on the way out, whatever happens.
"""

from __future__ import annotations

import contextlib
import os
import select
import sys
import termios
import time
import tty
from collections import deque
from collections.abc import Callable
from typing import Any, TextIO

from rich.console import Console, Group
from rich.live import Live
from rich.text import Text

from kmm.ops import snapshot, views
from kmm.ops.target import OpsClient, OpsError

QUIT = "quit"
HELP = "h halt · r resume · q quit (cancel all, then stop)"


class LiveConsole:
    def __init__(self, client: OpsClient, title: str, runner_rows: Callable[[], dict[str, dict[str, Any]]],
                 stdin: TextIO | None = None, refresh_s: float = 1.0, console: Console | None = None) -> None:
        self.client = client
        self.title = title
        self.runner_rows = runner_rows
        self.stdin = stdin or sys.stdin
        self.refresh_s = refresh_s
        self.messages: deque[str] = deque(maxlen=4)
        self.confirming = False
        self.snap: dict[str, Any] | None = None
        self.started = time.monotonic()
        self._last = 0.0
        self._dlq_at = 0.0
        self._dlq: dict[str, int | None] = {}
        self._saved: list[Any] | None = None
        self._eof = False
        self.console = console or Console(markup=False, highlight=False)
        self.live = Live(console=self.console, screen=True, auto_refresh=False, redirect_stdout=False,
                         redirect_stderr=False)

    # --- terminal ----------------------------------------------------------------------------
    def __enter__(self) -> LiveConsole:
        fd = self.stdin.fileno()
        with contextlib.suppress(termios.error, OSError):
            self._saved = termios.tcgetattr(fd)
            tty.setcbreak(fd)
        self.live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):
            self.live.stop()
        if self._saved is not None:
            with contextlib.suppress(termios.error, OSError):
                termios.tcsetattr(self.stdin.fileno(), termios.TCSADRAIN, self._saved)

    def note(self, text: str) -> None:
        self.messages.append(f"{time.strftime('%H:%M:%S')} {text}")

    # --- one step of the runner's loop --------------------------------------------------------
    def step(self, timeout: float = 0.1) -> str | None:
        """Wait up to ``timeout`` for a key and act on it; redraw when due. ``QUIT`` when asked to."""
        key = self.read_key(timeout)
        result = self.on_key(key) if key else None
        now = time.monotonic()
        if key or now - self._last >= self.refresh_s:
            self.refresh(now)
        return result

    def read_key(self, timeout: float) -> str:
        if self._eof:  # stdin closed (--view table without a keyboard): just pace the loop
            time.sleep(timeout)
            return ""
        fd = self.stdin.fileno()
        ready, _, _ = select.select([fd], [], [], timeout)
        if not ready:
            return ""
        data = os.read(fd, 32)
        if not data:
            self._eof = True
        return data.decode(errors="ignore")[-1:] if data else ""

    def on_key(self, key: str) -> str | None:
        k = key.lower()
        if self.confirming:
            self.confirming = False
            if k == "y":
                self.act("resume", lambda: self.client.post("risk", "/resume"))
            else:
                self.note("resume cancelled")
            return None
        if k == "q":
            self.note("quitting: the gateway cancels every order, then everything stops")
            self.refresh(time.monotonic())
            return QUIT
        if k == "h":
            self.act("halt", lambda: self.client.post("risk", "/halt", {"reason": "operator (console)"}))
        elif k == "r":
            self.confirming = True
            self.note("resume trading? press y to confirm, any other key cancels")
        return None

    def act(self, what: str, call: Callable[[], dict[str, Any]]) -> None:
        try:
            res = call()
            self.note(f"{what}: trading {res.get('state')}" + (f" ({res['reason']})" if res.get("reason") else ""))
        except OpsError as exc:
            self.note(f"{what} failed: {exc}")

    # --- drawing -------------------------------------------------------------------------------
    def refresh(self, now: float) -> None:
        self._last = now
        snap = snapshot.collect(self.client, with_dlq=False)
        if now - self._dlq_at >= 5.0:  # /metrics is the largest read: every 5 s is enough for DLQ counts
            self._dlq_at = now
            self._dlq = snapshot.dlq_lengths(self.client)
        snap["dlq"] = self._dlq
        self.snap = snap
        self.live.update(self.render(snap), refresh=True)

    def render(self, snap: dict[str, Any]) -> Group:
        head = Text(f"kmm — {self.title} — {time.monotonic() - self.started:6.1f}s   ", style="bold")
        head.append(HELP, style="dim")
        foot = Text("\n".join(self.messages) or " ", style="yellow" if self.confirming else "")
        return Group(head, Text(""), views.status_view(snap, self.runner_rows()), Text(""), foot)
