"""What a session cost, from readings as chargers really send them."""

from __future__ import annotations

import itertools
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from csms.booking.cost import (
    MAX_SESSION,
    SessionCost,
    cost_to_json,
    energy_wh,
    last_reading,
    priced_readings,
    priced_span,
    session_cost,
)
from csms.domain.meter_values import Meter, Reading
from csms.domain.money import round_money
from csms.domain.tariffs import Tariff
from tests.unit.domain.test_pricing import flat, make_tariff, utc

BERLIN = ZoneInfo("Europe/Berlin")
D = Decimal


def meter(*readings: tuple[datetime, int], received: list[datetime] | None = None) -> Meter:
    """First reading = start, last = stop, the rest samples; received when stamped unless told."""
    (start, wh0), *middle, (stop, wh1) = readings
    got = received or [start, stop]
    return Meter(
        started_at=start,
        start_received_at=got[0],
        meter_start=D(wh0),
        stopped_at=stop,
        stop_received_at=got[1],
        meter_stop=D(wh1),
        samples=tuple(Reading(t, D(v)) for t, v in middle),
    )


def cost(tariff: Tariff, *meters: Meter, fee: str = "0") -> SessionCost:
    return session_cost(tariff, BERLIN, meters, D(fee))


def assert_sums(c: SessionCost) -> None:
    parts = c.booking_fee + c.session_fee + sum(
        (line.energy_cost + line.time_cost for line in c.lines), D(0)
    )
    assert c.total == parts
    body = cost_to_json(c)
    listed = D(body["booking_fee"]) + D(body["session_fee"]) + sum(
        (D(p["energy_cost"]) + D(p["time_cost"]) for p in body["periods"]), D(0)
    )
    assert D(body["total"]) == listed


def test_flat_session_cost_is_kwh_times_price_plus_fees() -> None:
    start = utc(2026, 5, 4, 8)
    c = cost(flat("0.39", time="1.20", session_fee="0.50"),
             meter((start, 1000), (start + timedelta(minutes=90), 13345)), fee="2.00")
    assert c.energy_kwh == D("12.345")
    # 12.345 x 0.39 = 4.81455 → 4.81; 1.5 h x 1.20 = 1.80; + 2.00 + 0.50
    assert c.total == D("9.11")
    assert_sums(c)


def test_energy_is_spread_evenly_and_priced_by_tariff_period() -> None:
    # Berlin summer: local 11:00-13:00 is 09:00-11:00 UTC, noon in the middle.
    tariff = make_tariff(("00:00", "12:00", "0.20", "0"), ("12:00", "24:00", "0.40", "0"))
    two = cost(tariff, meter((utc(2026, 5, 4, 9), 0), (utc(2026, 5, 4, 11), 10000)))
    assert two.total == D("3.00")  # 5 x 0.20 + 5 x 0.40
    # 8 kWh over 09:00-10:30 (2/3 before noon), then 2 kWh after noon.
    three = cost(tariff, meter((utc(2026, 5, 4, 9), 0), (utc(2026, 5, 4, 10, 30), 8000),
                               (utc(2026, 5, 4, 11), 10000)))
    assert [str(line.energy_kwh) for line in three.lines] == ["5.333", "4.667"]
    assert [str(line.energy_cost) for line in three.lines] == ["1.07", "1.87"]
    assert three.total == D("2.94") and three.energy_kwh == D("10.000")
    assert_sums(three)


def test_time_price_counts_real_hours_across_fall_back() -> None:
    # 00:00-04:00 Berlin on 2026-10-25 is five real hours.
    c = cost(flat("0", time="1.00"), meter((utc(2026, 10, 24, 22), 0), (utc(2026, 10, 25, 3), 0)))
    assert c.total == D("5.00")


def test_a_meter_that_restarts_from_zero_continues_from_its_last_reading() -> None:
    t = utc(2026, 5, 4, 8)
    c = cost(flat("0.50"), meter(
        (t, 5000),
        (t + timedelta(minutes=10), 6000),  # +1 kWh
        (t + timedelta(minutes=20), 0),  # the charger rebooted: its register starts again
        (t + timedelta(minutes=30), 2000),  # +2 kWh
        (t + timedelta(minutes=40), 3000),  # +1 kWh
    ))
    assert c.energy_kwh == D("4.000") and c.total == D("2.00")
    backwards = cost(flat("0.50"), meter((t, 9000), (t + timedelta(hours=1), 100)))
    assert backwards.energy_kwh == 0 and backwards.total == D("0.00")


def test_absurd_values_are_left_out() -> None:
    t = utc(2026, 5, 4, 8)
    m = meter((t, 1000), (t + timedelta(minutes=10), 2**62), (t + timedelta(minutes=20), 3000),
              (t + timedelta(minutes=30), -5), (t + timedelta(hours=1), 6000))
    assert [r.wh for r in priced_readings(m)] == [1000, 3000, 6000]
    assert cost(flat("1"), m).energy_kwh == D("5.000")
    # A meterStop no meter can reach leaves the session at its last plausible reading.
    assert energy_wh(priced_readings(meter((t, 0), (t + timedelta(hours=1), 2**63 - 1)))) == 0


def test_samples_outside_the_transaction_are_not_priced() -> None:
    t = utc(2026, 5, 4, 8)
    m = meter((t, 1000), (t - timedelta(minutes=5), 900), (datetime(1000, 1, 1, tzinfo=UTC), 0),
              (datetime(9999, 1, 1, tzinfo=UTC), 99999), (t + timedelta(hours=1), 11000))
    assert [r.at for r in priced_readings(m)] == [t, t + timedelta(hours=1)]
    assert cost(flat("0.30"), m).total == D("3.00")


def test_a_wrong_charger_clock_is_replaced_by_the_csms_receipt_times() -> None:
    got = [utc(2026, 5, 4, 8), utc(2026, 5, 4, 9)]
    reset = meter((datetime(1970, 1, 1, tzinfo=UTC), 0), (utc(2026, 5, 4, 9), 10000),
                  received=got)
    assert priced_span(reset) == (got[0], got[1])
    future = meter((got[0], 0), (datetime(2093, 1, 1, tzinfo=UTC), 10000), received=got)
    assert priced_span(future) == (got[0], got[1])
    stuck = meter((got[0], 0), (got[0], 5000), received=got)
    assert priced_span(stuck) == (got[0], got[1])
    assert cost(flat("0.39"), stuck).total == D("1.95")


def test_a_year_long_session_is_priced_over_a_bounded_span() -> None:
    """A StopTransaction stamped years after its start costs no more work than a few days'
    worth of tariff periods (it used to lay every day since year 1000 onto the tariff)."""
    got = [utc(2026, 5, 4, 8), utc(2026, 5, 4, 9)]
    ancient = meter((datetime(1000, 1, 1, tzinfo=UTC), 0),
                    (datetime(1000, 6, 1, tzinfo=UTC), 500), (utc(2026, 5, 4, 9), 10000),
                    received=[datetime(1000, 1, 1, tzinfo=UTC), got[1]])
    start, stop = priced_span(ancient)
    assert stop - start <= MAX_SESSION
    tariff = make_tariff(("00:00", "07:00", "0.25", "0"), ("07:00", "22:00", "0.45", "1"),
                         ("22:00", "24:00", "0.25", "0"))
    began = time.process_time()
    c = cost(tariff, ancient)
    assert len(c.lines) <= 3 * (MAX_SESSION.days + 2)
    assert time.process_time() - began < 5  # generous: it takes milliseconds
    assert_sums(c)


def test_a_session_of_one_instant_costs_the_fees() -> None:
    t = utc(2026, 5, 4, 9)
    c = cost(flat("0.39", session_fee="0.75"), meter((t, 12000), (t, 12000)), fee="1.50")
    assert c.energy_kwh == 0 and c.total == D("2.25")


def test_readings_stamped_in_one_second_are_still_priced() -> None:
    t = utc(2026, 5, 4, 10)
    m = meter((t, 0), (t + timedelta(hours=1), 10000), (t + timedelta(hours=1), 10500))
    assert cost(flat("0.40"), m).energy_kwh == D("10.500")


def test_two_sessions_of_one_booking_add_up_with_one_session_fee() -> None:
    t = utc(2026, 5, 4, 10)
    first = meter((t, 0), (t + timedelta(minutes=20), 4000))  # its Stop was lost
    second = meter((t + timedelta(minutes=25), 0), (t + timedelta(minutes=50), 3000))
    c = cost(flat("0.50", session_fee="1.00"), first, second, fee="2.00")
    assert c.energy_kwh == D("7.000") and c.total == D("6.50")
    assert_sums(c)


def test_the_last_reading_of_a_session_without_a_stop() -> None:
    t = utc(2026, 5, 4, 10)
    m = meter((t, 100), (t + timedelta(minutes=5), 900), (t + timedelta(minutes=9), 2**62),
              (t + timedelta(hours=1), -1))
    assert last_reading(m) == Reading(t + timedelta(minutes=5), D(900))


@st.composite
def plausible_meters(draw: st.DrawFn) -> Meter:
    """Registers that rise at up to 100 kW, with a reset now and then, stamped whole seconds."""
    start = utc(2026, 1, 1) + timedelta(minutes=draw(st.integers(0, 365 * 24 * 60)))
    readings = [(start, draw(st.integers(0, 10**7)))]
    for _ in range(draw(st.integers(1, 8))):
        step = draw(st.integers(0, 3 * 3600))
        value = 0 if draw(st.integers(0, 9)) == 0 else readings[-1][1] + draw(
            st.integers(0, step * 100_000 // 3600)
        )
        readings.append((readings[-1][0] + timedelta(seconds=step), value))
    return meter(*readings)


def reference_energy_wh(m: Meter) -> Decimal:
    """Rises only; a fall is a reset the register continues from."""
    values = [m.meter_start, *(s.wh for s in m.samples), m.meter_stop]
    return sum((b - a for a, b in itertools.pairwise(values) if b >= a), D(0))


@settings(max_examples=150, deadline=None)
@given(plausible_meters(), st.sampled_from(["0", "0.39"]), st.sampled_from(["0", "1.20"]))
def test_flat_cost_has_a_closed_form(m: Meter, energy: str, per_hour: str) -> None:
    c = cost(flat(energy, time=per_hour, session_fee="0.50"), m, fee="1.00")
    kwh = reference_energy_wh(m) / 1000
    hours = D((m.stopped_at - m.started_at).total_seconds()) / 3600
    assert c.energy_kwh == kwh.quantize(D("0.001"))
    assert abs(c.total - round_money(D("1.50") + kwh * D(energy) + hours * D(per_hour))) <= D(
        "0.01"
    ) * max(len(c.lines), 1)
    assert c.total >= D("1.50") and c.energy_kwh >= 0
    assert_sums(c)
