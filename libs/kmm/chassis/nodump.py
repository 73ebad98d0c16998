"""Secrets never reach a core dump: no core file, and the process is not dumpable.

Every service holds a Redis password and the gateway the trading key, so before a service reads any
of them it sets ``RLIMIT_CORE`` to 0 (no core file, whatever the shell's ``ulimit``) and, on Linux,
``PR_SET_DUMPABLE`` to 0 (no core dump, and no ptrace attach or ``/proc/<pid>/mem`` read by other
processes of the same user). Elsewhere only the rlimit applies.
"""

import ctypes
import resource
import sys

PR_SET_DUMPABLE = 4
PR_GET_DUMPABLE = 3


def _prctl(*args: int) -> int:
    if not sys.platform.startswith("linux"):
        return -1
    try:
        return ctypes.CDLL(None, use_errno=True).prctl(*args)
    except (OSError, AttributeError):
        return -1


def forbid_core_dumps() -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    _prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)


def dumpable() -> bool:
    """Whether this process may dump core (False after :func:`forbid_core_dumps`)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_CORE)
    flag = _prctl(PR_GET_DUMPABLE, 0, 0, 0, 0)
    return soft != 0 or flag == 1
