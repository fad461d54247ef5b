"""The session alone: frames in, frames out, through a send function (no socket)."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from csms.errors import ChargePointCallError, ChargePointNotConnected, ChargePointTimeout
from csms.gateway.frames import ErrorCode
from csms.gateway.session import CallRefused, Session


class Wire:
    def __init__(self) -> None:
        self.sent: list[Any] = []
        self.disconnected: list[str] = []

    async def send(self, text: str) -> None:
        self.sent.append(orjson.loads(text))

    async def disconnect(self, reason: str) -> None:
        self.disconnected.append(reason)


async def heartbeat(cp_id: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {"currentTime": "2026-01-01T00:00:00.000Z"}


async def broken(cp_id: str, payload: dict[str, Any]) -> dict[str, Any]:
    raise RuntimeError("bug")


async def refusing(cp_id: str, payload: dict[str, Any]) -> dict[str, Any]:
    raise CallRefused(ErrorCode.PROPERTY_CONSTRAINT_VIOLATION, "no")


async def wrong_answer(cp_id: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {"status": "Perhaps"}


def make_session(**handlers: Any) -> tuple[Session, Wire]:
    wire = Wire()
    return Session("CP", wire.send, handlers, wire.disconnect), wire


async def test_call_is_answered() -> None:
    session, wire = make_session(Heartbeat=heartbeat)
    await session.receive('[2, "a", "Heartbeat", {}]')
    assert wire.sent == [[3, "a", {"currentTime": "2026-01-01T00:00:00.000Z"}]]


@pytest.mark.parametrize(
    ("handlers", "code"),
    [
        ({"Heartbeat": broken}, "InternalError"),
        ({"Heartbeat": refusing}, "PropertyConstraintViolation"),
        ({}, "NotSupported"),
    ],
)
async def test_failures_become_call_errors(handlers: dict[str, Any], code: str) -> None:
    session, wire = make_session(**handlers)
    await session.receive('[2, "a", "Heartbeat", {}]')
    assert wire.sent[0][:3] == [4, "a", code]


async def test_our_invalid_answer_is_not_sent() -> None:
    session, wire = make_session(DataTransfer=wrong_answer)
    await session.receive('[2, "a", "DataTransfer", {"vendorId": "v"}]')
    assert wire.sent[0][0] == 4


async def test_call_gets_result() -> None:
    session, wire = make_session()
    task = asyncio.create_task(session.call("ClearCache", {}, timeout=1))
    await asyncio.sleep(0)
    [[kind, message_id, action, payload]] = wire.sent
    assert (kind, action, payload) == (2, "ClearCache", {})
    await session.receive(orjson.dumps([3, message_id, {"status": "Accepted"}]))
    assert await task == {"status": "Accepted"}


async def test_call_gets_call_error() -> None:
    session, wire = make_session()
    task = asyncio.create_task(session.call("ClearCache", {}, timeout=1))
    await asyncio.sleep(0)
    await session.receive(orjson.dumps([4, wire.sent[0][1], "NotSupported", "nope", {}]))
    with pytest.raises(ChargePointCallError) as caught:
        await task
    assert caught.value.error_code == "NotSupported"


async def test_answer_with_another_id_is_ignored_then_timeout() -> None:
    session, _wire = make_session()
    task = asyncio.create_task(session.call("ClearCache", {}, timeout=0.1))
    await asyncio.sleep(0)
    await session.receive('[3, "someone-else", {"status": "Accepted"}]')
    with pytest.raises(ChargePointTimeout):
        await task


async def test_closing_fails_the_pending_call_and_refuses_new_ones() -> None:
    session, _ = make_session()
    task = asyncio.create_task(session.call("ClearCache", {}, timeout=1))
    await asyncio.sleep(0)
    await session.disconnect("bye")
    with pytest.raises(ChargePointNotConnected):
        await task
    with pytest.raises(ChargePointNotConnected):
        await session.call("ClearCache", {}, timeout=1)
