"""The set of metric sample names kmm exports, read from :mod:`kmm.chassis.metrics` itself."""

import re

from prometheus_client.metrics import MetricWrapperBase

from kmm.chassis import metrics

METRIC_NAME = re.compile(r"\bkmm_[a-z0-9_]+\b")
_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "info": ("_info",),
    "gauge": ("",),
}


def exported_names() -> set[str]:
    """Every sample name (``_total``, ``_bucket``, ``_info`` … included) the catalog can expose."""
    names: set[str] = set()
    for obj in vars(metrics).values():
        if isinstance(obj, MetricWrapperBase):
            for family in obj.describe():
                names.update(family.name + s for s in _SUFFIXES[family.type])
    return names


def referenced_names(text: str) -> set[str]:
    """The ``kmm_*`` metric names mentioned in a PromQL expression or a whole file."""
    return set(METRIC_NAME.findall(text))
