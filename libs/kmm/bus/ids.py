"""Message ids: 16 hex chars of randomness, unique across processes and restarts."""

import os


def new_id() -> str:
    return os.urandom(8).hex()
