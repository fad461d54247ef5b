from __future__ import annotations

import contextlib
import json

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from csms.gateway.frames import (
    Call,
    CallError,
    CallResult,
    ErrorCode,
    FrameError,
    encode_call,
    encode_call_error,
    encode_call_result,
    parse_frame,
)


def test_parses_the_three_frame_types() -> None:
    assert parse_frame('[2, "1", "Heartbeat", {}]') == Call("1", "Heartbeat", {})
    assert parse_frame('[3, "1", {"currentTime": "x"}]') == CallResult("1", {"currentTime": "x"})
    assert parse_frame('[4, "1", "NotSupported", "no", {"a": 1}]') == CallError(
        "1", "NotSupported", "no", {"a": 1}
    )
    assert parse_frame('[4, "1", "GenericError", "no"]') == CallError("1", "GenericError", "no", {})


@pytest.mark.parametrize(
    "text",
    [
        "",
        "nope",
        "{}",
        "[]",
        "[2]",
        '[7, "1", {}]',
        '[2, 5, "Heartbeat", {}]',
        '["2", "1", "Heartbeat", {}]',
        '[3, "1", []]',
    ],
)
def test_drops_what_cannot_be_answered(text: str) -> None:
    assert parse_frame(text) is None


@pytest.mark.parametrize(
    "text",
    [
        '[2, "1", "Heartbeat"]',
        '[2, "1", "Heartbeat", {}, 5]',
        '[2, "1", null, {}]',
        '[2, "1", "Heartbeat", "x"]',
        '[2, "' + "i" * 37 + '", "Heartbeat", {}]',
    ],
)
def test_malformed_call_is_a_formation_violation(text: str) -> None:
    with pytest.raises(FrameError) as caught:
        parse_frame(text)
    assert caught.value.error_code is ErrorCode.FORMATION_VIOLATION
    assert caught.value.message_id == orjson.loads(text)[1]


def test_encoders_write_what_the_parser_reads() -> None:
    assert parse_frame(encode_call("9", "Reset", {"type": "Soft"})) == Call(
        "9", "Reset", {"type": "Soft"}
    )
    assert parse_frame(encode_call_result("9", {"status": "Accepted"})) == CallResult(
        "9", {"status": "Accepted"}
    )
    assert parse_frame(encode_call_error("9", "InternalError", "boom")) == CallError(
        "9", "InternalError", "boom", {}
    )


def test_error_description_is_capped() -> None:
    frame = orjson.loads(encode_call_error("9", "GenericError", "x" * 1000))
    assert len(frame[3]) == 255


@given(st.text(max_size=200))
def test_never_raises_anything_but_frame_error(text: str) -> None:
    with contextlib.suppress(FrameError):
        parse_frame(text)


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=5),
        lambda inner: (
            st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
        ),
        max_leaves=20,
    )
)
def test_any_json_is_parsed_dropped_or_refused(value: object) -> None:
    with contextlib.suppress(FrameError):
        parse_frame(json.dumps(value))
