"""Notification workers: reminders into the outbox, and the outbox out to webhooks and email.

The booking writers put events into the outbox themselves (:mod:`csms.store.notifications`);
the event streams read it on every node (:mod:`csms.workers.live_feed`). Here:

- :class:`Reminders` writes a ``reminder`` for bookings whose window opens within the lead
  (``CSMS_REMINDER_MINUTES``); any number of nodes may run it (one reminder per booking and
  window, by a unique index).
- :class:`NotificationDelivery` fans each event out to one delivery per subscribed webhook and
  one email, then sends what is due: claimed with ``FOR UPDATE SKIP LOCKED`` and a lease, so
  every node can run one; woken by ``NOTIFY csms_notifications``, polling as a fallback.
  Delivery is at least once and in order per booking and channel: a later event of a booking
  waits until the earlier one was delivered or dead-lettered. A failed attempt (no 2xx, a
  timeout, no connection) is tried again with exponential backoff and jitter, and after
  ``CSMS_WEBHOOK_MAX_ATTEMPTS`` attempts dead-lettered (state ``dead``, its last error kept).
  A stopping node gives back what it was sending (sent again at once elsewhere; the receiver
  may then see an event twice and deduplicates by its ``id``); a node that dies lets its lease
  run out (twice ``CSMS_WEBHOOK_TIMEOUT`` and 5 s), then another node sends it again.
  Emails go the same way (one delivery per event to the booking's driver, ``CSMS_EMAIL``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

import aiohttp
import asyncpg
import orjson

from csms import metrics
from csms.clock import Clock
from csms.domain.notifications import (
    SIGNATURE_HEADER,
    email_message,
    retry_at,
    signature,
    webhook_body,
)
from csms.domain.timestamps import format_timestamp
from csms.errors import DatabaseUnavailable
from csms.services.email import EmailTransport
from csms.store import notifications
from csms.store.errors import is_unavailable
from csms.workers.supervisor import woken_or_after

log = logging.getLogger(__name__)

DELIVERIES = metrics.counter(
    "csms_notification_deliveries_total",
    "Attempts of this node to deliver a notification, by channel (webhook, email) and outcome: "
    "delivered, retried (failed, tried again later) or dead (failed for the last time).",
    ("channel", "outcome"),
)

_BATCH = 50
#: Deliveries one node sends at once.
_MAX_IN_FLIGHT = 200
#: A lease outlasts an attempt (``timeout``) this many times over, plus this much (seconds):
#: an answer that comes slowly is recorded before another node may send the event again.
_LEASE_FACTOR = 2.0
_LEASE_MARGIN = 5.0
#: How long a stopping node tries to give back what it was sending (seconds).
_GIVE_BACK_SECONDS = 5.0


class DeliveryFailed(Exception):
    """An attempt that did not get through (the message says why)."""


class Reminders:
    """Writes reminders ``lead`` before windows open, looking every ``every`` seconds."""

    def __init__(self, pool: asyncpg.Pool, clock: Clock, lead: timedelta, every: float) -> None:
        self._pool = pool
        self._clock = clock
        self._lead = lead
        self._every = every

    async def run(self) -> None:
        while True:
            try:
                await self.run_once()
            except asyncpg.PostgresError as error:
                if is_unavailable(error):
                    raise
                log.exception("reminders: pass failed; trying again")
            await asyncio.sleep(self._every)

    async def run_once(self) -> int:
        written = await notifications.create_reminders(self._pool, self._clock(), self._lead)
        if written:
            log.info("reminders: %d written", written)
        return written


class NotificationDelivery:
    """Sends the outbox's events to webhooks and, with a transport, to drivers by email."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        clock: Clock,
        *,
        email: EmailTransport | None,
        timeout: float,
        max_attempts: int,
        first_retry: float,
        poll_seconds: float,
    ) -> None:
        self._pool = pool
        self._clock = clock
        self._email = email
        self._timeout = timeout
        self._max_attempts = max_attempts
        self._first_retry = first_retry
        self._poll = poll_seconds
        self._wake = asyncio.Event()
        #: Deliveries claimed by this node and not finished: given back if it stops.
        self._sending: set[int] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._http: aiohttp.ClientSession | None = None

    def wake(self, *_: object) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Work until cancelled, listening for new events on a connection of its own (ends
        with an error when that connection closes: the supervisor starts it again)."""
        timeout = aiohttp.ClientTimeout(total=self._timeout)
        async with (
            aiohttp.ClientSession(timeout=timeout) as self._http,
            self._pool.acquire() as listener,
        ):
            await listener.add_listener(notifications.WAKE_CHANNEL, self.wake)
            try:
                while not listener.is_closed():
                    await woken_or_after(self._wake, await self._pass())
                raise DatabaseUnavailable("the notification listener's connection closed")
            finally:
                await self._give_back()
                with contextlib.suppress(Exception):
                    await listener.remove_listener(notifications.WAKE_CHANNEL, self.wake)

    async def _pass(self) -> float:
        """One pass; how long to wait for the next (0 while there is more to do)."""
        try:
            if await self.run_once() >= _BATCH:
                return 0.0
            due = await notifications.next_due(self._pool, self._clock())
        except asyncpg.PostgresError as error:
            if is_unavailable(error):
                raise
            log.exception("notifications: pass failed; trying again")
            return self._poll
        if due is None:
            return self._poll
        return min(self._poll, max((due - self._clock()).total_seconds(), 0.0))

    async def run_once(self) -> int:
        """Fan out new events, then start sending every delivery due now (without waiting for
        them: a slow receiver holds up only its own bookings' later events); how many."""
        now = self._clock()
        await notifications.fan_out(self._pool, now, email=self._email is not None)
        room = _MAX_IN_FLIGHT - len(self._tasks)
        if room <= 0:
            return 0
        lease = now + timedelta(seconds=_LEASE_FACTOR * self._timeout + _LEASE_MARGIN)
        due = await notifications.claim_due(self._pool, now, lease, min(room, _BATCH))
        self._sending.update(d.id for d in due)
        await self._send_emails([d for d in due if d.webhook_id is None])
        for delivery in due:
            if delivery.webhook_id is not None:
                task = asyncio.create_task(self._deliver(delivery))
                self._tasks.add(task)
                task.add_done_callback(self._finished)
        return len(due)

    async def _send_emails(self, due: list[notifications.Delivery]) -> None:
        """Emails go to a local transport (a sink, a mail relay): sent one after the other
        right here, those that went out recorded in one statement (a busy booking hour makes
        one per booking), those that did not retried as any failed attempt is."""
        sent: list[int] = []
        for delivery in due:
            try:
                await self._send_email(delivery)
            except Exception as error:  # The attempt counts and is retried.
                await self._failed(delivery, error)
            else:
                sent.append(delivery.id)
        if sent:
            await notifications.delivered_many(self._pool, sent, self._clock())
            DELIVERIES.inc("email", "delivered", amount=len(sent))
            self._sending.difference_update(sent)
            self.wake()  # Later events of these bookings may go now.

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("notifications: recording a delivery failed", exc_info=task.exception())
        self.wake()  # The booking's next event may go now.

    async def _deliver(self, delivery: notifications.Delivery) -> None:
        try:
            await self._send(delivery)
        except Exception as error:  # Whatever went wrong, the attempt counts and is retried.
            await self._failed(delivery, error)
        else:
            await notifications.delivered(self._pool, delivery.id, self._clock())
            DELIVERIES.inc(_kind(delivery), "delivered")
            self._sending.discard(delivery.id)

    async def _failed(self, delivery: notifications.Delivery, error: Exception) -> None:
        """Record a failed attempt: tried again later, or dead-lettered after the last."""
        reason = str(error) or type(error).__name__
        now = self._clock()
        again = retry_at(delivery.attempts, self._max_attempts, now, self._first_retry)
        await notifications.failed(self._pool, delivery.id, reason, again, now)
        DELIVERIES.inc(_kind(delivery), "dead" if again is None else "retried")
        log.log(
            logging.WARNING if again is None else logging.INFO,
            "notification %s (%s) to %s: attempt %d failed (%s); %s",
            delivery.notification_id, delivery.type, _channel(delivery), delivery.attempts,
            reason, "dead-lettered" if again is None else f"again at {format_timestamp(again)}",
        )
        self._sending.discard(delivery.id)

    async def _send(self, delivery: notifications.Delivery) -> None:
        if delivery.webhook_id is None:
            await self._send_email(delivery)
        else:
            await self._post(delivery)

    async def _send_email(self, delivery: notifications.Delivery) -> None:
        if self._email is None or not delivery.email:
            raise DeliveryFailed("no email transport or no address")
        await self._email.send(
            email_message(
                delivery.email, delivery.type, delivery.reservation_id, delivery.payload,
                delivery.code,
            )
        )

    async def _post(self, delivery: notifications.Delivery) -> None:
        """One JSON POST, signed; any 2xx answer is a delivery."""
        if self._http is None or delivery.url is None or delivery.secret is None:
            raise DeliveryFailed("the webhook is gone")
        body = orjson.dumps(
            webhook_body(
                delivery.notification_id, delivery.type, delivery.reservation_id,
                delivery.payload, format_timestamp(delivery.created_at),
            )
        )
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: signature(delivery.secret, body),
            "User-Agent": "csms-webhooks",
        }
        try:
            async with self._http.post(delivery.url, data=body, headers=headers) as response:
                await response.read()
                if not 200 <= response.status < 300:
                    raise DeliveryFailed(f"HTTP {response.status}")
        except (aiohttp.ClientError, TimeoutError) as error:
            raise DeliveryFailed(f"{type(error).__name__}: {error}") from None

    async def _give_back(self) -> None:
        """Stopping: what was being sent is due again at once, here or on another node."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if not self._sending:
            return
        unfinished, self._sending = sorted(self._sending), set()
        # Bounded: a stop never hangs on a database that does not answer (the leases then run
        # out instead).
        with contextlib.suppress(Exception):
            await _shielded(
                lambda: asyncio.wait_for(
                    notifications.release(self._pool, unfinished), _GIVE_BACK_SECONDS
                )
            )


def _kind(delivery: notifications.Delivery) -> str:
    return "email" if delivery.webhook_id is None else "webhook"


def _channel(delivery: notifications.Delivery) -> str:
    return "email" if delivery.webhook_id is None else f"webhook {delivery.webhook_id}"


async def _shielded(work: Callable[[], Awaitable[None]]) -> None:
    """Run ``work`` to its end even while the caller is being cancelled."""
    task = asyncio.ensure_future(work())
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        await task
        raise
