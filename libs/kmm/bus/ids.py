"""Message ids: 16 hex chars of randomness, unique across processes and restarts.

Drawn from a per-process generator seeded with 256 bits from the OS (and seeded again in a forked
child), not from ``os.urandom`` per id: a system call per id was 5% of marketdata's CPU. The ids
name messages and intents; nothing secret is derived from them.
"""

import os
import random

_rng = random.Random(os.urandom(32))


def _reseed() -> None:
    _rng.seed(os.urandom(32))


os.register_at_fork(after_in_child=_reseed)
_bits = _rng.getrandbits


def new_id() -> str:
    return f"{_bits(64):016x}"
