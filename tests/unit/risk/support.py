"""Helpers for the risk tests: a manual clock in integer ns."""

NS = 1_000_000_000


class Clock:
    """The engine's clock, moved by hand (``now`` in ns)."""

    def __init__(self) -> None:
        self.now = 1_700_000_000 * NS

    def __call__(self) -> int:
        return self.now
