"""Timestamps as OCPP and the HTTP API write them.

Chargers send RFC 3339 with any offset, with or without fractions, and some send no offset at
all; we read all of those (naive means UTC). We always write UTC with a ``Z`` suffix and
milliseconds: OCPP-J 1.6 allows offsets, but several chargers in the field break on ``+00:00``.
"""

from __future__ import annotations

from datetime import UTC, datetime


class TimestampError(ValueError):
    """The text is not an RFC 3339 date-time."""


#: The first and the last microsecond a datetime can hold. asyncpg writes them as PostgreSQL's
#: -infinity and infinity and reads those back as naive datetimes: no stored time may be either.
UNSTORABLE = frozenset({datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC)})


def parse_timestamp(text: str, *, require_offset: bool = False) -> datetime:
    """Return the aware UTC datetime that ``text`` names.

    Without an offset the time is taken as UTC (chargers in the field send such times), unless
    ``require_offset`` (RFC 3339 proper, as the HTTP API asks).

    Only :class:`TimestampError` is raised, whatever the text (both edges turn it into a
    refusal: HTTP 422, an OCPP CALLERROR): also for a time that is valid where it was written
    but outside the years 1-9999 in UTC, such as ``0001-01-01T00:00:00+01:00``, and for the
    two instants that cannot be stored (:data:`UNSTORABLE`).

    >>> parse_timestamp("2026-01-02T03:04:05.123+01:00").isoformat()
    '2026-01-02T02:04:05.123000+00:00'
    """
    if not isinstance(text, str) or len(text) < 19 or text[10] not in "Tt ":
        raise TimestampError(f"not an RFC 3339 date-time: {text!r}")
    try:
        moment = datetime.fromisoformat(text.upper())  # RFC 3339 allows "t" and "z".
    except ValueError:
        raise TimestampError(f"not an RFC 3339 date-time: {text!r}") from None
    if moment.tzinfo is None and require_offset:
        raise TimestampError(f"an RFC 3339 date-time needs an offset or Z: {text!r}")
    try:
        utc = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except OverflowError:
        # The offset moves it past 0001-01-01 or 9999-12-31, which datetime cannot hold.
        raise TimestampError(f"outside the years 1-9999 in UTC: {text!r}") from None
    if utc in UNSTORABLE:
        raise TimestampError(f"a time that would be stored as infinity: {text!r}")
    return utc


def format_timestamp(moment: datetime) -> str:
    """Write ``moment`` as UTC with millisecond precision and a ``Z`` suffix.

    >>> format_timestamp(datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC))
    '2026-01-02T03:04:05.678Z'
    """
    if moment.tzinfo is None:
        raise TimestampError("naive datetimes are ambiguous; pass an aware one")
    utc = moment.astimezone(UTC)
    # Not strftime's %Y: glibc writes year 1 as "1", which no RFC 3339 reader accepts.
    return (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T{utc.hour:02d}:{utc.minute:02d}:"
        f"{utc.second:02d}.{utc.microsecond // 1000:03d}Z"
    )
