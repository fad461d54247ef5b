"""Local authorization lists, sans I/O: what to send a charger so its list matches csms's id tags
(OCPP 1.6 S 3.5, 5.11 GetLocalListVersion, 5.16 SendLocalList).

Versions are numbers of one database sequence: every change of an id tag takes the next one
(schemas/migrations/0009). A charger's list "at version V" holds the id tags as of V, so a charger
that reports the version csms last sent it needs only the changes numbered above it (a
Differential update); any other answer (0: no list, a version csms never sent, a list reset by
the charger) calls for a Full update.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from csms.domain.authorization import IdTagInfo, IdTagRecord, decide
from csms.domain.timestamps import format_timestamp

#: GetLocalListVersion's answer when the charger has no local list support (S 5.11).
NOT_SUPPORTED = -1


@dataclasses.dataclass(frozen=True, slots=True)
class ListEntry:
    """One ``AuthorizationData`` (S 7.1): a tag and its info; no info removes the tag."""

    id_tag: str
    info: IdTagInfo | None

    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = {"idTag": self.id_tag}
        if self.info is not None:
            info: dict[str, Any] = {"status": str(self.info.status)}
            if self.info.expiry_date is not None:
                info["expiryDate"] = format_timestamp(self.info.expiry_date)
            if self.info.parent_id_tag is not None:
                info["parentIdTag"] = self.info.parent_id_tag
            data["idTagInfo"] = info
        return data


def entry_for(record: IdTagRecord, now: datetime) -> ListEntry:
    """A card as the charger should judge it offline: its status now, and its expiry, after
    which the charger itself treats it as expired (S 7.27)."""
    return ListEntry(record.id_tag, decide(record, now))


@dataclasses.dataclass(frozen=True, slots=True)
class SendLocalList:
    """One SendLocalList.req (S 6.39)."""

    version: int
    update_type: str  # "Full" or "Differential"
    entries: tuple[ListEntry, ...]

    def payload(self) -> dict[str, Any]:
        return {
            "listVersion": self.version,
            "updateType": self.update_type,
            "localAuthorizationList": [entry.payload() for entry in self.entries],
        }


@dataclasses.dataclass(frozen=True, slots=True)
class SyncPlan:
    """The messages that bring a charger's list to ``version`` (none: it is there already),
    or why it cannot be brought (``problem``)."""

    version: int
    messages: tuple[SendLocalList, ...] = ()
    problem: str | None = None


def plan_sync(
    *,
    charger_version: int,
    sent_version: int | None,
    current_version: int,
    full: Sequence[ListEntry],
    changes: Sequence[ListEntry],
    max_per_message: int,
    max_length: int | None,
) -> SyncPlan:
    """What to send a charger that reports ``charger_version``.

    ``sent_version`` is what csms last sent it (None: never), ``full`` every tag now and
    ``changes`` the tags and removals numbered above ``sent_version``. A list longer than the
    charger holds (``LocalAuthListMaxLength``) is not sent at all: a partial list would refuse
    cards the CSMS accepts.
    """
    if charger_version == NOT_SUPPORTED:
        return SyncPlan(charger_version, problem="the charger keeps no local list")
    if max_length is not None and len(full) > max_length:
        return SyncPlan(
            charger_version,
            problem=f"{len(full)} id tags, the charger holds {max_length} (LocalAuthListMaxLength)",
        )
    in_step = sent_version is not None and charger_version == sent_version
    if in_step and charger_version == current_version:
        return SyncPlan(current_version)
    if in_step:
        return SyncPlan(current_version, _batches("Differential", changes, current_version,
                                                  max_per_message))
    if not full and charger_version == 0:
        return SyncPlan(0)  # Nothing to hold, and the charger holds nothing.
    return SyncPlan(current_version, _batches("Full", full, current_version, max_per_message))


def _batches(
    update_type: str, entries: Sequence[ListEntry], version: int, size: int
) -> tuple[SendLocalList, ...]:
    """``entries`` in messages of at most ``size``; only the first of a Full update replaces the
    list, the rest add to it. Versions rise to ``version`` with the last message, so a charger
    that missed one reports a version csms did not finish at, and is sent a Full update again.
    Each earlier number is still above the charger's old version: each entry took a number."""
    size = max(size, 1)
    chunks = [tuple(entries[i : i + size]) for i in range(0, len(entries), size)] or [()]
    count = len(chunks)
    return tuple(
        SendLocalList(
            max(version - (count - 1 - n), 1),
            update_type if n == 0 else "Differential",
            chunk,
        )
        for n, chunk in enumerate(chunks)
    )
