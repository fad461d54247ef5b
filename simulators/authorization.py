"""Local authorization: the Local Authorization List and the Authorization Cache (S 3.5).

The list is managed by the CSMS with SendLocalList (S 5.15) and versioned; the cache remembers the
``idTagInfo`` of every Authorize / StartTransaction / StopTransaction answer (S 3.5.1). The list
takes precedence over the cache (S 3.5.3). idTags are CiString20: compared without case.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from ocpp.v16.enums import AuthorizationStatus, UpdateStatus, UpdateType

from simulators.protocol import Payload, format_time, parse_time

CACHE_MAX_ENTRIES = 1000


@dataclasses.dataclass(frozen=True, slots=True)
class IdTagInfo:
    """What the CSMS said about an idTag (S 7.27)."""

    status: str
    expiry: datetime | None = None
    parent_id_tag: str | None = None

    @classmethod
    def from_payload(cls, payload: object) -> IdTagInfo:
        """Read an ``idTagInfo`` object leniently; anything unreadable counts as Invalid."""
        if not isinstance(payload, dict):
            return cls(AuthorizationStatus.invalid)
        status = payload.get("status")
        if status not in set(AuthorizationStatus):
            status = AuthorizationStatus.invalid
        try:
            expiry = parse_time(payload["expiryDate"]) if "expiryDate" in payload else None
        except ValueError:
            expiry = None
        parent = payload.get("parentIdTag")
        return cls(str(status), expiry, parent if isinstance(parent, str) and parent else None)

    def to_payload(self) -> Payload:
        payload: Payload = {"status": self.status}
        if self.expiry is not None:
            payload["expiryDate"] = format_time(self.expiry)
        if self.parent_id_tag is not None:
            payload["parentIdTag"] = self.parent_id_tag
        return payload

    def valid_at(self, now: datetime) -> bool:
        """Accepted and not past its expiryDate."""
        return self.status == AuthorizationStatus.accepted and (
            self.expiry is None or now < self.expiry
        )


def same_tag(a: str | None, b: str | None) -> bool:
    """CiString comparison of two idTags; None never matches."""
    return a is not None and b is not None and a.lower() == b.lower()


class LocalAuthorization:
    """The Local Authorization List and the Authorization Cache of one charger."""

    __slots__ = ("_cache", "_list", "list_version")

    def __init__(self) -> None:
        self.list_version = 0
        self._list: dict[str, IdTagInfo] = {}
        self._cache: dict[str, IdTagInfo] = {}

    def lookup(self, id_tag: str, *, use_list: bool, use_cache: bool) -> IdTagInfo | None:
        """The list's entry for ``id_tag`` if enabled and present, else the cache's, else None."""
        key = id_tag.lower()
        if use_list and key in self._list:
            return self._list[key]
        if use_cache:
            return self._cache.get(key)
        return None

    def parent_of(self, id_tag: str) -> str | None:
        """The parentIdTag we know for ``id_tag`` from the list or the cache."""
        info = self._list.get(id_tag.lower()) or self._cache.get(id_tag.lower())
        return info.parent_id_tag if info else None

    def remember(self, id_tag: str, info: IdTagInfo) -> None:
        """Store an answer in the cache (S 3.5.1); the oldest entry goes when it is full."""
        key = id_tag.lower()
        self._cache.pop(key, None)
        if len(self._cache) >= CACHE_MAX_ENTRIES:
            del self._cache[next(iter(self._cache))]
        self._cache[key] = info

    def clear_cache(self) -> None:
        """ClearCache (S 5.4)."""
        self._cache.clear()

    @property
    def reported_version(self) -> int:
        """GetLocalListVersion (S 5.10): 0 when the list is empty."""
        return self.list_version if self._list else 0

    def __len__(self) -> int:
        return len(self._list)

    def update(
        self, version: int, update_type: str, entries: Iterable[Any], max_length: int
    ) -> UpdateStatus:
        """Apply a SendLocalList (S 5.15) and return its status.

        Full replaces the list. Differential adds/updates entries that carry ``idTagInfo`` and
        removes those that do not; its version must be newer than ours (else VersionMismatch).
        A list that would exceed ``max_length`` → Failed, and nothing changes.
        """
        items = [entry for entry in entries if isinstance(entry, dict) and "idTag" in entry]
        if update_type == UpdateType.differential and version <= self.list_version:
            return UpdateStatus.version_mismatch
        new = {} if update_type == UpdateType.full else dict(self._list)
        for entry in items:
            key = str(entry["idTag"]).lower()
            if "idTagInfo" in entry:
                new[key] = IdTagInfo.from_payload(entry["idTagInfo"])
            else:
                new.pop(key, None)
        if len(new) > max_length:
            return UpdateStatus.failed
        self._list, self.list_version = new, version
        return UpdateStatus.accepted
