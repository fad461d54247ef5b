"""The in-house Prometheus registry: bounded label sets, cumulative buckets, escaping, and an
exposition a strict parser accepts."""

from __future__ import annotations

import pytest

from csms.metrics import OTHER, Counter, Gauge, Histogram, render
from tests.prometheus_text import parse


def test_a_family_never_grows_beyond_its_bound() -> None:
    calls = Counter("t_calls_total", "Calls.", ("action",), max_series=3)
    for n in range(100):
        calls.inc(f"made-up-{n}")
    families = parse(render([calls], {"node": "n1"}))
    samples = families["t_calls_total"].samples
    assert len(samples) == 4
    assert families["t_calls_total"].value(action=OTHER) == 97


def test_histogram_buckets_are_cumulative_with_sum_and_count() -> None:
    latency = Histogram("t_seconds", "Latency.", ("route",), buckets=(0.1, 1.0))
    for value in (0.05, 0.1, 0.5, 5.0):
        latency.observe(value, "/a")
    family = parse(render([latency], {"node": "n1"}))["t_seconds"]
    assert [family.value("t_seconds_bucket", route="/a", le=le) for le in ("0.1", "1", "+Inf")] \
        == [2, 3, 4]
    assert family.value("t_seconds_sum", route="/a") == pytest.approx(5.65)
    assert family.value("t_seconds_count", route="/a") == 4


def test_labels_and_help_are_escaped() -> None:
    gauge = Gauge("t_gauge", 'Help with \\ and\nnewline.', ("name",))
    gauge.set(1.5, 'a "quoted"\\ \n name')
    text = render([gauge], {"node": 'node"1'})
    assert "# HELP t_gauge Help with \\\\ and\\nnewline." in text
    family = parse(text)["t_gauge"]
    assert family.samples == [
        ("t_gauge", (("name", 'a "quoted"\\ \n name'), ("node", 'node"1')), 1.5)
    ]


def test_wrong_use_is_refused() -> None:
    calls = Counter("t_refused_total", "Calls.", ("action",))
    with pytest.raises(ValueError):
        calls.inc("a", "b")
    with pytest.raises(ValueError):
        calls.inc("a", amount=-1)
    with pytest.raises(ValueError):
        Histogram("t_h", "H.", ("le",))
