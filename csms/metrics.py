"""Prometheus metrics in process: counters, gauges and histograms with bounded label sets, and
the text exposition format 0.0.4 (``/metrics``, csms.api.service).

In-house rather than ``prometheus_client``: ~200 lines cover what csms needs, every sample gets
the node's label at render time (several nodes behind one address are told apart, and tests run
several apps in one process), and a label set can never grow without bound — a family keeps at
most ``max_series`` label combinations and counts the rest under ``(other)``, so a charger or an
HTTP client inventing names cannot grow a scrape or the process.

Families are created once at import (:func:`counter`, :func:`gauge`, :func:`histogram`) in the
module that updates them, and registered in :data:`REGISTRY`; updating one is a dict lookup and
an addition, safe on the event loop (no locks: csms updates them from one thread).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence

#: The label value that stands for every combination beyond a family's ``max_series``.
OTHER = "(other)"
#: Latency buckets (seconds) from 1 ms to 1 min: HTTP requests, OCPP calls, flushes.
LATENCY_BUCKETS = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
)

Labels = tuple[str, ...]
#: One sample as rendered: the name's suffix (``""``, ``"_bucket"`` …), its labels, its value.
Sample = tuple[str, Mapping[str, str], float]


class Family:
    """A metric family: a name, a help text, a type and the label names of its series."""

    type = "untyped"

    def __init__(
        self, name: str, help_text: str, labelnames: Sequence[str] = (), max_series: int = 200
    ) -> None:
        self.name = name
        self.help = help_text
        self.labelnames = tuple(labelnames)
        self.max_series = max_series

    def _key(self, values: Sequence[str], known: Mapping[Labels, object]) -> Labels:
        if len(values) != len(self.labelnames):
            raise ValueError(f"{self.name} takes labels {self.labelnames}, not {values!r}")
        key = tuple(values)
        if key in known or len(known) < self.max_series:
            return key
        return (OTHER,) * len(self.labelnames)

    def samples(self) -> Iterator[Sample]:
        raise NotImplementedError


class Counter(Family):
    """Only goes up (a restart starts it from 0 again, as Prometheus expects)."""

    type = "counter"

    def __init__(
        self, name: str, help_text: str, labelnames: Sequence[str] = (), max_series: int = 200
    ) -> None:
        super().__init__(name, help_text, labelnames, max_series)
        self._values: dict[Labels, float] = {}

    def inc(self, *labels: str, amount: float = 1.0) -> None:
        if amount < 0:
            raise ValueError("a counter never goes down")
        key = self._key(labels, self._values)
        self._values[key] = self._values.get(key, 0.0) + amount

    def value(self, *labels: str) -> float:
        return self._values.get(tuple(labels), 0.0)

    def samples(self) -> Iterator[Sample]:
        for key, value in sorted(self._values.items()):
            yield "", dict(zip(self.labelnames, key, strict=True)), value


class Gauge(Counter):
    """Goes up and down; :meth:`set` replaces the value."""

    type = "gauge"

    def inc(self, *labels: str, amount: float = 1.0) -> None:
        key = self._key(labels, self._values)
        self._values[key] = self._values.get(key, 0.0) + amount

    def set(self, value: float, *labels: str) -> None:
        self._values[self._key(labels, self._values)] = value


class Histogram(Family):
    """Counts observations into cumulative buckets (``le``), with their sum and count."""

    type = "histogram"

    def __init__(
        self,
        name: str,
        help_text: str,
        labelnames: Sequence[str] = (),
        buckets: Sequence[float] = LATENCY_BUCKETS,
        max_series: int = 200,
    ) -> None:
        if "le" in labelnames:
            raise ValueError("'le' is the bucket label of a histogram")
        super().__init__(name, help_text, labelnames, max_series)
        self.buckets = tuple(sorted(buckets))
        #: Per series: counts per bucket (the last is +Inf, not cumulative), then the sum.
        self._series: dict[Labels, tuple[list[int], list[float]]] = {}

    def observe(self, value: float, *labels: str) -> None:
        key = self._key(labels, self._series)
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = ([0] * (len(self.buckets) + 1), [0.0])
        series[0][bisect.bisect_left(self.buckets, value)] += 1
        series[1][0] += value

    def count(self, *labels: str) -> int:
        series = self._series.get(tuple(labels))
        return 0 if series is None else sum(series[0])

    def samples(self) -> Iterator[Sample]:
        for key, (counts, total) in sorted(self._series.items()):
            labels = dict(zip(self.labelnames, key, strict=True))
            running = 0
            for bound, count in zip((*self.buckets, math.inf), counts, strict=True):
                running += count
                yield "_bucket", {**labels, "le": format_value(bound)}, running
            yield "_sum", labels, total[0]
            yield "_count", labels, running


class Snapshot(Family):
    """A family whose samples are computed at scrape time (from the database, a pool, …)."""

    def __init__(
        self, name: str, help_text: str, kind: str, samples: Iterable[Sample] = ()
    ) -> None:
        super().__init__(name, help_text)
        self.type = kind
        self._samples = list(samples)

    def samples(self) -> Iterator[Sample]:
        yield from self._samples


class Registry:
    """The families a process updates, in the order they were made."""

    def __init__(self) -> None:
        self._families: dict[str, Family] = {}

    def add(self, family: Family) -> Family:
        if family.name in self._families:
            raise ValueError(f"a metric named {family.name} exists already")
        self._families[family.name] = family
        return family

    def families(self) -> list[Family]:
        return list(self._families.values())


REGISTRY = Registry()


def counter(name: str, help_text: str, labelnames: Sequence[str] = (), **kw: int) -> Counter:
    family = Counter(name, help_text, labelnames, **kw)
    REGISTRY.add(family)
    return family


def gauge(name: str, help_text: str, labelnames: Sequence[str] = (), **kw: int) -> Gauge:
    family = Gauge(name, help_text, labelnames, **kw)
    REGISTRY.add(family)
    return family


def histogram(
    name: str, help_text: str, labelnames: Sequence[str] = (),
    buckets: Sequence[float] = LATENCY_BUCKETS,
) -> Histogram:
    family = Histogram(name, help_text, labelnames, buckets)
    REGISTRY.add(family)
    return family


def format_value(value: float) -> str:
    """A sample value as the text format writes it (``1`` for whole numbers, ``+Inf``)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(float(value))


def _escape_label(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def render(families: Iterable[Family], const_labels: Mapping[str, str]) -> str:
    """The text exposition format 0.0.4 of ``families``; ``const_labels`` (the node) come first
    on every sample."""
    lines: list[str] = []
    for family in families:
        lines.append(f"# HELP {family.name} {_escape_help(family.help)}")
        lines.append(f"# TYPE {family.name} {family.type}")
        for suffix, labels, value in family.samples():
            pairs = ",".join(
                f'{key}="{_escape_label(str(text))}"'
                for key, text in {**const_labels, **labels}.items()
            )
            lines.append(f"{family.name}{suffix}{{{pairs}}} {format_value(value)}")
    return "\n".join(lines) + "\n"
