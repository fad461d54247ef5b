from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from csms.domain.authorization import AuthorizationStatus, IdTagRecord, decide, normalize_id_tag

NOW = datetime(2026, 3, 1, 10, tzinfo=UTC)


def test_unknown_is_invalid() -> None:
    assert decide(None, NOW).status is AuthorizationStatus.INVALID


def test_known_is_accepted_with_parent_and_expiry() -> None:
    record = IdTagRecord("CARD", parent_id_tag="FLEET", expiry_date=NOW + timedelta(days=1))
    info = decide(record, NOW)
    assert (info.status, info.parent_id_tag, info.expiry_date) == (
        AuthorizationStatus.ACCEPTED,
        "FLEET",
        NOW + timedelta(days=1),
    )


def test_expiry_is_exclusive() -> None:
    assert decide(IdTagRecord("CARD", expiry_date=NOW), NOW).status is AuthorizationStatus.EXPIRED
    assert (
        decide(IdTagRecord("CARD", expiry_date=NOW + timedelta(microseconds=1)), NOW).status
        is AuthorizationStatus.ACCEPTED
    )


def test_concurrent_transaction() -> None:
    assert (
        decide(IdTagRecord("CARD"), NOW, has_other_transaction=True).status
        is AuthorizationStatus.CONCURRENT_TX
    )


@given(blocked=st.booleans(), expired=st.booleans(), concurrent=st.booleans())
def test_blocked_wins_over_expired_wins_over_concurrent(
    blocked: bool, expired: bool, concurrent: bool
) -> None:
    record = IdTagRecord(
        "CARD", blocked=blocked, expiry_date=NOW - timedelta(1) if expired else None
    )
    status = decide(record, NOW, has_other_transaction=concurrent).status
    if blocked:
        assert status is AuthorizationStatus.BLOCKED
    elif expired:
        assert status is AuthorizationStatus.EXPIRED
    elif concurrent:
        assert status is AuthorizationStatus.CONCURRENT_TX
    else:
        assert status is AuthorizationStatus.ACCEPTED


def test_id_tags_compare_without_case() -> None:
    assert normalize_id_tag("AbC123") == normalize_id_tag("aBc123")
