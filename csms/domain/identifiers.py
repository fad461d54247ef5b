"""OCPP integer identifiers: ``transactionId`` and ``reservationId`` are int32 (S 6, 7)."""

from __future__ import annotations

INT32_MAX = 2**31 - 1


def as_int32_id(value: object) -> int | None:
    """``value`` when it can name a stored row (a positive int32), else None.

    Chargers send -1 for "none" and, now and then, numbers no CSMS ever gave out; both simply
    match nothing.
    """
    if type(value) is int and 0 < value <= INT32_MAX:
        return value
    return None
