"""Frames and timestamps (J 4) — pure functions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulators.protocol import (
    Call,
    CallError,
    CallResult,
    FrameError,
    decode,
    encode,
    format_clock,
    format_time,
    parse_time,
)

payloads = st.dictionaries(
    st.text(max_size=10),
    st.one_of(st.integers(-(2**31), 2**31 - 1), st.text(max_size=20), st.booleans()),
    max_size=5,
)
ids = st.text(min_size=1, max_size=36)


@given(ids, st.text(min_size=1, max_size=30), payloads)
def test_call_round_trips(message_id: str, action: str, payload: dict[str, object]) -> None:
    assert decode(encode(Call(message_id, action, payload))) == Call(message_id, action, payload)


@given(ids, payloads)
def test_result_round_trips(message_id: str, payload: dict[str, object]) -> None:
    assert decode(encode(CallResult(message_id, payload))) == CallResult(message_id, payload)


def test_error_round_trips() -> None:
    frame = CallError("9", "NotImplemented", "nope", {"a": 1})
    assert decode(encode(frame)) == frame
    assert encode(frame) == '[4,"9","NotImplemented","nope",{"a":1}]'


@pytest.mark.parametrize(
    "text",
    [
        "",
        "nonsense",
        "{}",
        "[]",
        "[2]",
        '[5,"1",{}]',
        '[2,1,"Heartbeat",{}]',
        '[2,"","Heartbeat",{}]',
        '[3,"1",{},{}]',
        '[2,"1",7,{}]',
    ],
)
def test_junk_is_not_a_frame(text: str) -> None:
    with pytest.raises(FrameError):
        decode(text)


def test_a_call_with_a_non_object_payload_still_decodes_for_a_formation_violation() -> None:
    frame = decode('[2,"1","Reset",[1,2]]')
    assert isinstance(frame, Call) and frame.payload == {"_": [1, 2]}


def test_times_are_written_in_utc_with_z() -> None:
    moment = datetime(2026, 1, 2, 4, 4, 5, 678901, tzinfo=timezone(timedelta(hours=1)))
    assert format_time(moment) == "2026-01-02T03:04:05.678Z"
    assert format_clock(moment) == "03:04:05Z"
    with pytest.raises(ValueError):
        format_time(datetime(2026, 1, 1))


@pytest.mark.parametrize(
    "text",
    [
        "2026-01-02T03:04:05Z",
        "2026-01-02T03:04:05.000Z",
        "2026-01-02T04:04:05+01:00",
        "2026-01-02T03:04:05",
        "2026-01-02t03:04:05z",
        "2026-01-02T03:04:05.000000+00:00",
    ],
)
def test_times_are_read_in_any_rfc3339_form(text: str) -> None:
    assert parse_time(text) == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.mark.parametrize("text", ["", "yesterday", "2026-01-02", 17, None, "2026-13-02T03:04:05Z"])
def test_non_times_are_refused(text: object) -> None:
    with pytest.raises(ValueError):
        parse_time(text)


@given(
    st.datetimes(
        min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
    )
)
def test_written_times_read_back_to_the_millisecond(moment: datetime) -> None:
    back = parse_time(format_time(moment))
    assert back == moment.replace(microsecond=moment.microsecond // 1000 * 1000)
