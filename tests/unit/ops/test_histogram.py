"""histogram_quantile interpolates inside a bucket as Prometheus does."""

from kmm.ops.histogram import histogram_quantile

INF = float("inf")


def test_linear_inside_the_bucket_and_the_last_bound_for_inf() -> None:
    counts = {0.001: 2.0, 0.002: 6.0, INF: 10.0}
    assert histogram_quantile(counts, 0.5) == 0.00175  # rank 5: three quarters into (1 ms, 2 ms]
    assert histogram_quantile(counts, 0.1) == 0.0005
    assert histogram_quantile(counts, 0.99) == 0.002  # in +Inf: the highest finite bound


def test_an_empty_histogram_has_no_quantile() -> None:
    assert histogram_quantile({}, 0.5) is None
    assert histogram_quantile({0.001: 0.0, INF: 0.0}, 0.5) is None
