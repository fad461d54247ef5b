"""Random walks through the booking lifecycle against a real PostgreSQL, checking invariants.

A hypothesis state machine mixes drivers' actions (book, cancel), chargers' events (connector
statuses, Authorize, StartTransaction, MeterValues — now and then absurd —, StopTransaction,
how each charger answers ReserveNow) and time passing with scheduler passes, all on a clock the
test controls. After every step the database must show that:

1. no two live bookings of one connector overlap;
2. every booking's history is a path of allowed transitions from ``booked`` to its current
   status (and connector), each step with a reason;
3. a booking code was accepted only at its charger (and connector, for a start), with its
   booking live, from ``min(start, dispatched_at)`` until its window ends;
4. completed bookings have non-negative energy and cost, a breakdown whose parts sum to the
   cost exactly, and energy equal to that of their accepted transactions;

and nothing but the expected domain errors escaped (nor was logged as an error by the
scheduler, which swallows what fails while it handles a booking).
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import logging
from collections.abc import Coroutine
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar, TypeVar

import asyncpg
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from csms.booking import store as bookings
from csms.booking.codes import WrongCodeRule
from csms.booking.reconcile import ConnectorWatch
from csms.booking.records import Reservation
from csms.booking.scheduler import Scheduler
from csms.booking.service import Booking, BookingRequest, NotCancellable
from csms.booking.states import LIVE, ReservationStatus, can_become
from csms.domain.authorization import AuthorizationStatus
from csms.domain.charge_points import ConnectorSpec
from csms.domain.meter_values import Sample
from csms.domain.tariffs import parse_tariff
from csms.domain.windows import InvalidWindow, WindowRules
from csms.errors import ChargePointNotConnected, ChargePointTimeout, NotFound
from csms.services.transactions import StartRequest, StopRequest, Transactions
from csms.services.verification import IdTagVerifier
from csms.store import charge_points, tariffs
from csms.store.database import create_pool
from csms.store.users import User
from tests.world import TARIFF

T = TypeVar("T")
T0 = datetime(2026, 5, 4, 8, tzinfo=UTC)
CHARGERS = ("PROP-1", "PROP-2")
CONNECTORS = (1, 2)
STATUSES = ("Available", "Faulted", "Unavailable", "Occupied", "Charging")
ANSWERS = ("Accepted", "Occupied", "Rejected", "Timeout", "Offline")
REGISTER = "Energy.Active.Import.Register"
ABSURD_WH = 2**62
ABSURD_TIME = datetime(1000, 1, 1, tzinfo=UTC)
LIVE_SQL = "('booked', 'active', 'charging')"
PICK = st.integers(0, 63)  # An index into what the model knows, taken modulo its length.
SETTINGS = settings(max_examples=15, stateful_step_count=25, deadline=None)


class FakeClock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


class ChargerSide:
    """Answers the calls the scheduler and the booking service make, as each charger is set
    to (it stands for the chargers' side of those calls; sockets are tested elsewhere)."""

    def __init__(self) -> None:
        self.answer = dict.fromkeys(CHARGERS, "Accepted")
        self.profiles = dict.fromkeys(CHARGERS, "Core,Reservation")

    async def call(
        self, charge_point_id: str, action: str, payload: dict[str, Any],
        timeout: float | None = None,
    ) -> dict[str, Any]:
        if action == "GetConfiguration":
            value = self.profiles[charge_point_id]
            return {"configurationKey": [
                {"key": "SupportedFeatureProfiles", "readonly": True, "value": value}]}
        if action == "CancelReservation":
            return {"status": "Accepted"}
        assert action == "ReserveNow", action
        answer = self.answer[charge_point_id]
        if answer == "Timeout":
            raise ChargePointTimeout("no answer")
        if answer == "Offline":
            raise ChargePointNotConnected("offline")
        return {"status": answer}


class ErrorLog(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@dataclasses.dataclass
class Env:
    loop: asyncio.AbstractEventLoop
    pool: asyncpg.Pool
    drivers: tuple[User, User]
    errors: ErrorLog

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(asyncio.wait_for(coroutine, 60))


@dataclasses.dataclass
class Booked:
    id: int
    user: User
    code: str


@dataclasses.dataclass
class Tx:
    id: int
    charge_point_id: str
    connector_id: int
    meter: int  # The register as last reported (plausibly).


async def seed(pool: asyncpg.Pool) -> tuple[User, User]:
    """A site in Berlin with a tariff, two online chargers of two connectors, two drivers."""
    site_id = await pool.fetchval(
        "INSERT INTO sites (name, timezone) VALUES ('Props', 'Europe/Berlin') RETURNING id")
    await tariffs.put(pool, site_id, parse_tariff(TARIFF))
    for cp_id in CHARGERS:
        await charge_points.create(
            pool, cp_id, site_id=site_id, authorization_key_hash=None,
            connectors=[ConnectorSpec(n, "Type2", Decimal(22)) for n in CONNECTORS])
    await pool.execute("UPDATE charge_points SET connected_node = 'props-node'")
    users = []
    for n in (1, 2):
        email = f"driver{n}@example.com"
        user_id = await pool.fetchval(
            "INSERT INTO users (email, password_hash, role) VALUES ($1, 'x', 'driver')"
            " RETURNING id", email)
        users.append(User(user_id, email, "driver"))
    return users[0], users[1]


async def reset(pool: asyncpg.Pool) -> None:
    await pool.execute(
        """TRUNCATE reservations, reservation_history, transactions, meter_values, wrong_codes
           RESTART IDENTITY CASCADE""")
    await pool.execute("UPDATE connectors SET status = 'Available', status_at = NULL")
    await pool.execute("UPDATE charge_points SET supported_profiles = NULL")


def judge(booking: Reservation | None, cp_id: str, connector_id: int | None,
          now: datetime) -> str | None:
    """Why accepting a code (of ``booking``, None: a guess) here and now is wrong, if it is."""
    if booking is None:
        return f"a guessed code was accepted at {cp_id}"
    where = f"the code of reservation {booking.id} ({booking.status}, {booking.start:%H:%M}-"
    where += f"{booking.end:%H:%M} at {booking.charge_point_id}/{booking.connector_id})"
    valid_from = min(booking.start, booking.dispatched_at or booking.start)
    if booking.status not in LIVE:
        return f"{where} was accepted though the booking is over"
    if booking.charge_point_id != cp_id:
        return f"{where} was accepted at {cp_id}"
    if connector_id is not None and booking.connector_id != connector_id:
        return f"{where} started a transaction on connector {connector_id}"
    if not valid_from <= now < booking.end:
        return f"{where} was accepted at {now:%H:%M}, valid from {valid_from:%H:%M}"
    return None


class BookingLifecycle(RuleBasedStateMachine):
    env: ClassVar[Env]

    def __init__(self) -> None:
        super().__init__()
        pool = self.env.pool
        self.clock = FakeClock()
        self.chargers = ChargerSide()
        self.verifier = IdTagVerifier(pool, self.clock, WrongCodeRule())
        self.transactions = Transactions(pool, self.clock, self.verifier)
        settle = self.transactions.settle_abandoned
        self.booking = Booking(
            pool, self.chargers, self.clock, WindowRules(), timedelta(minutes=5))
        self.scheduler = Scheduler(
            pool, self.chargers, self.clock, poll_seconds=1.0,
            retry_interval=timedelta(minutes=2), call_timeout=5.0, settle=settle)
        self.watch = ConnectorWatch(pool, self.clock, settle)
        self.booked: list[Booked] = []
        self.txs: dict[int, Tx] = {}
        self.violations: list[str] = []
        self.env.errors.records.clear()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self.env.run(coroutine)

    @initialize(takes_reservations=st.tuples(st.booleans(), st.booleans()))
    def fresh_database(self, takes_reservations: tuple[bool, bool]) -> None:
        for cp_id, takes in zip(CHARGERS, takes_reservations, strict=True):
            self.chargers.profiles[cp_id] = "Core,Reservation" if takes else "Core"
        self.run(reset(self.env.pool))

    def _code(self, pick: int | None, guess: int) -> tuple[Booked | None, str]:
        if pick is None or not self.booked:
            return None, f"{guess:06d}"
        booked = self.booked[pick % len(self.booked)]
        return booked, booked.code

    def _tx(self, pick: int) -> Tx:
        return list(self.txs.values())[pick % len(self.txs)]

    # Drivers.

    @rule(driver=st.sampled_from((0, 1)), cp_id=st.sampled_from(CHARGERS),
          connector_id=st.sampled_from(CONNECTORS), offset=st.integers(0, 12),
          quarters=st.integers(1, 8))
    def book(self, driver: int, cp_id: str, connector_id: int, offset: int,
             quarters: int) -> None:
        user = self.env.drivers[driver]
        start = self.clock.now + timedelta(minutes=15 * offset)
        end = start + timedelta(minutes=15 * quarters)
        try:
            request = BookingRequest(cp_id, connector_id, start, end)
            view = self.run(self.booking.book(user, request))
        except bookings.SlotTaken:
            taken = self.run(self.env.pool.fetchval(
                f"""SELECT count(*) FROM reservations WHERE charge_point_id = $1
                    AND connector_id = $2 AND status IN {LIVE_SQL}
                    AND during && tstzrange($3, $4)""", cp_id, connector_id, start, end))
            assert taken, "slot_taken without an overlapping live booking"
            return
        except InvalidWindow:
            return
        self.booked.append(Booked(view["id"], user, view["code"]))

    @precondition(lambda self: self.booked)
    @rule(pick=PICK, as_owner=st.booleans())
    def cancel(self, pick: int, as_owner: bool) -> None:
        booked = self.booked[pick % len(self.booked)]
        user = booked.user if as_owner else next(
            u for u in self.env.drivers if u.id != booked.user.id)
        try:
            view = self.run(self.booking.cancel(user, booked.id))
        except NotFound:
            assert not as_owner, "the owner could not see their booking"
            return
        except NotCancellable:
            current = self.run(bookings.get(self.env.pool, booked.id))
            assert current is not None
            assert not can_become(current.status, ReservationStatus.CANCELLED)
            return
        assert as_owner, "another driver cancelled a booking"
        assert view["status"] == "cancelled"

    # Time.

    @rule()
    def scheduler_pass(self) -> None:
        self.run(self.scheduler.run_once())

    @rule(minutes=st.integers(1, 60))
    def time_passes(self, minutes: int) -> None:
        self.clock.now += timedelta(minutes=minutes)
        self.run(self.scheduler.run_once())

    # Chargers.

    @rule(cp_id=st.sampled_from(CHARGERS), answer=st.sampled_from(ANSWERS))
    def reserve_now_answer(self, cp_id: str, answer: str) -> None:
        self.chargers.answer[cp_id] = answer

    @rule(cp_id=st.sampled_from(CHARGERS), connector_id=st.sampled_from(CONNECTORS),
          status=st.sampled_from(STATUSES))
    def connector_status(self, cp_id: str, connector_id: int, status: str) -> None:
        self.run(self._report(cp_id, connector_id, status))

    async def _report(self, cp_id: str, connector_id: int, status: str) -> None:
        await self.env.pool.execute(  # What the gateway's live-state writer stores.
            """UPDATE connectors SET status = $3, status_at = $4
               WHERE charge_point_id = $1 AND connector_id = $2""",
            cp_id, connector_id, status, self.clock())
        await self.watch.status_changed(cp_id, connector_id, status)

    @rule(cp_id=st.sampled_from(CHARGERS), pick=st.none() | PICK, guess=st.integers(0, 999_999),
          at_its_charger=st.booleans())
    def authorize(self, cp_id: str, pick: int | None, guess: int, at_its_charger: bool) -> None:
        booked, code = self._code(pick, guess)
        before = None if booked is None else self.run(bookings.get(self.env.pool, booked.id))
        if before is not None and at_its_charger:
            cp_id = before.charge_point_id
        info = self.run(self.verifier.authorize(cp_id, code))
        if info.status is AuthorizationStatus.ACCEPTED:
            self._judged(judge(before, cp_id, None, self.clock()), "Authorize")

    @rule(cp_id=st.sampled_from(CHARGERS), connector_id=st.sampled_from(CONNECTORS),
          pick=st.none() | PICK, guess=st.integers(0, 999_999),
          meter_start=st.sampled_from((0, 1_000, 123_456)), name_it=st.booleans(),
          at_its_connector=st.booleans())
    def start(self, cp_id: str, connector_id: int, pick: int | None, guess: int,
              meter_start: int, name_it: bool, at_its_connector: bool) -> None:
        booked, code = self._code(pick, guess)
        before = None if booked is None else self.run(bookings.get(self.env.pool, booked.id))
        if before is not None and at_its_connector:  # The driver at the right place.
            cp_id, connector_id = before.charge_point_id, before.connector_id
        reservation_id = booked.id if booked is not None and name_it else None
        request = StartRequest(cp_id, connector_id, code, meter_start, self.clock(),
                               reservation_id)
        answer = self.run(self.transactions.start(request))
        if answer.id_tag_info.status is AuthorizationStatus.ACCEPTED:
            self._judged(judge(before, cp_id, connector_id, self.clock()), "StartTransaction")
        self.txs.setdefault(answer.transaction_id,
                            Tx(answer.transaction_id, cp_id, connector_id, meter_start))

    def _judged(self, violation: str | None, action: str) -> None:
        if violation is not None:
            self.violations.append(f"{action} at {self.clock():%H:%M}: {violation}")

    @precondition(lambda self: self.txs)
    @rule(pick=PICK, rise=st.integers(0, 20_000),
          oddity=st.sampled_from((None, "absurd value", "year 1000")))
    def meter_values(self, pick: int, rise: int, oddity: str | None) -> None:
        tx = self._tx(pick)
        value = ABSURD_WH if oddity == "absurd value" else tx.meter + rise
        at = ABSURD_TIME if oddity == "year 1000" else self.clock()
        if oddity is None:
            tx.meter = value
        sample = Sample(at, REGISTER, str(value), unit="Wh")
        self.run(self.transactions.meter_values(
            tx.charge_point_id, tx.connector_id, tx.id, [sample]))

    @precondition(lambda self: self.txs)
    @rule(pick=PICK, rise=st.integers(0, 20_000), reset=st.booleans())
    def stop(self, pick: int, rise: int, reset: bool) -> None:
        tx = self._tx(pick)
        meter_stop = rise if reset else tx.meter + rise
        self.run(self.transactions.stop(StopRequest(
            tx.charge_point_id, tx.id, meter_stop, self.clock(), "Local", None, [])))

    # Invariants.

    @invariant()
    def nothing_logged_as_an_error(self) -> None:
        records = self.env.errors.records
        assert not records, [f"{r.name}: {r.getMessage()} {r.exc_text or ''}" for r in records]

    @invariant()
    def no_overlapping_live_bookings(self) -> None:
        overlaps = self.run(self.env.pool.fetch(
            f"""SELECT a.id AS a, b.id AS b FROM reservations a JOIN reservations b
                  ON a.charge_point_id = b.charge_point_id AND a.connector_id = b.connector_id
                 AND a.id < b.id AND a.during && b.during
                WHERE a.status IN {LIVE_SQL} AND b.status IN {LIVE_SQL}"""))
        assert not overlaps, [dict(r) for r in overlaps]

    @invariant()
    def history_is_a_path_of_allowed_transitions(self) -> None:
        rows, steps = self.run(self._histories())
        paths: dict[int, list[asyncpg.Record]] = {}
        for step in steps:
            paths.setdefault(step["reservation_id"], []).append(step)
        for row in rows:
            path = paths.get(row["id"], [])
            statuses = [ReservationStatus(s["status"]) for s in path]
            assert statuses and statuses[0] is ReservationStatus.BOOKED, (row["id"], statuses)
            for before, after in itertools.pairwise(statuses):
                assert can_become(before, after), (row["id"], statuses)
            assert statuses[-1] == row["status"], (row["id"], statuses, row["status"])
            last = path[-1]
            where = (last["charge_point_id"], last["connector_id"])
            assert where == (row["charge_point_id"], row["connector_id"]), (row["id"], where)
            assert all(s["reason"] for s in path), (row["id"], [s["reason"] for s in path])

    async def _histories(self) -> tuple[list[asyncpg.Record], list[asyncpg.Record]]:
        pool = self.env.pool
        rows = await pool.fetch(
            "SELECT id, status, charge_point_id, connector_id FROM reservations ORDER BY id")
        steps = await pool.fetch(
            """SELECT reservation_id, status, reason, charge_point_id, connector_id
               FROM reservation_history ORDER BY reservation_id, id""")
        return rows, steps

    @invariant()
    def codes_work_only_in_their_window_at_their_charger(self) -> None:
        assert not self.violations, self.violations

    @invariant()
    def completed_bookings_cost_what_their_readings_say(self) -> None:
        rows = self.run(self.env.pool.fetch(
            """SELECT r.id, r.energy_kwh, r.cost, r.cost_breakdown,
                      (SELECT COALESCE(sum(t.energy_wh), 0) FROM transactions t
                       WHERE t.reservation_id = r.id AND t.id_tag_status = 'Accepted') AS wh
               FROM reservations r WHERE r.status = 'completed' ORDER BY r.id"""))
        for row in rows:
            energy, cost, breakdown = row["energy_kwh"], row["cost"], row["cost_breakdown"]
            assert energy is not None and energy >= 0, dict(row)
            assert cost is not None and cost >= 0, dict(row)
            periods = breakdown["periods"]
            parts = Decimal(breakdown["booking_fee"]) + Decimal(breakdown["session_fee"]) + sum(
                (Decimal(p["energy_cost"]) + Decimal(p["time_cost"]) for p in periods),
                Decimal(0))
            assert parts == cost == Decimal(breakdown["total"]), dict(row)
            assert all(Decimal(p["energy_kwh"]) >= 0 for p in periods), dict(row)
            assert Decimal(breakdown["energy_kwh"]) == energy, dict(row)
            expected = (Decimal(row["wh"]) / 1000).quantize(Decimal("0.001"))
            assert energy == expected, (
                f"reservation {row['id']}: energy_kwh {energy}, its transactions {expected}")


def run_machine(url: str) -> None:
    """Run the state machine on its own event loop (this thread's), with its own pool."""
    loop = asyncio.new_event_loop()
    errors = ErrorLog()
    logging.getLogger("csms").addHandler(errors)
    try:
        pool = loop.run_until_complete(create_pool(url, min_size=1, max_size=4))
        try:
            drivers = loop.run_until_complete(seed(pool))
            BookingLifecycle.env = Env(loop, pool, drivers, errors)
            run_state_machine_as_test(BookingLifecycle, settings=SETTINGS)
        finally:
            loop.run_until_complete(pool.close())
    finally:
        logging.getLogger("csms").removeHandler(errors)
        loop.close()


async def test_the_booking_lifecycle_keeps_its_invariants(database_url: str) -> None:
    await asyncio.to_thread(run_machine, database_url)
