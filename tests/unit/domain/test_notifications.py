"""Notifications, the pure part: webhook subscriptions, signatures, retry timing, emails."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from csms.domain.notifications import (
    EVENT_TYPES,
    MAX_RETRY_DELAY,
    email_message,
    retry_at,
    signature,
    webhook_spec,
)
from csms.errors import ValidationFailed

SECRET = "0123456789abcdef"
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_a_good_subscription() -> None:
    spec = webhook_spec("https://example.com/hooks?x=1", SECRET, ["booked", "no_show"])
    assert spec.events == ("booked", "no_show")


@pytest.mark.parametrize(
    ("url", "secret", "events"),
    [
        ("ftp://example.com/x", SECRET, ["booked"]),
        ("file:///etc/passwd", SECRET, ["booked"]),
        ("https://", SECRET, ["booked"]),
        ("http://exa mple.com/", SECRET, ["booked"]),
        ("https://example.com/#frag", SECRET, ["booked"]),
        ("https://example.com/" + "a" * 2000, SECRET, ["booked"]),
        (42, SECRET, ["booked"]),
        ("https://example.com/", "short", ["booked"]),
        ("https://example.com/", "x" * 201, ["booked"]),
        ("https://example.com/", None, ["booked"]),
        ("https://example.com/", SECRET, []),
        ("https://example.com/", SECRET, ["booked", "booked"]),
        ("https://example.com/", SECRET, ["exploded"]),
        ("https://example.com/", SECRET, "booked"),
    ],
)
def test_bad_subscriptions_are_refused(url: object, secret: object, events: object) -> None:
    with pytest.raises(ValidationFailed):
        webhook_spec(url, secret, events)


def test_the_signature_is_the_hmac_of_the_exact_body() -> None:
    body = b'{"id":1,"type":"booked"}'
    expected = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert signature(SECRET, body) == f"sha256={expected}"
    assert signature(SECRET, body + b" ") != signature(SECRET, body)


@given(st.integers(1, 40), st.floats(0, 1))
def test_retries_back_off_within_bounds(attempts: int, jitter: float) -> None:
    again = retry_at(attempts, 41, NOW, 10.0, lambda: jitter)
    assert again is not None
    ceiling = min(timedelta(seconds=10 * 2 ** (attempts - 1)), MAX_RETRY_DELAY)
    assert ceiling / 2 <= again - NOW <= ceiling


def test_after_the_last_attempt_it_is_dead_lettered() -> None:
    assert retry_at(7, 8, NOW, 10.0) is not None
    assert retry_at(8, 8, NOW, 10.0) is None


@pytest.mark.parametrize("kind", EVENT_TYPES)
def test_every_event_has_an_email(kind: str) -> None:
    payload = {"charge_point_id": "CP-1", "connector_id": 1, "start": "S", "end": "E",
               "reason": "why", "cost": "3.10", "energy_kwh": "7.000", "currency": "EUR"}
    message = email_message("d@example.com", kind, 9, payload, "424242")
    assert message.to == "d@example.com" and "(booking 9)" in message.subject
    assert ("424242" in message.body) == (kind in {"booked", "reminder", "reserved", "moved"})
    if kind == "completed":
        assert "3.10 EUR" in message.body and "7.000 kWh" in message.body


def test_a_log_never_shows_the_code() -> None:
    message = email_message("d@example.com", "booked", 9, {"charge_point_id": "CP-1"}, "424242")
    assert "424242" in message.body and "424242" not in message.redacted()
