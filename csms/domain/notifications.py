"""Notifications, the pure part: event types, webhook subscriptions, signatures, retry timing
and the text of an email. Which booking change is which event is decided in SQL, in one place:
:data:`csms.store.notifications.EVENT_TYPE`."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import random
import urllib.parse
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from csms.errors import ValidationFailed

#: Every event type, in the order of a booking's life.
EVENT_TYPES = (
    "booked", "reminder", "reserved", "moved", "failed", "no_show", "cancelled", "completed",
)
SIGNATURE_HEADER = "X-Csms-Signature"
MAX_URL_LENGTH = 2000
SECRET_LENGTH = (16, 200)
#: Retry waits double from the first one up to this.
MAX_RETRY_DELAY = timedelta(hours=1)


@dataclasses.dataclass(frozen=True, slots=True)
class WebhookSpec:
    url: str
    secret: str
    events: tuple[str, ...]


def webhook_spec(url: object, secret: object, events: object) -> WebhookSpec:
    """A subscription as an operator asked for it, or :class:`ValidationFailed` (422): an
    http(s) URL with a host of at most :data:`MAX_URL_LENGTH` characters, a secret of
    :data:`SECRET_LENGTH` characters, and one or more known event types (each once)."""
    if not isinstance(url, str) or not 8 <= len(url) <= MAX_URL_LENGTH:
        raise ValidationFailed(f"url must be a string of 8 to {MAX_URL_LENGTH} characters")
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        raise ValidationFailed("url is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.fragment:
        raise ValidationFailed("url must be an http:// or https:// URL with a host, no fragment")
    if any(c.isspace() or not c.isprintable() for c in url):
        raise ValidationFailed("url must not contain spaces or control characters")
    low, high = SECRET_LENGTH
    if not isinstance(secret, str) or not low <= len(secret) <= high:
        raise ValidationFailed(f"secret must be a string of {low} to {high} characters")
    if "\x00" in secret:
        raise ValidationFailed("secret must not contain NUL characters")
    if not isinstance(events, list) or not events or not all(isinstance(e, str) for e in events):
        raise ValidationFailed("events must be a non-empty list of event types")
    unknown = sorted(set(events) - set(EVENT_TYPES))
    if unknown:
        raise ValidationFailed(
            f"unknown event type(s) {', '.join(unknown)}; known: {', '.join(EVENT_TYPES)}"
        )
    if len(set(events)) != len(events):
        raise ValidationFailed("events must name each type once")
    return WebhookSpec(url, secret, tuple(events))


def signature(secret: str, body: bytes) -> str:
    """The ``X-Csms-Signature`` value: ``sha256=`` and the hex HMAC-SHA256 of the exact body
    bytes, keyed with the webhook's secret (UTF-8).

    >>> len(signature("key", b"{}")), signature("key", b"{}")[:7]
    (71, 'sha256=')
    """
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def retry_at(
    attempts: int,
    max_attempts: int,
    now: datetime,
    first_delay: float,
    jitter: Callable[[], float] = random.random,
) -> datetime | None:
    """When to try again after ``attempts`` failed attempts (None: give up, dead-letter).

    The wait doubles from ``first_delay`` seconds up to :data:`MAX_RETRY_DELAY`, and is drawn
    between half of it and all of it, so that many deliveries failing together (a receiver
    down) do not all come back at the same instant.

    >>> from datetime import UTC
    >>> t = datetime(2026, 1, 1, tzinfo=UTC)
    >>> [(retry_at(n, 8, t, 10, lambda: 1.0) - t).seconds for n in (1, 2, 3)]
    [10, 20, 40]
    >>> retry_at(8, 8, t, 10) is None
    True
    """
    if attempts >= max_attempts:
        return None
    ceiling = min(first_delay * 2.0 ** min(attempts - 1, 30), MAX_RETRY_DELAY.total_seconds())
    return now + timedelta(seconds=ceiling * (0.5 + 0.5 * jitter()))


def webhook_body(
    notification_id: int, kind: str, reservation_id: int, payload: dict[str, Any], created_at: str
) -> dict[str, Any]:
    """What a webhook receives (JSON): the event's ``id`` (the same on every attempt, for the
    receiver to deduplicate by) and ``type``, the booking and the payload."""
    return {
        "id": notification_id,
        "type": kind,
        "reservation_id": reservation_id,
        "payload": payload,
        "created_at": created_at,
    }


@dataclasses.dataclass(frozen=True, slots=True)
class EmailMessage:
    to: str
    subject: str
    body: str
    #: Values in the body that only its addressee may see (the code): a log shows none of them.
    secrets: tuple[str, ...] = ()

    def redacted(self) -> str:
        """The body with every secret replaced, for a log."""
        body = self.body
        for secret in self.secrets:
            body = body.replace(secret, "[redacted]")
        return body


_SUBJECTS = {
    "booked": "Your charger is booked",
    "reminder": "Your charging window opens soon",
    "reserved": "Your charger is reserved for you",
    "moved": "Your booking was moved",
    "failed": "Your booking could not be kept",
    "no_show": "Your booking expired unused",
    "cancelled": "Your booking was cancelled",
    "completed": "Your charging session is complete",
}
#: The events whose email carries the code: those that tell the driver where to type it.
_WITH_CODE = frozenset({"booked", "reminder", "reserved", "moved"})
#: The events whose reason is news to the driver.
_WITH_REASON = frozenset({"moved", "failed", "no_show", "cancelled"})


def email_message(
    to: str, kind: str, reservation_id: int, payload: dict[str, Any], code: str
) -> EmailMessage:
    """The email for event ``kind`` to the booking's driver (and only them: the code is in it).

    >>> m = email_message("d@example.com", "booked", 7,
    ...     {"charge_point_id": "CP-1", "connector_id": 2, "start": "S", "end": "E"}, "123456")
    >>> m.subject, "123456" in m.body
    ('Your charger is booked (booking 7)', True)
    """
    lines = [
        f"Booking {reservation_id}: {_SUBJECTS[kind].lower()}.",
        f"Charger {payload.get('charge_point_id')}, connector {payload.get('connector_id')}, "
        f"from {payload.get('start')} to {payload.get('end')}.",
    ]
    if payload.get("reason") and kind in _WITH_REASON:
        lines.append(f"Why: {payload['reason']}.")
    with_code = kind in _WITH_CODE
    if with_code:
        lines.append(f"Your code: {code}")
    if kind == "completed":
        lines.append(
            f"Energy: {payload.get('energy_kwh')} kWh; cost: {payload.get('cost')} "
            f"{payload.get('currency')}."
        )
    subject = f"{_SUBJECTS[kind]} (booking {reservation_id})"
    return EmailMessage(to, subject, "\n".join(lines), (code,) if with_code else ())
