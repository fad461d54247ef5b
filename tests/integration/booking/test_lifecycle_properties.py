"""Random walks through the booking lifecycle on a real PostgreSQL, checking invariants.

A hypothesis state machine mixes drivers' actions (book, cancel, arrive and type the code),
chargers' events (connector statuses, Authorize, StartTransaction, MeterValues — now and then
absurd —, StopTransaction, late Stops, how ReserveNow is answered) and a clock the test moves,
each followed by scheduler passes. After every step the database must show that:

1. no two live bookings of one connector overlap;
2. each booking's history is a path of allowed transitions from ``booked`` to its current
   status and connector, every step with a reason;
3. a code was accepted only at its booking's charger (and connector, for a start), the booking
   live, from ``min(start, dispatched_at)`` less ``CLOCK_SLACK`` until the window ends;
4. a completed booking's energy and cost are not negative, its breakdown sums to its cost
   exactly, and its energy is that of its accepted transactions;

and that no unexpected error escaped a rule or was logged (the scheduler logs and swallows).
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import logging
from collections.abc import Coroutine
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from logging.handlers import BufferingHandler
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
from csms.booking.codes import CLOCK_SLACK, WrongCodeRule
from csms.booking.reconcile import ConnectorWatch
from csms.booking.records import Reservation
from csms.booking.service import Booking, BookingRequest, NotCancellable
from csms.booking.states import LIVE, ReservationStatus, can_become
from csms.domain.authorization import AuthorizationStatus
from csms.domain.charge_points import ConnectorSpec
from csms.domain.meter_values import Sample
from csms.domain.tariffs import parse_tariff
from csms.domain.terms import BookingTerms
from csms.domain.windows import InvalidWindow
from csms.errors import ChargePointNotConnected, ChargePointTimeout
from csms.services.transactions import StartRequest, StopRequest, Transactions
from csms.services.verification import IdTagVerifier
from csms.store import charge_points, tariffs
from csms.store.database import create_pool
from csms.store.users import User
from csms.workers.scheduler import Scheduler
from tests.world import TARIFF

T = TypeVar("T")
T0 = datetime(2026, 5, 4, 8, tzinfo=UTC)
CHARGERS = ("PROP-1", "PROP-2")
CONNECTORS = (1, 2)
STATUSES = ("Available", "Faulted", "Unavailable", "Occupied", "Charging")
ANSWERS = ("Accepted", "Occupied", "Rejected", "Timeout", "Offline")
FAILURES = {"Timeout": ChargePointTimeout, "Offline": ChargePointNotConnected}
REGISTER = "Energy.Active.Import.Register"
ABSURD_WH = 2**62
ABSURD_TIME = datetime(1000, 1, 1, tzinfo=UTC)
LIVE_SQL = "('booked', 'active', 'charging')"
PICK = st.integers(0, 63)  # An index into what the model knows, taken modulo its length.
CODES = st.sampled_from(("due", "any", "guess"))  # A code due now, any booking's, a guess.
GUESS = st.integers(0, 999_999)
METER_START = st.sampled_from((0, 1_000, 123_456))
RISE = st.integers(0, 20_000)
SETTINGS = settings(max_examples=100, stateful_step_count=50, deadline=None)


@dataclasses.dataclass
class FakeClock:
    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now


class ChargerSide:
    """Answers the scheduler's and the booking service's calls as each charger is set to (it
    stands for the chargers' side of those calls; the sockets are tested elsewhere)."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.answer = dict.fromkeys(CHARGERS, "Accepted")
        self.profiles = dict.fromkeys(CHARGERS, "Core,Reservation")
        #: (transaction id, when) of every RemoteStopTransaction asked for.
        self.stops: list[tuple[int, datetime]] = []

    async def call(self, charge_point_id: str, action: str, payload: dict[str, Any],
                   timeout: float | None = None) -> dict[str, Any]:
        if action == "GetConfiguration":
            value = self.profiles[charge_point_id]
            return {"configurationKey": [{"key": "SupportedFeatureProfiles", "value": value}]}
        if action == "CancelReservation":
            return {"status": "Accepted"}
        if action == "RemoteStopTransaction":  # The Stop that follows may be lost, or late.
            self.stops.append((payload["transactionId"], self.clock()))
            return {"status": "Accepted"}
        assert action == "ReserveNow", action
        answer = self.answer[charge_point_id]
        if answer in FAILURES:
            raise FAILURES[answer](answer)
        return {"status": answer}


@dataclasses.dataclass
class Env:
    loop: asyncio.AbstractEventLoop
    pool: asyncpg.Pool
    drivers: tuple[User, User]
    errors: BufferingHandler  # What csms logged as errors.

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(asyncio.wait_for(coroutine, 60))


@dataclasses.dataclass
class Tx:
    id: int
    charge_point_id: str
    connector_id: int
    meter: int  # The register as last reported (plausibly).
    accepted: bool


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
    for email in ("driver1@example.com", "driver2@example.com"):
        user_id = await pool.fetchval(
            "INSERT INTO users (email, password_hash, role) VALUES ($1, 'x', 'driver')"
            " RETURNING id", email)
        users.append(User(user_id, email, "driver"))
    return users[0], users[1]


def judge(booking: Reservation | None, cp_id: str, connector_id: int | None,
          now: datetime) -> str | None:
    """Why accepting a code (of ``booking``, None: a guess) here and now is wrong, if it is."""
    if booking is None:
        return f"a guessed code was accepted at {cp_id}"
    where = f"the code of reservation {booking.id} ({booking.status}, {booking.start:%H:%M}-"
    where += f"{booking.end:%H:%M} at {booking.charge_point_id}/{booking.connector_id})"
    # Valid from dispatch (or the window's start), with the slack codes.py grants chargers' clocks.
    valid_from = min(booking.start, booking.dispatched_at or booking.start) - CLOCK_SLACK
    if booking.status not in LIVE:
        return f"{where} was accepted though the booking is over"
    if booking.charge_point_id != cp_id:
        return f"{where} was accepted at {cp_id}"
    if connector_id is not None and booking.connector_id != connector_id:
        return f"{where} started a transaction on connector {connector_id}"
    if not valid_from <= now < booking.end:
        return f"{where} was accepted at {now:%H:%M:%S}, valid from {valid_from:%H:%M:%S}"
    return None


class BookingLifecycle(RuleBasedStateMachine):
    env: ClassVar[Env]

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()
        self.chargers = ChargerSide(self.clock)
        self.owners: dict[int, User] = {}  # Every booking made, by id.
        self.txs: dict[int, Tx] = {}
        self.violations: list[str] = []
        self.env.errors.flush()
        self.run = self.env.run

    @initialize(takes_reservations=st.tuples(st.booleans(), st.booleans()),
                keypad_lock=st.booleans())
    def fresh_database(self, takes_reservations: tuple[bool, bool], keypad_lock: bool) -> None:
        for cp_id, takes in zip(CHARGERS, takes_reservations, strict=True):
            self.chargers.profiles[cp_id] = "Core,Reservation" if takes else "Core"
        pool, clock = self.env.pool, self.clock
        # Without the lock, guesses do not hide what a right code does (the lock is tested too).
        rule = WrongCodeRule() if keypad_lock else WrongCodeRule(max_failures=10_000)
        self.verifier = IdTagVerifier(pool, clock, rule)
        self.transactions = Transactions(pool, clock, self.verifier)
        settle = self.transactions.settle_abandoned
        self.booking = Booking(pool, self.chargers, clock, BookingTerms(), timedelta(minutes=5))
        self.scheduler = Scheduler(
            pool, self.chargers, clock, poll_seconds=1.0, retry_interval=timedelta(minutes=2),
            call_timeout=5.0, settle=settle)
        self.watch = ConnectorWatch(pool, clock, settle)
        self.run(pool.execute(
            """TRUNCATE reservations, reservation_history, transactions, meter_values,
                        wrong_codes RESTART IDENTITY CASCADE;
               UPDATE connectors SET status = 'Available', status_at = NULL;
               UPDATE charge_points SET supported_profiles = NULL"""))

    def _code(self, which: str, pick: int, guess: int) -> tuple[Reservation | None, str]:
        """A code to type, and its booking as it is now (None: a guess)."""
        ids = list(self.owners)
        if which in ("due", "live"):  # A live booking ("due": its window open or about to).
            ids = self.run(self.env.pool.fetchval(
                f"""SELECT array_agg(id ORDER BY id) FROM reservations WHERE status IN {LIVE_SQL}
                    AND ($2 OR during && tstzrange($1::timestamptz, $1 + interval '5 minutes'))""",
                self.clock(), which == "live")) or ids
        if which == "guess" or not ids:
            return None, f"{guess:06d}"
        booking = self.run(bookings.get(self.env.pool, ids[pick % len(ids)]))
        assert booking is not None
        return booking, booking.code

    def _tx(self, pick: int, accepted_only: bool) -> Tx:
        txs = [t for t in self.txs.values() if t.accepted or not accepted_only]
        txs = txs or list(self.txs.values())
        return txs[pick % len(txs)]

    @rule(driver=st.sampled_from((0, 1)), cp_id=st.sampled_from(CHARGERS),
          connector_id=st.sampled_from(CONNECTORS), offset=st.integers(0, 12),
          quarters=st.integers(1, 8))
    def book(self, driver: int, cp_id: str, connector_id: int, offset: int,
             quarters: int) -> None:
        user = self.env.drivers[driver]
        start = self.clock.now + timedelta(minutes=15 * offset)
        end = start + timedelta(minutes=15 * quarters)
        try:
            view = self.run(self.booking.book(
                user, BookingRequest(cp_id, connector_id, start, end)))
        except bookings.SlotTaken:
            taken = self.run(self.env.pool.fetchval(
                f"""SELECT count(*) FROM reservations WHERE (charge_point_id, connector_id) =
                    ($1, $2) AND status IN {LIVE_SQL} AND during && tstzrange($3, $4)""",
                cp_id, connector_id, start, end))
            assert taken, "slot_taken without an overlapping live booking"
            return
        except InvalidWindow:
            return
        self.owners[view["id"]] = user

    @precondition(lambda self: self.owners)
    @rule(pick=PICK)
    def cancel(self, pick: int) -> None:
        reservation_id, owner = list(self.owners.items())[pick % len(self.owners)]
        try:
            view = self.run(self.booking.cancel(owner, reservation_id))
        except NotCancellable:
            current = self.run(bookings.get(self.env.pool, reservation_id))
            assert current is not None
            assert not can_become(current.status, ReservationStatus.CANCELLED), current.status
            return
        assert view["status"] == "cancelled"

    @rule(minutes=st.integers(0, 60))
    def time_passes(self, minutes: float) -> None:
        """The clock moves on (0: it does not), then the scheduler makes a pass."""
        self.clock.now += timedelta(minutes=minutes)
        self.run(self.scheduler.run_once())

    @rule(cp_id=st.sampled_from(CHARGERS), answer=st.sampled_from(ANSWERS))
    def reserve_now_answer(self, cp_id: str, answer: str) -> None:
        self.chargers.answer[cp_id] = answer

    @rule(cp_id=st.sampled_from(CHARGERS), connector_id=st.sampled_from(CONNECTORS),
          status=st.sampled_from(STATUSES))
    def connector_status(self, cp_id: str, connector_id: int, status: str) -> None:
        self.run(self.env.pool.execute(  # What the gateway's live-state writer stores.
            """UPDATE connectors SET status = $3, status_at = $4
               WHERE charge_point_id = $1 AND connector_id = $2""",
            cp_id, connector_id, status, self.clock()))
        self.run(self.watch.status_changed(cp_id, connector_id, status))

    @rule(cp_id=st.sampled_from(CHARGERS), which=CODES, pick=PICK, guess=GUESS,
          at_its_charger=st.booleans())
    def authorize(self, cp_id: str, which: str, pick: int, guess: int,
                  at_its_charger: bool) -> None:
        before, code = self._code(which, pick, guess)
        if before is not None and at_its_charger:
            cp_id = before.charge_point_id
        info = self.run(self.verifier.authorize(cp_id, code))
        if info.status is AuthorizationStatus.ACCEPTED:
            self._judged(judge(before, cp_id, None, self.clock()), "Authorize")

    @rule(cp_id=st.sampled_from(CHARGERS), connector_id=st.sampled_from(CONNECTORS),
          which=CODES, pick=PICK, guess=GUESS, meter_start=METER_START,
          name_it=st.booleans(), at_its_connector=st.booleans())
    def start(self, cp_id: str, connector_id: int, which: str, pick: int, guess: int,
              meter_start: int, name_it: bool, at_its_connector: bool) -> None:
        before, code = self._code(which, pick, guess)
        if before is not None and at_its_connector:  # The driver at the right place.
            cp_id, connector_id = before.charge_point_id, before.connector_id
        self._start(cp_id, connector_id, before, code, meter_start, name_it)

    @precondition(lambda self: self.owners)
    @rule(pick=PICK, early=st.integers(0, 10), meter_start=METER_START)
    def driver_arrives(self, pick: int, early: int, meter_start: int) -> None:
        """The common case, made common: a driver comes to their connector as their window
        opens (or a few minutes early), and types their code."""
        booking, code = self._code("live", pick, 0)
        assert booking is not None
        arrival = booking.start - timedelta(minutes=early)
        if arrival > self.clock.now:
            self.time_passes((arrival - self.clock.now) / timedelta(minutes=1))
            booking = self.run(bookings.get(self.env.pool, booking.id))  # It may have moved.
            assert booking is not None
        self._start(booking.charge_point_id, booking.connector_id, booking, code, meter_start,
                    True)

    def _start(self, cp_id: str, connector_id: int, before: Reservation | None, code: str,
               meter_start: int, name_it: bool) -> None:
        reservation_id = before.id if before is not None and name_it else None
        answer = self.run(self.transactions.start(StartRequest(
            cp_id, connector_id, code, meter_start, self.clock(), reservation_id)))
        if answer.transaction_id in self.txs:  # A repeat (S 4.8): it gets the first answer.
            return
        accepted = answer.id_tag_info.status is AuthorizationStatus.ACCEPTED
        if accepted:
            self._judged(judge(before, cp_id, connector_id, self.clock()), "StartTransaction")
        self.txs[answer.transaction_id] = Tx(
            answer.transaction_id, cp_id, connector_id, meter_start, accepted)

    def _judged(self, violation: str | None, action: str) -> None:
        if violation is not None:
            self.violations.append(f"{action} at {self.clock():%H:%M}: {violation}")

    @precondition(lambda self: self.txs)
    @rule(pick=PICK, accepted_only=st.booleans(), rise=RISE,
          oddity=st.sampled_from((None, "absurd value", "year 1000")))
    def meter_values(self, pick: int, accepted_only: bool, rise: int, oddity: str | None) -> None:
        tx = self._tx(pick, accepted_only)
        value = ABSURD_WH if oddity == "absurd value" else tx.meter + rise
        at = ABSURD_TIME if oddity == "year 1000" else self.clock()
        if oddity is None:
            tx.meter = value
        self.run(self.transactions.meter_values(
            tx.charge_point_id, tx.connector_id, tx.id,
            [Sample(at, REGISTER, str(value), unit="Wh")]))

    @precondition(lambda self: self.txs)
    @rule(pick=PICK, accepted_only=st.booleans(), rise=RISE, reset=st.booleans())
    def stop(self, pick: int, accepted_only: bool, rise: int, reset: bool) -> None:
        tx = self._tx(pick, accepted_only)
        meter_stop = rise if reset else tx.meter + rise
        self.run(self.transactions.stop(StopRequest(
            tx.charge_point_id, tx.id, meter_stop, self.clock(), "Local", None, [])))

    @precondition(lambda self: self.txs)
    @rule(pick=PICK, rise=RISE)
    def late_stop(self, pick: int, rise: int) -> None:
        """A Stop the charger had queued arrives after the CSMS closed the session itself."""
        closed = self.run(self.env.pool.fetchval(
            """SELECT array_agg(id ORDER BY id) FROM transactions
               WHERE stop_provisional AND id_tag_status = 'Accepted'"""))
        if closed:
            tx = self.txs[closed[pick % len(closed)]]
            self.run(self.transactions.stop(StopRequest(
                tx.charge_point_id, tx.id, tx.meter + rise, self.clock(), "PowerLoss", None, [])))

    @invariant()
    def nothing_logged_as_an_error(self) -> None:
        records = self.env.errors.buffer
        assert not records, [f"{r.name}: {r.getMessage()} {r.exc_text or ''}" for r in records]

    @invariant()
    def sessions_are_stopped_only_after_their_window(self) -> None:
        for transaction_id, at in self.chargers.stops:
            end = self.run(self.env.pool.fetchval(
                """SELECT upper(r.during) FROM transactions t
                   JOIN reservations r ON r.id = t.reservation_id WHERE t.id = $1""",
                transaction_id))
            assert end is not None and at >= end, (transaction_id, at, end)

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
        rows = self.run(self.env.pool.fetch(
            "SELECT id, status, charge_point_id, connector_id FROM reservations ORDER BY id"))
        steps = self.run(self.env.pool.fetch(
            """SELECT reservation_id, status, reason, charge_point_id, connector_id
               FROM reservation_history ORDER BY reservation_id, id"""))
        paths = {k: list(g) for k, g in itertools.groupby(steps, lambda s: s["reservation_id"])}
        for row in rows:
            path = paths.get(row["id"], [])
            statuses = [ReservationStatus(s["status"]) for s in path]
            assert statuses and statuses[0] is ReservationStatus.BOOKED, (row["id"], statuses)
            for before, after in itertools.pairwise(statuses):
                assert can_become(before, after), (row["id"], statuses)
            assert statuses[-1] == row["status"], (row["id"], statuses, row["status"])
            where = (path[-1]["charge_point_id"], path[-1]["connector_id"])
            assert where == (row["charge_point_id"], row["connector_id"]), (row["id"], where)
            assert all(s["reason"] for s in path), (row["id"], [s["reason"] for s in path])

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
    """Run the state machine on an event loop of this thread, with a pool of its own."""
    loop = asyncio.new_event_loop()
    errors = BufferingHandler(capacity=10_000)
    errors.setLevel(logging.ERROR)
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
