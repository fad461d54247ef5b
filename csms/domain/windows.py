"""Booking windows: what a driver may ask for."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

from csms.errors import ValidationFailed


class InvalidWindow(ValidationFailed):
    """The booking window breaks a rule."""

    code = "invalid_window"


@dataclasses.dataclass(frozen=True, slots=True)
class WindowRules:
    min_length: timedelta = timedelta(minutes=15)
    max_length: timedelta = timedelta(hours=12)
    max_ahead: timedelta = timedelta(days=30)
    #: A window may start this long before now: the form took a moment, clocks differ.
    start_grace: timedelta = timedelta(minutes=5)


def check_window(start: datetime, end: datetime, now: datetime, rules: WindowRules) -> None:
    """Raise :class:`InvalidWindow` unless [start, end) is bookable at ``now``.

    A window may start right away (a driver on the way books the next hour).
    """
    if end <= start:
        raise InvalidWindow("the window must end after it starts")
    if end - start < rules.min_length:
        raise InvalidWindow(
            f"the window must be at least {_minutes(rules.min_length)} minutes long"
        )
    if end - start > rules.max_length:
        raise InvalidWindow(f"the window must be at most {_minutes(rules.max_length)} minutes long")
    if start < now - rules.start_grace:
        raise InvalidWindow("the window starts in the past")
    if start > now + rules.max_ahead:
        raise InvalidWindow(f"the window may start at most {rules.max_ahead.days} days ahead")


def _minutes(delta: timedelta) -> int:
    return int(delta.total_seconds() // 60)
