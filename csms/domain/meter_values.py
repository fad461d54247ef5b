"""Meter values as chargers report them (S 7.31, 7.43): flattened to one sample per value; and
a transaction's energy register as stored (what :mod:`csms.booking.cost` prices)."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from decimal import Decimal
from typing import Any

from csms.domain.timestamps import parse_timestamp

#: S 7.43: the measurand when a sampledValue names none.
DEFAULT_MEASURAND = "Energy.Active.Import.Register"


@dataclasses.dataclass(frozen=True, slots=True)
class Sample:
    sampled_at: datetime
    measurand: str
    value: str
    phase: str | None = None
    location: str | None = None
    context: str | None = None
    format: str | None = None
    unit: str | None = None


def flatten(meter_values: list[dict[str, Any]]) -> list[Sample]:
    """One :class:`Sample` per ``sampledValue`` of each ``MeterValue``; payload is schema-valid.

    Duplicates within one message (same time, measurand, phase, location, context) keep the
    first: the store stores each such sample once.
    """
    samples: dict[tuple[Any, ...], Sample] = {}
    for meter_value in meter_values:
        sampled_at = parse_timestamp(meter_value["timestamp"])
        for value in meter_value["sampledValue"]:
            sample = Sample(
                sampled_at=sampled_at,
                measurand=value.get("measurand", DEFAULT_MEASURAND),
                value=value["value"],
                phase=value.get("phase"),
                location=value.get("location"),
                context=value.get("context"),
                format=value.get("format"),
                unit=value.get("unit"),
            )
            key = (sampled_at, sample.measurand, sample.phase, sample.location, sample.context)
            samples.setdefault(key, sample)
    return list(samples.values())


@dataclasses.dataclass(frozen=True, slots=True, order=True)
class Reading:
    at: datetime
    wh: Decimal


@dataclasses.dataclass(frozen=True, slots=True)
class Meter:
    """One transaction's energy register as stored, with when the CSMS heard of each end."""

    started_at: datetime
    start_received_at: datetime
    meter_start: Decimal
    stopped_at: datetime
    stop_received_at: datetime
    meter_stop: Decimal
    samples: tuple[Reading, ...] = ()
