"""Rules for sites."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from csms.errors import ValidationFailed


def check_timezone(value: object) -> str:
    """An IANA time zone name such as ``Europe/Berlin`` (tariffs are written in it)."""
    if not isinstance(value, str) or not 1 <= len(value) <= 64 or value.startswith(("/", ".")):
        raise ValidationFailed("timezone must be an IANA time zone name such as Europe/Berlin")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationFailed(f"unknown time zone {value!r}") from None
    return value
