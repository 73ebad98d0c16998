"""Quantiles of a Prometheus histogram from its cumulative bucket counts (what the benches scrape)."""


def histogram_quantile(counts: dict[float, float], q: float) -> float | None:
    """Prometheus' ``histogram_quantile``: linear inside the bucket; the +Inf bucket gives the last bound.
    ``counts`` maps each upper bound ``le`` to its cumulative count; None when it is empty."""
    les = sorted(counts)
    total = counts[les[-1]] if les else 0
    if total <= 0:
        return None
    rank = q * total
    prev_le, prev_c = 0.0, 0.0
    for le in les:
        c = counts[le]
        if c >= rank:
            if le == float("inf"):
                return prev_le
            return prev_le + (le - prev_le) * ((rank - prev_c) / max(c - prev_c, 1e-12))
        prev_le, prev_c = le, c
    return None
