"""Charging transactions and their meter values.

Start and stop are idempotent: a charger repeats a transaction message until it gets an answer
(S 4.8, J 4), so a repeat finds the stored row and gets the same answer.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from decimal import Decimal

import asyncpg

from csms.domain.meter_values import Sample


@dataclasses.dataclass(frozen=True, slots=True)
class StartedTransaction:
    id: int
    id_tag_status: str
    #: False when this was a repeat of a start already stored.
    created: bool


async def find_start(
    connection: asyncpg.Connection, charge_point_id: str, connector_id: int, started_at: datetime
) -> StartedTransaction | None:
    """The transaction already stored for this exact start, if the charger is repeating it."""
    row = await connection.fetchrow(
        """SELECT id, id_tag_status FROM transactions
           WHERE charge_point_id = $1 AND connector_id = $2 AND started_at = $3""",
        charge_point_id,
        connector_id,
        started_at,
    )
    return None if row is None else StartedTransaction(row["id"], row["id_tag_status"], False)


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


async def insert_start(
    connection: asyncpg.Connection,
    *,
    charge_point_id: str,
    connector_id: int,
    id_tag: str,
    id_tag_status: str,
    meter_start: int,
    started_at: datetime,
    reservation_id: int | None,
) -> StartedTransaction:
    """Store a start; a concurrent identical start yields the row stored first."""
    row = await connection.fetchrow(
        """INSERT INTO transactions (charge_point_id, connector_id, id_tag, id_tag_status,
                                     meter_start, started_at, reservation_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT ON CONSTRAINT transactions_start_once DO NOTHING
           RETURNING id, id_tag_status""",
        charge_point_id,
        connector_id,
        id_tag,
        id_tag_status,
        meter_start,
        started_at,
        reservation_id,
    )
    if row is not None:
        return StartedTransaction(row["id"], row["id_tag_status"], True)
    existing = await find_start(connection, charge_point_id, connector_id, started_at)
    assert existing is not None
    return existing


async def stop(
    connection: asyncpg.Connection,
    *,
    transaction_id: int,
    charge_point_id: str,
    meter_stop: int,
    stopped_at: datetime,
    reason: str | None,
    id_tag: str | None,
) -> int | None:
    """Close a transaction; return its connector, or None if unknown or already closed."""
    connector: int | None = await connection.fetchval(
        """UPDATE transactions
           SET meter_stop = $3, stopped_at = $4, stop_reason = $5, stop_id_tag = $6
           WHERE id = $1 AND charge_point_id = $2 AND stopped_at IS NULL
           RETURNING connector_id""",
        transaction_id,
        charge_point_id,
        meter_stop,
        stopped_at,
        reason,
        id_tag,
    )
    return connector


async def add_meter_values(
    connection: asyncpg.Connection | asyncpg.Pool,
    *,
    charge_point_id: str,
    connector_id: int | None,
    transaction_id: int | None,
    samples: list[Sample],
) -> None:
    """Store samples; ones already stored are skipped. An unknown transaction id is not linked.

    ``connector_id`` None means: the connector of the transaction (StopTransaction's
    transactionData names no connector).
    """
    if not samples:
        return
    await connection.execute(
        """WITH tx AS (SELECT id, connector_id FROM transactions
                       WHERE id = $3 AND charge_point_id = $1)
           INSERT INTO meter_values (charge_point_id, connector_id, transaction_id, sampled_at,
                                     measurand, phase, location, context, format, unit, value)
           SELECT $1, COALESCE($2, (SELECT connector_id FROM tx), 0), (SELECT id FROM tx), s.*
           FROM unnest($4::timestamptz[], $5::text[], $6::text[], $7::text[], $8::text[],
                       $9::text[], $10::text[], $11::text[]) AS s
           ON CONFLICT ON CONSTRAINT meter_values_once DO NOTHING""",
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


async def list_page(
    pool: asyncpg.Pool,
    *,
    before: int | None,
    limit: int,
    charge_point_id: str | None = None,
    open_only: bool = False,
) -> list[asyncpg.Record]:
    """Transactions, newest first."""
    return list(
        await pool.fetch(
            """SELECT t.id, t.charge_point_id, t.connector_id,
                      -- A booking code is its driver's secret: not shown here.
                      CASE WHEN r.code IS NOT NULL AND lower(r.code) = lower(t.id_tag) THEN NULL
                           ELSE t.id_tag END AS id_tag,
                      t.id_tag_status, t.reservation_id, t.meter_start, t.started_at,
                      t.meter_stop, t.stopped_at, t.stop_reason,
                      COALESCE(t.meter_stop - t.meter_start,
                               (SELECT round(max(CASE WHEN m.unit = 'kWh'
                                                      THEN m.value::numeric * 1000
                                                      ELSE m.value::numeric END))::bigint
                                       - t.meter_start
                                FROM meter_values m
                                WHERE m.transaction_id = t.id
                                  AND m.measurand = 'Energy.Active.Import.Register'
                                  AND m.phase IS NULL
                                  AND m.value ~ '^-?[0-9]+(\\.[0-9]+)?$')) AS energy_wh
               FROM transactions t LEFT JOIN reservations r ON r.id = t.reservation_id
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


async def energy_readings(
    connection: asyncpg.Connection, transaction_id: int
) -> list[tuple[datetime, Decimal]]:
    """The transaction's energy register in Wh over time: start, samples, stop (S 7.43).

    Samples in kWh are converted; values that are not numbers (signed data) are skipped.
    """
    rows = await connection.fetch(
        """SELECT started_at AS at, meter_start::numeric AS wh FROM transactions WHERE id = $1
           UNION ALL
           SELECT sampled_at,
                  CASE WHEN unit = 'kWh' THEN value::numeric * 1000 ELSE value::numeric END
           FROM meter_values
           WHERE transaction_id = $1 AND measurand = 'Energy.Active.Import.Register'
             AND (format IS NULL OR format = 'Raw') AND (phase IS NULL)
             AND value ~ '^-?[0-9]+(\\.[0-9]+)?$'
           UNION ALL
           SELECT stopped_at, meter_stop::numeric FROM transactions
           WHERE id = $1 AND stopped_at IS NOT NULL
           ORDER BY 1""",
        transaction_id,
    )
    return [(row["at"], row["wh"]) for row in rows]


async def summary(
    executor: asyncpg.Pool | asyncpg.Connection, transaction_id: int
) -> asyncpg.Record | None:
    """A transaction with the energy so far (from the latest register reading while open)."""
    return await executor.fetchrow(
        """SELECT t.id, t.started_at, t.stopped_at,
                  COALESCE(t.meter_stop - t.meter_start,
                           (SELECT max(CASE WHEN m.unit = 'kWh' THEN m.value::numeric * 1000
                                            ELSE m.value::numeric END) - t.meter_start
                            FROM meter_values m
                            WHERE m.transaction_id = t.id
                              AND m.measurand = 'Energy.Active.Import.Register'
                              AND m.phase IS NULL AND m.value ~ '^-?[0-9]+(\\.[0-9]+)?$'),
                           0) AS energy_wh
           FROM transactions t WHERE t.id = $1""",
        transaction_id,
    )
