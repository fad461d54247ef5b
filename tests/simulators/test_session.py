"""The OCPP-J session: one outstanding CALL, junk, timeouts, lost connections (J 4) — pure."""

from __future__ import annotations

from datetime import timedelta

from simulators.protocol import Call
from tests.simulators.sim_bench import Bench


def test_one_outstanding_call_at_a_time() -> None:
    bench = Bench()
    bench.auto = False
    bench.model.plug(1, bench.now)
    bench.model.fault(2, bench.now)
    bench.pump()
    assert [f.action for f in bench.frames[-1:]] == ["StatusNotification"]  # type: ignore[union-attr]
    assert len(bench.model.outbox) == 1
    assert bench.session.data_to_send(bench.now) == []
    bench.auto = True
    bench.reply()
    assert bench.statuses(2)[-1] == "Faulted"


def test_answers_to_csms_calls_go_out_even_while_our_call_waits() -> None:
    bench = Bench()
    bench.auto = False
    bench.model.plug(1, bench.now)
    bench.pump()
    answer = bench.call("GetLocalListVersion", {})
    assert answer.payload == {"listVersion": 0}  # type: ignore[union-attr]


def test_junk_and_stray_answers_are_dropped() -> None:
    bench = Bench()
    for junk in ("not json", "[9,\"1\"]", '[3,"nobody",{}]', '[4,"nobody","X","y",{}]'):
        bench.session.receive(junk, bench.now)
    bench.pump()
    assert bench.session.stats.bad_frames == 4
    assert isinstance(bench.frames[-1], Call)  # nothing answered the junk


def test_unanswered_calls_time_out() -> None:
    bench = Bench(heartbeat=3600)
    bench.auto = False
    bench.model.plug(1, bench.now)
    bench.pump()
    bench.advance(29)
    assert bench.session.waiting_for_answer
    bench.advance(1)
    assert not bench.session.waiting_for_answer
    assert bench.session.stats.timeouts == 1
    assert "no answer to StatusNotification within 30 s" in bench.texts()


def test_authorize_lost_with_the_connection_falls_back_to_offline_rules() -> None:
    bench = Bench(config={"AllowOfflineTxForUnknownId": "true"})
    bench.auto = False
    bench.plug(1)
    bench.reply()  # the Preparing StatusNotification
    bench.tap(1, "TAG")
    assert bench.pending is not None and bench.pending.action == "Authorize"
    bench.disconnect()
    assert bench.status(1) == "Charging"
    bench.auto = True
    bench.connect()
    assert bench.calls("StartTransaction")[0]["idTag"] == "TAG"


def test_authorize_callerror_refuses() -> None:
    bench = Bench()
    bench.fail_next["Authorize"] = "InternalError"
    bench.plug(1)
    bench.tap(1, "TAG")
    assert "connector 1: refused TAG (Authorize failed (InternalError))" in bench.texts()


def test_message_ids_are_unique_and_short() -> None:
    bench = Bench(heartbeat=1)
    bench.advance(50)
    ids = [f.message_id for f in bench.frames if isinstance(f, Call)]
    assert len(ids) == len(set(ids)) and all(len(i) <= 36 for i in ids)


def test_latency_is_observed() -> None:
    bench = Bench()
    bench.auto = False
    bench.model.plug(1, bench.now)
    bench.pump()
    bench.now += timedelta(milliseconds=250)
    bench.auto = True
    bench.reply()
    assert 0.25 in bench.session.stats.latencies


def test_deadlines_are_never_stuck_in_the_past() -> None:
    """Whatever state the charger is in, ticking at the deadline moves it forward."""
    bench = Bench(config={"TransactionMessageRetryInterval": "5"})
    bench.fail_next["StartTransaction"] = "InternalError"
    bench.plug(1)
    bench.tap(1, "TAG")  # a retry waits in the outbox
    bench.disconnect()
    bench.boot_status = "Pending"
    bench.model.registration = None  # as after a reset: boot again
    bench.connect()
    for _ in range(50):
        deadline = bench.session.next_deadline()
        assert deadline is None or deadline > bench.now or bench.session.waiting_for_answer
        bench.advance(1)
