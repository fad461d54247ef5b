"""What csms sends a charger so its local list matches the id tags (S 5.11, 5.16)."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from csms.domain.authorization import AuthorizationStatus, IdTagInfo, IdTagRecord
from csms.domain.local_lists import ListEntry, entry_for, plan_sync

NOW = datetime(2026, 12, 1, tzinfo=UTC)
OK = IdTagInfo(AuthorizationStatus.ACCEPTED)


def entries(n: int) -> list[ListEntry]:
    return [ListEntry(f"T{i}", OK) for i in range(n)]


def plan(**kw: object):  # type: ignore[no-untyped-def]
    defaults: dict[str, object] = dict(
        charger_version=0, sent_version=None, current_version=10, full=entries(3), changes=[],
        max_per_message=100, max_length=None,
    )
    return plan_sync(**{**defaults, **kw})  # type: ignore[arg-type]


def test_a_charger_in_step_gets_nothing_or_only_the_changes() -> None:
    assert plan(charger_version=10, sent_version=10).messages == ()
    changed = plan(charger_version=7, sent_version=7, changes=entries(1))
    assert [(m.update_type, m.version, len(m.entries)) for m in changed.messages] == [
        ("Differential", 10, 1)
    ]


def test_any_other_version_gets_the_whole_list() -> None:
    for charger, sent in [(0, None), (5, 7), (7, None), (12, 10)]:
        full = plan(charger_version=charger, sent_version=sent)
        assert [(m.update_type, m.version, len(m.entries)) for m in full.messages] == [
            ("Full", 10, 3)
        ]


def test_no_list_support_or_no_room_sends_nothing_and_says_why() -> None:
    assert plan(charger_version=-1).problem == "the charger keeps no local list"
    too_long = plan(max_length=2)
    assert too_long.messages == () and "LocalAuthListMaxLength" in (too_long.problem or "")


def test_nothing_to_hold_and_nothing_held() -> None:
    assert plan(full=[], current_version=0).messages == ()


@given(st.integers(1, 50), st.integers(1, 7), st.integers(0, 40))
def test_batches_are_in_order_and_within_the_message_limit(n: int, size: int, spare: int) -> None:
    current = n + spare  # each tag took a number of its own
    result = plan(full=entries(n), current_version=current, max_per_message=size)
    versions = [m.version for m in result.messages]
    assert versions == sorted(set(versions)) and versions[-1] == current and versions[0] >= 1
    assert all(len(m.entries) <= size for m in result.messages)
    assert [m.update_type for m in result.messages][1:] == ["Differential"] * (len(versions) - 1)
    assert [e.id_tag for m in result.messages for e in m.entries] == [f"T{i}" for i in range(n)]


def test_a_card_is_sent_as_the_charger_should_judge_it() -> None:
    blocked = entry_for(IdTagRecord("B", blocked=True), NOW)
    assert blocked.payload() == {"idTag": "B", "idTagInfo": {"status": "Blocked"}}
    expiring = entry_for(IdTagRecord("E", "FLEET", datetime(2027, 1, 1, tzinfo=UTC)), NOW)
    assert expiring.payload() == {"idTag": "E", "idTagInfo": {
        "status": "Accepted", "expiryDate": "2027-01-01T00:00:00.000Z", "parentIdTag": "FLEET"}}
    assert ListEntry("GONE", None).payload() == {"idTag": "GONE"}
