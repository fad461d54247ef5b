"""A booking as an iCalendar file (RFC 5545): one VCALENDAR with one VEVENT.

Pure text: lines end in CRLF (3.1), are folded at 75 octets with a space starting each
continuation and never inside a UTF-8 character, and TEXT values escape backslash, semicolon,
comma and newline (3.3.11). Times are UTC (``…Z``). The UID is stable per booking (its id and
when it was made), so a calendar that imports the file again updates the same event.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

PRODID = "-//csms//booking calendar//EN"
LINE_OCTETS = 75
_ENDED = frozenset({"cancelled", "expired", "failed"})


@dataclasses.dataclass(frozen=True, slots=True)
class CalendarBooking:
    reservation_id: int
    created_at: datetime
    start: datetime
    end: datetime
    status: str
    site_name: str | None
    site_address: str | None
    latitude: float | None
    longitude: float | None
    charge_point_id: str
    connector_id: int
    #: Given only when the file is for the booking's owner.
    code: str | None


def escape_text(value: str) -> str:
    r"""A TEXT value (RFC 5545 3.3.11).

    >>> escape_text('a,b;c\\d\ne')
    'a\\,b\\;c\\\\d\\ne'
    """
    return (
        value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
        .replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\\n")
    )


def fold(line: str) -> str:
    """``line`` folded into lines of at most 75 octets (CRLF and a space between them), cut
    only between characters.

    >>> fold("X" * 80) == "X" * 75 + "\\r\\n " + "X" * 5
    True
    """
    pieces: list[str] = []
    current, size, limit = "", 0, LINE_OCTETS
    for char in line:
        octets = len(char.encode())
        if size + octets > limit:
            pieces.append(current)
            current, size, limit = "", 0, LINE_OCTETS - 1  # The leading space is an octet.
        current += char
        size += octets
    pieces.append(current)
    return "\r\n ".join(pieces)


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _location(booking: CalendarBooking) -> str | None:
    parts = [p for p in (booking.site_name, booking.site_address) if p]
    return ", ".join(parts) or None


def booking_calendar(booking: CalendarBooking, now: datetime) -> str:
    """The ``text/calendar`` body for ``booking``, stamped ``now``. DESCRIPTION names the
    charger and connector, and the code only when :attr:`CalendarBooking.code` is given; a
    booking that ended without charging is ``STATUS:CANCELLED``."""
    where = f"Charger {booking.charge_point_id}, connector {booking.connector_id}"
    description = where + (f"\nCode: {booking.code}" if booking.code else "")
    site = booking.site_name or booking.charge_point_id
    properties = [
        ("UID", f"csms-booking-{booking.reservation_id}-{_utc(booking.created_at)}@csms"),
        ("DTSTAMP", _utc(now)),
        ("DTSTART", _utc(booking.start)),
        ("DTEND", _utc(booking.end)),
        ("SUMMARY", escape_text(f"Charging at {site} (booking {booking.reservation_id})")),
        ("DESCRIPTION", escape_text(description)),
        ("STATUS", "CANCELLED" if booking.status in _ENDED else "CONFIRMED"),
    ]
    location = _location(booking)
    if location is not None:
        properties.append(("LOCATION", escape_text(location)))
    if booking.latitude is not None and booking.longitude is not None:
        properties.append(("GEO", f"{booking.latitude:.6f};{booking.longitude:.6f}"))
    lines = [
        "BEGIN:VCALENDAR", "VERSION:2.0", f"PRODID:{PRODID}", "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH", "BEGIN:VEVENT",
        *(f"{name}:{value}" for name, value in properties),
        "END:VEVENT", "END:VCALENDAR",
    ]
    return "".join(fold(line) + "\r\n" for line in lines)
