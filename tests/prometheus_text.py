"""A strict parser of the Prometheus text exposition format 0.0.4, for tests: it fails on
anything a Prometheus server would refuse or misread (a sample before its TYPE, a bad name, a
label written twice, buckets that shrink, a histogram without ``+Inf``)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_LABEL = r"[a-zA-Z_][a-zA-Z0-9_]*"
_SAMPLE = re.compile(rf"^({_NAME})(?:\{{(.*)\}})? (\S+)$")
_PAIR = re.compile(rf'({_LABEL})="((?:[^"\\\n]|\\[\\"n])*)"(,|$)')
_TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}
_SUFFIXES = {"histogram": ("_bucket", "_sum", "_count"), "summary": ("_sum", "_count", "")}

Labels = tuple[tuple[str, str], ...]


@dataclass
class MetricFamily:
    name: str
    type: str
    help: str
    #: (sample name, labels sorted, value)
    samples: list[tuple[str, Labels, float]] = field(default_factory=list)

    def value(self, sample: str | None = None, **labels: str) -> float:
        """The value of the one sample with exactly these labels (besides ``node``); 0 if none."""
        name = sample or self.name
        found = [
            v for n, ls, v in self.samples
            if n == name and {k: x for k, x in ls if k != "node"} == labels
        ]
        assert len(found) <= 1, (name, labels, found)
        return found[0] if found else 0.0


def _labels(text: str) -> Labels:
    pairs: dict[str, str] = {}
    position = 0
    while position < len(text):
        match = _PAIR.match(text, position)
        assert match, f"bad labels at {text[position:]!r}"
        key, value = match.group(1), match.group(2)
        assert key not in pairs, f"label {key} twice"
        pairs[key] = value.replace("\\n", "\n").replace('\\"', '"').replace("\\\\", "\\")
        position = match.end()
    return tuple(sorted(pairs.items()))


def parse(text: str) -> dict[str, MetricFamily]:
    """Every family of ``text``, strictly (an assertion fails on the first fault)."""
    assert text.endswith("\n"), "the exposition ends with a newline"
    families: dict[str, MetricFamily] = {}
    helps: dict[str, str] = {}
    current: MetricFamily | None = None
    for line in text[:-1].split("\n"):
        if line.startswith("# HELP "):
            name, _, help_text = line[7:].partition(" ")
            assert re.fullmatch(_NAME, name) and name not in helps, line
            helps[name] = help_text
        elif line.startswith("# TYPE "):
            name, _, kind = line[7:].partition(" ")
            assert kind in _TYPES and name not in families, line
            assert name in helps, f"TYPE before HELP for {name}"
            current = families[name] = MetricFamily(name, kind, helps[name])
        else:
            assert not line.startswith("#") and line, f"unexpected line {line!r}"
            match = _SAMPLE.match(line)
            assert match and current is not None, f"bad sample {line!r}"
            sample, value = match.group(1), float(match.group(3))
            allowed = [current.name + s for s in _SUFFIXES.get(current.type, ("",))]
            assert sample in allowed, f"{sample} under the TYPE of {current.name}"
            current.samples.append((sample, _labels(match.group(2) or ""), value))
    for family in families.values():
        if family.type == "histogram":
            _check_histogram(family)
    return families


def _check_histogram(family: MetricFamily) -> None:
    series: dict[Labels, list[tuple[float, float]]] = {}
    counts: dict[Labels, float] = {}
    for name, labels, value in family.samples:
        plain = tuple((k, v) for k, v in labels if k != "le")
        if name.endswith("_bucket"):
            le = dict(labels)["le"]
            series.setdefault(plain, []).append((float(le), value))
        elif name.endswith("_count"):
            counts[plain] = value
    for plain, buckets in series.items():
        bounds = [b for b, _ in buckets]
        assert bounds == sorted(bounds) and math.isinf(bounds[-1]), (family.name, bounds)
        values = [v for _, v in buckets]
        assert values == sorted(values), f"{family.name} buckets shrink: {values}"
        assert counts.get(plain) == values[-1], f"{family.name}: +Inf bucket != count"
