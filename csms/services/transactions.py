"""Start and stop transactions: re-check the idTag, store idempotently (S 4.8, 4.10, 5.2)."""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime

import asyncpg

from csms.clock import Clock
from csms.domain.authorization import AuthorizationStatus, IdTagInfo, decide
from csms.domain.identifiers import as_int32_id
from csms.domain.meter_values import Sample
from csms.store import id_tags
from csms.store import transactions as store

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, slots=True)
class StartRequest:
    charge_point_id: str
    connector_id: int
    id_tag: str
    meter_start: int
    started_at: datetime
    #: None when the charger sent none (or -1, which some use to mean none).
    reservation_id: int | None


@dataclasses.dataclass(frozen=True, slots=True)
class StartAnswer:
    transaction_id: int
    id_tag_info: IdTagInfo


async def start(pool: asyncpg.Pool, clock: Clock, request: StartRequest) -> StartAnswer:
    """Store a transaction start and decide its idTag; a repeat gets the first answer.

    The idTag is checked again even if the charger authorized it (S 5.2: it may have used a
    stale cache or been offline). A rejected start still gets a transaction id: the charger
    needs one to send StopTransaction.
    """
    async with pool.acquire() as connection, connection.transaction():
        record = await id_tags.find(connection, request.id_tag)
        existing = await store.find_start(
            connection, request.charge_point_id, request.connector_id, request.started_at
        )
        if existing is not None:
            info = decide(record, clock())
            return StartAnswer(
                existing.id,
                dataclasses.replace(info, status=AuthorizationStatus(existing.id_tag_status)),
            )
        concurrent = await store.tag_has_open_transaction(
            connection, request.id_tag, other_than=(request.charge_point_id, request.connector_id)
        )
        info = decide(record, clock(), has_other_transaction=concurrent)
        started = await store.insert_start(
            connection,
            charge_point_id=request.charge_point_id,
            connector_id=request.connector_id,
            id_tag=request.id_tag,
            id_tag_status=info.status,
            meter_start=request.meter_start,
            started_at=request.started_at,
            reservation_id=as_int32_id(request.reservation_id),
        )
    log.info(
        "transaction %s started at %s/%s for %s: %s",
        started.id,
        request.charge_point_id,
        request.connector_id,
        request.id_tag,
        started.id_tag_status,
    )
    return StartAnswer(
        started.id, dataclasses.replace(info, status=AuthorizationStatus(started.id_tag_status))
    )


@dataclasses.dataclass(frozen=True, slots=True)
class StopRequest:
    charge_point_id: str
    transaction_id: int
    meter_stop: int
    stopped_at: datetime
    reason: str | None
    id_tag: str | None
    samples: list[Sample]


async def stop(pool: asyncpg.Pool, clock: Clock, request: StopRequest) -> IdTagInfo | None:
    """Close a transaction with its final meter and ``transactionData``; idempotent.

    Returns the ``idTagInfo`` for the idTag that stopped it, if one was given (S 6.50).
    """
    transaction_id = as_int32_id(request.transaction_id)
    async with pool.acquire() as connection, connection.transaction():
        await store.add_meter_values(
            connection,
            charge_point_id=request.charge_point_id,
            connector_id=None,
            transaction_id=transaction_id,
            samples=request.samples,
        )
        connector = None
        if transaction_id is not None:
            connector = await store.stop(
                connection,
                transaction_id=transaction_id,
                charge_point_id=request.charge_point_id,
                meter_stop=request.meter_stop,
                stopped_at=request.stopped_at,
                reason=request.reason,
                id_tag=request.id_tag,
            )
        record = None if request.id_tag is None else await id_tags.find(connection, request.id_tag)
    if connector is None:
        log.info(
            "stop of transaction %s at %s: unknown or already stopped",
            request.transaction_id,
            request.charge_point_id,
        )
    return None if request.id_tag is None else decide(record, clock())


async def record_meter_values(
    pool: asyncpg.Pool,
    charge_point_id: str,
    connector_id: int,
    transaction_id: int | None,
    samples: list[Sample],
) -> None:
    await store.add_meter_values(
        pool,
        charge_point_id=charge_point_id,
        connector_id=connector_id,
        transaction_id=as_int32_id(transaction_id),
        samples=samples,
    )
