"""Who may charge: the idTag decision of Authorize and StartTransaction (S 5.2, 6.2, 7.27).

idTags are CiString20 (S 7.5): compared without regard to case, at most 20 characters.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from enum import StrEnum

ID_TAG_MAX_LENGTH = 20


class AuthorizationStatus(StrEnum):
    """``idTagInfo.status`` (S 7.2)."""

    ACCEPTED = "Accepted"
    BLOCKED = "Blocked"
    EXPIRED = "Expired"
    INVALID = "Invalid"
    CONCURRENT_TX = "ConcurrentTx"


@dataclasses.dataclass(frozen=True, slots=True)
class IdTagRecord:
    """What the CSMS knows of one idTag."""

    id_tag: str
    parent_id_tag: str | None = None
    expiry_date: datetime | None = None
    blocked: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class IdTagInfo:
    """The answer a charger gets for an idTag (S 7.27)."""

    status: AuthorizationStatus
    expiry_date: datetime | None = None
    parent_id_tag: str | None = None


def driver_group_tag(user_id: int) -> str:
    """The ``parentIdTag`` shared by a driver's cards and their bookings (S 7.27).

    A charger holding a booking with this parent lets any card of the same parent start
    (S 5.13; OCTT 053), so a driver may tap their card instead of typing the code.
    """
    return f"DRIVER-{user_id}"


def normalize_id_tag(id_tag: str) -> str:
    """The form idTags are compared in (CiString: case-insensitive)."""
    return id_tag.casefold()


def decide(
    record: IdTagRecord | None, now: datetime, *, has_other_transaction: bool = False
) -> IdTagInfo:
    """Decide the ``idTagInfo`` for an idTag at ``now``.

    ``has_other_transaction`` is only known (and only meaningful) at StartTransaction: the tag
    already has an unfinished transaction elsewhere, so this one is ``ConcurrentTx`` (S 7.2).
    """
    if record is None:
        return IdTagInfo(AuthorizationStatus.INVALID)
    if record.blocked:
        return IdTagInfo(AuthorizationStatus.BLOCKED, parent_id_tag=record.parent_id_tag)
    if record.expiry_date is not None and record.expiry_date <= now:
        return IdTagInfo(AuthorizationStatus.EXPIRED, record.expiry_date, record.parent_id_tag)
    if has_other_transaction:
        return IdTagInfo(
            AuthorizationStatus.CONCURRENT_TX, record.expiry_date, record.parent_id_tag
        )
    return IdTagInfo(AuthorizationStatus.ACCEPTED, record.expiry_date, record.parent_id_tag)
