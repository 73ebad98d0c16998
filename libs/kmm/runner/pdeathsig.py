"""Children die with the runner: ``PR_SET_PDEATHSIG`` (Linux ``prctl`` via ctypes) set in the child
between fork and exec.

The kernel then sends the child ``SIGTERM`` (a graceful stop: the gateway cancels its orders) when
the runner dies, however it dies — ``kill -9`` included. The signal follows the *thread* that
started the child, so start children from a thread that lives as long as the runner (``kmm run``
starts them all from its main thread). Elsewhere than Linux this is a no-op; the chassis's
parent-liveness check (``KMM_PARENT_PID``) still stops the services.
"""

import ctypes
import os
import signal
import sys
from collections.abc import Callable

PR_SET_PDEATHSIG = 1


def _load_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _load_prctl()  # resolved here, not in the forked child


def preexec(sig: int = signal.SIGTERM) -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child receive ``sig`` when this process dies (None if unsupported)."""
    prctl = _PRCTL
    if prctl is None:
        return None
    parent = os.getpid()

    def set_pdeathsig() -> None:
        prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
        if os.getppid() != parent:  # the parent died between fork and prctl
            os.kill(os.getpid(), sig)

    return set_pdeathsig
