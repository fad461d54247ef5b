"""A site's booking terms: the rules a driver agrees to before booking, as pure functions.

The names follow the booking terms of OCPI's draft Bookings module (``min/max_booking_duration``,
``noshow_timeout``, ``noshow_fee``, ``cancel_until_minutes``, ``change_until_minutes``,
``early_start_allowed``, ``late_stop_allowed``), in minutes and in the site's currency.

A site stores only the terms its operator set; the rest come from the installation's defaults
(:meth:`BookingTerms.merged`). A booking keeps the terms it was made under, as it keeps its
tariff: later changes to the site apply to later bookings only.

A booking *holds* its connector a little wider than its window: from ``early_start`` before
it (the code works from then) until ``late_stop`` plus ``buffer`` after it (the driver may
finish late; the next driver finds the bay free). Two bookings of one connector never hold
overlapping ranges: the database's exclusion constraint says so.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from csms.domain.money import format_money, parse_amount
from csms.domain.windows import WindowRules
from csms.errors import ValidationFailed

MINUTE = timedelta(minutes=1)
#: The widest any site's terms may be; a search across sites is judged by these first.
LOOSEST = WindowRules(
    min_length=timedelta(minutes=5), max_length=timedelta(days=7), max_ahead=timedelta(days=365)
)
#: Bounds of each whole-minute term, as an operator may set it.
_MINUTE_BOUNDS: dict[str, tuple[int, int]] = {
    "min_booking_minutes": (5, 24 * 60),
    "max_booking_minutes": (5, 7 * 24 * 60),
    "max_days_ahead": (1, 365),
    "noshow_timeout_minutes": (0, 24 * 60),
    "cancel_until_minutes": (0, 7 * 24 * 60),
    "change_until_minutes": (0, 7 * 24 * 60),
    "buffer_minutes": (0, 240),
    "early_start_minutes": (0, 240),
    "late_stop_minutes": (0, 240),
}
_FEES = ("noshow_fee", "cancel_fee")
#: Decimal terms: the fees (money) and the tax rate (a percentage).
_DECIMALS = (*_FEES, "tax_rate_percent")
MAX_TAX_RATE = Decimal(100)
FIELDS = frozenset(_MINUTE_BOUNDS) | frozenset(_DECIMALS)


@dataclasses.dataclass(frozen=True, slots=True)
class BookingTerms:
    """Every term of a site, each with its meaning."""

    #: Shortest and longest window, and how far ahead a window may start.
    min_booking_minutes: int = 15
    max_booking_minutes: int = 720
    max_days_ahead: int = 30
    #: How long after the window starts the connector waits for its driver; then the booking
    #: is a no-show, the connector is free for others, and ``noshow_fee`` is charged.
    noshow_timeout_minutes: int = 15
    noshow_fee: Decimal = Decimal(0)
    #: Cancelling is free until this long before the window starts; later it costs
    #: ``cancel_fee``.
    cancel_until_minutes: int = 0
    cancel_fee: Decimal = Decimal(0)
    #: The window may be moved until this long before it starts; after that only its end may
    #: be moved (extend or shorten) until the window is over.
    change_until_minutes: int = 0
    #: Kept free after every booking for the next driver to find the bay empty.
    buffer_minutes: int = 0
    #: The code works this long before the window starts; the session may go on this long
    #: after it ends. Both are held for the driver.
    early_start_minutes: int = 0
    late_stop_minutes: int = 0
    #: The tax (VAT) included in the site's prices, in percent; 0: receipts show none.
    tax_rate_percent: Decimal = Decimal(0)

    @classmethod
    def merged(cls, defaults: BookingTerms, given: Mapping[str, Any]) -> BookingTerms:
        """``defaults`` with what a site (or a booking's snapshot) sets, as stored (a None
        term sets nothing)."""
        values = {name: given[name] for name in FIELDS if given.get(name) is not None}
        for name in _DECIMALS:
            if name in values:
                values[name] = Decimal(str(values[name]))
        terms = dataclasses.replace(defaults, **values)
        return terms

    @property
    def window_rules(self) -> WindowRules:
        return WindowRules(
            min_length=self.min_booking_minutes * MINUTE,
            max_length=self.max_booking_minutes * MINUTE,
            max_ahead=timedelta(days=self.max_days_ahead),
        )

    def held(self, start: datetime, end: datetime) -> tuple[datetime, datetime]:
        """What a booking of [start, end) keeps from other drivers."""
        return (
            start - self.early_start_minutes * MINUTE,
            end + (self.late_stop_minutes + self.buffer_minutes) * MINUTE,
        )

    def noshow_at(self, start: datetime, end: datetime) -> datetime:
        """When an unused booking becomes a no-show (at the latest, when its window ends)."""
        return min(start + self.noshow_timeout_minutes * MINUTE, end)

    def code_valid_from(self, start: datetime) -> datetime:
        return start - self.early_start_minutes * MINUTE

    def cancel_is_late(self, start: datetime, now: datetime) -> bool:
        """Whether cancelling at ``now`` is past the free cancellation (it costs the fee)."""
        return now >= start - self.cancel_until_minutes * MINUTE

    def may_move_start(self, start: datetime, now: datetime) -> bool:
        return now < start - self.change_until_minutes * MINUTE


def loosest_window(defaults: BookingTerms, stored: Sequence[Mapping[str, Any]]) -> WindowRules:
    """Window rules that allow every window that the defaults, or any of these sites' own
    terms (the defaults filling in what one does not set), allow."""
    every = [defaults.window_rules]
    every += [BookingTerms.merged(defaults, site).window_rules for site in stored]
    return WindowRules(
        min_length=min(r.min_length for r in every),
        max_length=max(r.max_length for r in every),
        max_ahead=max(r.max_ahead for r in every),
    )


def check_terms(body: object) -> dict[str, Any]:
    """The terms a site sets, checked, as stored (fees as decimal strings); ``None`` for a
    term clears it (the default applies again). Raises :class:`ValidationFailed`."""
    if not isinstance(body, dict):
        raise ValidationFailed("terms must be an object")
    unknown = set(body) - FIELDS
    if unknown:
        raise ValidationFailed(f"unknown term(s): {', '.join(sorted(unknown))}")
    checked: dict[str, Any] = {}
    for name, value in body.items():
        if value is None:
            checked[name] = None
        elif name in _FEES:
            checked[name] = format_money(parse_amount(value, f"terms.{name}"))
        elif name == "tax_rate_percent":
            checked[name] = _tax_rate(value)
        else:
            checked[name] = _minutes(value, name)
    return checked


def check_consistent(terms: BookingTerms) -> None:
    """Terms that contradict each other (a shortest window longer than the longest)."""
    if terms.min_booking_minutes > terms.max_booking_minutes:
        raise ValidationFailed(
            "terms.min_booking_minutes must not be more than terms.max_booking_minutes"
        )


def stored_after(current: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """A site's stored terms after a change: given terms replace, ``None`` removes."""
    result = {k: v for k, v in current.items() if k in FIELDS}
    for name, value in changes.items():
        if value is None:
            result.pop(name, None)
        else:
            result[name] = value
    return result


#: The terms in the order the API shows them (the dataclass's).
_FIELD_ORDER = tuple(field.name for field in dataclasses.fields(BookingTerms))


def terms_json(terms: BookingTerms) -> dict[str, Any]:
    """The ``terms`` object of the API: every term, fees as money strings."""
    # Not dataclasses.asdict: it deep-copies every value, ten times slower on a search page.
    values = {name: getattr(terms, name) for name in _FIELD_ORDER}
    for name in _DECIMALS:
        values[name] = format_money(values[name])
    return values


def _minutes(value: object, name: str) -> int:
    low, high = _MINUTE_BOUNDS[name]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValidationFailed(f"terms.{name} must be a whole number from {low} to {high}")
    return value


def _tax_rate(value: object) -> str:
    rate = parse_amount(value, "terms.tax_rate_percent")
    if rate > MAX_TAX_RATE:
        raise ValidationFailed(f"terms.tax_rate_percent must be between 0 and {MAX_TAX_RATE}")
    return format_money(rate)
