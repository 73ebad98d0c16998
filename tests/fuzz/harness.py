"""Run a hypothesis property either a bounded number of times (``make test``) or for a wall-clock budget
(``make fuzz``: ``KMM_FUZZ_SECONDS`` per fuzzer, each round a fresh random seed).

``fuzz(strategy)(prop)`` turns ``prop(value)`` into a plain pytest function. Bounded mode runs
``KMM_FUZZ_EXAMPLES`` examples (default 200). Fuzz mode repeats rounds of 2,000 examples until the
budget is spent and appends one JSON line per fuzzer (name, seconds, rounds, examples) to
``KMM_FUZZ_REPORT`` when that is set. A failure is shrunk and reported by hypothesis as usual.
"""

import functools
import inspect
import json
import os
import time
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ROUND = 2_000


def budget_seconds() -> float:
    return float(os.environ.get("KMM_FUZZ_SECONDS", "0") or 0)


def bounded_examples(default: int = 200) -> int:
    return int(os.environ.get("KMM_FUZZ_EXAMPLES", str(default)))


def fuzz(strategy: st.SearchStrategy[Any], examples: int = 200) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Decorator: ``prop(value, **fixtures)`` for values drawn from ``strategy``; ``examples`` is the
    bounded count. Parameters after the first are pytest fixtures."""

    def deco(prop: Callable[..., None]) -> Callable[..., None]:
        counter = {"n": 0}
        sig = inspect.signature(prop)

        def run(n: int, fixtures: dict[str, Any]) -> None:
            def counted(value: Any) -> None:
                counter["n"] += 1
                prop(value, **fixtures)

            settings(max_examples=n, deadline=None, database=None, derandomize=False,
                     suppress_health_check=list(HealthCheck))(given(strategy)(counted))()

        @functools.wraps(prop)
        def test(**fixtures: Any) -> None:
            budget = budget_seconds()
            if budget <= 0:
                run(bounded_examples(examples), fixtures)
                assert counter["n"] > 0
                return
            start = time.monotonic()
            rounds = 0
            while time.monotonic() - start < budget:
                run(ROUND, fixtures)
                rounds += 1
            report = os.environ.get("KMM_FUZZ_REPORT")
            if report:
                with open(report, "a") as fh:
                    fh.write(json.dumps({"fuzzer": prop.__name__, "seconds": round(time.monotonic() - start, 1),
                                         "rounds": rounds, "examples": counter["n"]}) + "\n")
            assert counter["n"] >= rounds

        test.__signature__ = sig.replace(parameters=list(sig.parameters.values())[1:])  # type: ignore[attr-defined]
        return test

    return deco


# JSON-like values: what a peer could send us.
json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=12), inner, max_size=4), max_leaves=12)


def numberish() -> st.SearchStrategy[Any]:
    """Values a number field might hold on the wire: good ones, edge ones and garbage."""
    return st.one_of(
        st.integers(min_value=-(10**20), max_value=10**20),
        st.sampled_from(["0", "0.5", "0.5600", "1.0000", "0.0001", "-0.01", "1e3", "NaN", "Infinity", "-inf",
                         "", " ", "0x10", "1_000", "99999999999999999999.99", "10.00", "0.001", "٣"]),
        st.decimals(allow_nan=True, allow_infinity=True, places=None),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=12),
        st.none(), st.booleans(), st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3),
                                                                                       st.integers(), max_size=2),
    )


def shaped(keys: list[str], value: st.SearchStrategy[Any] | None = None) -> st.SearchStrategy[dict[str, Any]]:
    """Dicts over a field vocabulary (any subset of ``keys``) with wire-ish values, plus stray keys."""
    v = value if value is not None else st.one_of(numberish(), json_values)
    known = st.fixed_dictionaries({}, optional={k: v for k in keys})
    return st.builds(lambda a, b: {**b, **a}, known, st.dictionaries(st.text(max_size=8), json_values, max_size=2))
