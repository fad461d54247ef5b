"""Charging transactions and their meter values.

Start and stop are idempotent: a charger repeats a transaction message until it gets an answer
(S 4.8, J 4), so a repeat finds the stored row and gets the same answer. A repeat is the same
message — connector, timestamp, idTag and meterStart — since chargers stamp whole seconds and
two different starts may share one. A transaction the CSMS closed itself (a refused start, a
Stop the charger lost) is *provisional*: the charger's own StopTransaction still replaces it.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from decimal import Decimal

import asyncpg

from csms.domain.meter_values import Meter, Reading, Sample

#: Reasons csms itself writes in ``stop_reason`` (beside the charger's S 7.39 ones).
REFUSED = "Refused"
LOST_STOP = "StopLost"


@dataclasses.dataclass(frozen=True, slots=True)
class StartedTransaction:
    id: int
    id_tag_status: str
    #: False when this was a repeat of a start already stored.
    created: bool


@dataclasses.dataclass(frozen=True, slots=True)
class OpenTransaction:
    id: int
    id_tag: str
    reservation_id: int | None


@dataclasses.dataclass(frozen=True, slots=True)
class TransactionSummary:
    id: int
    id_tag: str
    started_at: datetime
    stopped_at: datetime | None
    energy_wh: Decimal
    #: Whether StartTransaction.conf accepted its idTag (a refused start is stored closed).
    start_accepted: bool = True

    @property
    def energy_kwh(self) -> Decimal:
        return (self.energy_wh / 1000).quantize(Decimal("0.001"))


async def find_repeat(
    connection: asyncpg.Connection,
    charge_point_id: str,
    connector_id: int,
    started_at: datetime,
    id_tag: str,
    meter_start: int,
) -> StartedTransaction | None:
    """The transaction already stored for this very start, if the charger is repeating it."""
    row = await connection.fetchrow(
        """SELECT id, id_tag_status FROM transactions
           WHERE charge_point_id = $1 AND connector_id = $2 AND started_at = $3
             AND lower(id_tag) = lower($4) AND meter_start = $5""",
        charge_point_id,
        connector_id,
        started_at,
        id_tag,
        meter_start,
    )
    return None if row is None else StartedTransaction(row["id"], row["id_tag_status"], False)


async def open_on_connector(
    connection: asyncpg.Connection, charge_point_id: str, connector_id: int, *, other_than: int
) -> list[OpenTransaction]:
    """The connector's unfinished transactions besides ``other_than``, locked."""
    rows = await connection.fetch(
        """SELECT id, id_tag, reservation_id FROM transactions
           WHERE charge_point_id = $1 AND connector_id = $2 AND stopped_at IS NULL AND id <> $3
           ORDER BY id FOR UPDATE""",
        charge_point_id,
        connector_id,
        other_than,
    )
    return [OpenTransaction(r["id"], r["id_tag"], r["reservation_id"]) for r in rows]


async def open_of_reservation(
    connection: asyncpg.Connection, reservation_id: int
) -> list[OpenTransaction]:
    rows = await connection.fetch(
        """SELECT id, id_tag, reservation_id FROM transactions
           WHERE reservation_id = $1 AND stopped_at IS NULL ORDER BY id FOR UPDATE""",
        reservation_id,
    )
    return [OpenTransaction(r["id"], r["id_tag"], r["reservation_id"]) for r in rows]


async def tag_has_open_transaction(
    connection: asyncpg.Connection, id_tag: str, *, other_than: tuple[str, int]
) -> bool:
    """True when ``id_tag`` has an unfinished, accepted transaction on another connector."""
    return bool(
        await connection.fetchval(
            """SELECT EXISTS (SELECT 1 FROM transactions
                 WHERE lower(id_tag) = lower($1) AND stopped_at IS NULL
                   AND id_tag_status = 'Accepted'
                   AND (charge_point_id, connector_id) <> ($2, $3))""",
            id_tag,
            *other_than,
        )
    )


@dataclasses.dataclass(frozen=True, slots=True)
class NewStart:
    charge_point_id: str
    connector_id: int
    id_tag: str
    id_tag_status: str
    meter_start: int
    started_at: datetime
    received_at: datetime
    reservation_id: int | None


async def insert_start(connection: asyncpg.Connection, new: NewStart) -> StartedTransaction:
    """Store a start; a concurrent identical start yields the row stored first. A refused
    start is stored closed (provisionally: the charger will still send its Stop)."""
    refused = new.id_tag_status != "Accepted"
    row = await connection.fetchrow(
        """INSERT INTO transactions (charge_point_id, connector_id, id_tag, id_tag_status,
               meter_start, started_at, received_at, reservation_id, meter_stop, stopped_at,
               stop_received_at, stop_reason, stop_provisional, energy_wh)
           VALUES ($1, $2, $3, $4, $5::bigint, $6::timestamptz, $7::timestamptz, $8,
                   CASE WHEN $10::boolean THEN $5::bigint END,
                   CASE WHEN $10 THEN $6::timestamptz END, CASE WHEN $10 THEN $7::timestamptz END,
                   CASE WHEN $10 THEN $9::text END, $10, CASE WHEN $10 THEN 0 END)
           ON CONFLICT (charge_point_id, connector_id, started_at, lower(id_tag), meter_start)
           DO NOTHING
           RETURNING id, id_tag_status""",
        new.charge_point_id,
        new.connector_id,
        new.id_tag,
        new.id_tag_status,
        new.meter_start,
        new.started_at,
        new.received_at,
        new.reservation_id,
        REFUSED,
        refused,
    )
    if row is not None:
        return StartedTransaction(row["id"], row["id_tag_status"], True)
    existing = await find_repeat(
        connection, new.charge_point_id, new.connector_id, new.started_at, new.id_tag,
        new.meter_start,
    )
    assert existing is not None
    return existing


@dataclasses.dataclass(frozen=True, slots=True)
class Stop:
    transaction_id: int
    charge_point_id: str
    meter_stop: int
    stopped_at: datetime
    received_at: datetime
    reason: str | None
    id_tag: str | None
    provisional: bool = False


async def stop(connection: asyncpg.Connection, stop: Stop) -> bool:
    """Close a transaction (or replace a provisional close); False if unknown or already
    closed by the charger."""
    status: str = await connection.execute(
        """UPDATE transactions
           SET meter_stop = $3, stopped_at = $4, stop_received_at = $5, stop_reason = $6,
               stop_id_tag = $7, stop_provisional = $8
           WHERE id = $1 AND charge_point_id = $2
             AND (stopped_at IS NULL OR (stop_provisional AND NOT $8))""",
        stop.transaction_id,
        stop.charge_point_id,
        stop.meter_stop,
        stop.stopped_at,
        stop.received_at,
        stop.reason,
        stop.id_tag,
        stop.provisional,
    )
    return status.endswith(" 1")


async def meter(connection: asyncpg.Connection, transaction_id: int) -> Meter | None:
    """A transaction's register with its numeric energy samples (S 7.43; kWh made Wh; signed
    data skipped). ``stopped_at`` of an open one is None-free: its start stands in."""
    row = await connection.fetchrow(
        """SELECT started_at, received_at, meter_start, stopped_at, stop_received_at, meter_stop
           FROM transactions WHERE id = $1""",
        transaction_id,
    )
    if row is None:
        return None
    samples = await connection.fetch(
        """SELECT sampled_at,
                  CASE WHEN unit = 'kWh' THEN value::numeric * 1000 ELSE value::numeric END AS wh
           FROM meter_values
           WHERE transaction_id = $1 AND measurand = 'Energy.Active.Import.Register'
             AND (format IS NULL OR format = 'Raw') AND phase IS NULL
             AND value ~ '^-?[0-9]{1,30}(\\.[0-9]{1,12})?$'
           ORDER BY sampled_at""",
        transaction_id,
    )
    received = row["received_at"] or row["started_at"]
    return Meter(
        started_at=row["started_at"],
        start_received_at=received,
        meter_start=Decimal(row["meter_start"]),
        stopped_at=row["stopped_at"] or row["started_at"],
        stop_received_at=row["stop_received_at"] or received,
        meter_stop=Decimal(row["meter_stop"] if row["meter_stop"] is not None else -1),
        samples=tuple(Reading(s["sampled_at"], s["wh"]) for s in samples),
    )


async def set_energy(connection: asyncpg.Connection, transaction_id: int, wh: Decimal) -> None:
    await connection.execute(
        "UPDATE transactions SET energy_wh = $2 WHERE id = $1", transaction_id, wh
    )


async def meters_of_reservation(connection: asyncpg.Connection, reservation_id: int) -> list[Meter]:
    """The registers of every closed, accepted transaction a booking had (usually one)."""
    ids = await connection.fetch(
        """SELECT id FROM transactions WHERE reservation_id = $1 AND stopped_at IS NOT NULL
             AND id_tag_status = 'Accepted' ORDER BY id""",
        reservation_id,
    )
    meters = [await meter(connection, row["id"]) for row in ids]
    return [m for m in meters if m is not None]


async def connector_status(
    connection: asyncpg.Connection, charge_point_id: str, connector_id: int
) -> str | None:
    status: str | None = await connection.fetchval(
        """SELECT c.status FROM connectors c JOIN charge_points cp ON cp.id = c.charge_point_id
           WHERE c.charge_point_id = $1 AND c.connector_id = $2
             AND cp.connected_node IS NOT NULL""",
        charge_point_id,
        connector_id,
    )
    return status


async def add_meter_values(
    connection: asyncpg.Connection | asyncpg.Pool,
    *,
    charge_point_id: str,
    connector_id: int | None,
    transaction_id: int | None,
    samples: list[Sample],
) -> bool:
    """Store samples; ones already stored are skipped. An unknown transaction id is not linked.
    True when the samples belong to a transaction that is already closed (they came late).

    ``connector_id`` None means: the connector of the transaction (StopTransaction's
    transactionData names no connector).
    """
    if not samples:
        return False
    late: bool | None = await connection.fetchval(
        """WITH tx AS (SELECT id, connector_id, stopped_at FROM transactions
                       WHERE id = $3 AND charge_point_id = $1),
           stored AS (
               INSERT INTO meter_values (charge_point_id, connector_id, transaction_id,
                                         sampled_at, measurand, phase, location, context,
                                         format, unit, value)
               SELECT $1, COALESCE($2, (SELECT connector_id FROM tx), 0), (SELECT id FROM tx),
                      s.*
               FROM unnest($4::timestamptz[], $5::text[], $6::text[], $7::text[], $8::text[],
                           $9::text[], $10::text[], $11::text[]) AS s
               ON CONFLICT ON CONSTRAINT meter_values_once DO NOTHING)
           SELECT stopped_at IS NOT NULL FROM tx""",
        charge_point_id,
        connector_id,
        transaction_id,
        [s.sampled_at for s in samples],
        [s.measurand for s in samples],
        [s.phase for s in samples],
        [s.location for s in samples],
        [s.context for s in samples],
        [s.format for s in samples],
        [s.unit for s in samples],
        [s.value for s in samples],
    )
    return bool(late)


#: Energy so far: as priced once stopped; while open, the latest plausible register reading.
_ENERGY = """COALESCE(t.energy_wh,
               GREATEST((SELECT max(CASE WHEN m.unit = 'kWh' THEN m.value::numeric * 1000
                                         ELSE m.value::numeric END)
                         FROM meter_values m
                         WHERE m.transaction_id = t.id
                           AND m.measurand = 'Energy.Active.Import.Register'
                           AND m.phase IS NULL AND m.sampled_at >= t.started_at
                           AND m.value ~ '^-?[0-9]{1,30}(\\.[0-9]{1,12})?$') - t.meter_start,
                        0),
               0)"""


async def list_page(
    pool: asyncpg.Pool,
    *,
    before: int | None,
    limit: int,
    charge_point_id: str | None = None,
    open_only: bool = False,
) -> list[asyncpg.Record]:
    """Transactions, newest first. An idTag is shown only when it is a known card: a booking
    code (right or guessed) is its driver's secret."""
    return list(
        await pool.fetch(
            f"""SELECT t.id, t.charge_point_id, t.connector_id,
                       CASE WHEN EXISTS (SELECT 1 FROM id_tags i
                                         WHERE lower(i.id_tag) = lower(t.id_tag))
                            THEN t.id_tag END AS id_tag,
                       t.id_tag_status, t.reservation_id, t.meter_start, t.started_at,
                       t.meter_stop, t.stopped_at, t.stop_reason,
                       round({_ENERGY})::bigint AS energy_wh
                FROM transactions t
                WHERE ($1::integer IS NULL OR t.id < $1)
                  AND ($2::text IS NULL OR t.charge_point_id = $2)
                  AND (NOT $3 OR t.stopped_at IS NULL)
                ORDER BY t.id DESC LIMIT $4""",
            before,
            charge_point_id,
            open_only,
            limit,
        )
    )


async def summary(
    executor: asyncpg.Pool | asyncpg.Connection, transaction_id: int
) -> TransactionSummary | None:
    """A transaction with its energy so far."""
    row = await executor.fetchrow(
        f"""SELECT t.id, t.id_tag, t.started_at, t.stopped_at, {_ENERGY} AS energy_wh,
                   t.id_tag_status = 'Accepted' AS start_accepted
            FROM transactions t WHERE t.id = $1""",
        transaction_id,
    )
    return None if row is None else TransactionSummary(**dict(row))
