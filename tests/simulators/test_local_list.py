"""The Local Authorization List (S 3.5, 5.10, 5.15, 9.2): SendLocalList Full and Differential
with versioning and limits, GetLocalListVersion, and authorizing from the list offline
(LocalAuthorizeOffline) or before asking (LocalPreAuthorize)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from simulators.protocol import format_time
from tests.simulators.sim_bench import T0, Bench


def _send(bench: Bench, version: int, kind: str, entries: list[dict[str, Any]]) -> str:
    return str(bench.ask("SendLocalList", {"listVersion": version, "updateType": kind,
                                           "localAuthorizationList": entries})["status"])


def _entry(tag: str, status: str | None = "Accepted", **info: str) -> dict[str, Any]:
    return {"idTag": tag} if status is None else {"idTag": tag, "idTagInfo": {
        "status": status, **info}}


def _version(bench: Bench) -> int:
    return int(bench.ask("GetLocalListVersion", {})["listVersion"])


def test_full_and_differential_updates_and_their_versions() -> None:
    bench = Bench()
    assert _version(bench) == 0  # S 5.10: 0 = no list
    assert _send(bench, 3, "Full", [_entry("A"), _entry("B")]) == "Accepted"
    assert _version(bench) == 3
    for stale in (3, 2):  # a Differential must be newer (S 5.15)
        assert _send(bench, stale, "Differential", [_entry("C")]) == "VersionMismatch"
    assert _send(bench, 5, "Differential", [_entry("C"), _entry("A", None)]) == "Accepted"
    assert _version(bench) == 5 and len(bench.model.auth) == 2  # B and C; A removed
    assert _send(bench, 4, "Full", [_entry("D")]) == "Accepted"  # a Full may go back
    assert _version(bench) == 4 and len(bench.model.auth) == 1
    assert _send(bench, 6, "Full", []) == "Accepted"
    assert _version(bench) == 0  # emptied


def test_a_list_longer_than_local_auth_list_max_length_fails_and_changes_nothing() -> None:
    bench = Bench(config={"LocalAuthListMaxLength": "3"})
    assert _send(bench, 1, "Full", [_entry(t) for t in "ABCD"]) == "Failed"
    assert _send(bench, 1, "Full", [_entry(t) for t in "ABC"]) == "Accepted"
    assert _send(bench, 2, "Differential", [_entry("D")]) == "Failed"
    assert _version(bench) == 1 and len(bench.model.auth) == 3
    assert _send(bench, 2, "Differential", [_entry("A", "Blocked")]) == "Accepted"  # no growth
    assert _version(bench) == 2


@pytest.mark.parametrize(("tag", "starts"), [
    ("LISTED", True), ("listed", True),  # idTags are case-insensitive (CiString20)
    ("BLOCKED", False), ("EXPIRED", False), ("UNKNOWN", False),
])
def test_offline_the_list_decides(tag: str, starts: bool) -> None:
    bench = Bench(config={"LocalAuthorizeOffline": "true", "AuthorizationCacheEnabled": "false"})
    past = format_time(T0 - timedelta(days=1))
    _send(bench, 1, "Full", [_entry("LISTED"), _entry("BLOCKED", "Blocked"),
                             _entry("EXPIRED", expiryDate=past)])
    bench.disconnect()
    bench.plug(1)
    bench.tap(1, tag)
    assert bench.status(1) == ("Charging" if starts else "Preparing")
    bench.connect()
    assert bench.calls("Authorize") == []
    assert len(bench.calls("StartTransaction")) == int(starts)  # delivered once online


def test_offline_without_local_authorize_offline_the_list_is_not_used() -> None:
    bench = Bench(config={"LocalAuthorizeOffline": "false"})
    _send(bench, 1, "Full", [_entry("LISTED")])
    bench.disconnect()
    bench.plug(1)
    bench.tap(1, "LISTED")
    assert bench.status(1) == "Preparing"
    assert "connector 1: refused LISTED (offline and the idTag is not known locally)" in (
        bench.texts())


@pytest.mark.parametrize(("pre_authorize", "authorizes"), [("true", 0), ("false", 1)])
def test_online_local_pre_authorize_skips_the_authorize(pre_authorize: str,
                                                        authorizes: int) -> None:
    bench = Bench(config={"LocalPreAuthorize": pre_authorize})
    _send(bench, 1, "Full", [_entry("LISTED")])
    bench.plug(1)
    bench.tap(1, "LISTED")
    assert bench.status(1) == "Charging"
    assert len(bench.calls("Authorize")) == authorizes


def test_a_disabled_list_is_ignored() -> None:
    bench = Bench(config={"LocalAuthListEnabled": "false", "AuthorizationCacheEnabled": "false"})
    _send(bench, 1, "Full", [_entry("LISTED")])
    bench.disconnect()
    bench.plug(1)
    bench.tap(1, "LISTED")
    assert bench.status(1) == "Preparing"
