"""Typed keys for what the application and each request carry."""

from __future__ import annotations

import asyncpg
from aiohttp import web

from csms.booking.service import Booking
from csms.clock import Clock
from csms.commands import CommandRouter
from csms.domain.rate_limits import AbuseLimits
from csms.gateway.guard import ConnectionGuard
from csms.gateway.registry import Registry
from csms.gateway.transport import Gateway
from csms.settings import Settings
from csms.store.embedded import EmbeddedPostgres
from csms.store.users import User
from csms.workers.live_feed import LiveFeed
from csms.workers.live_state import LiveStateWriter
from csms.workers.local_lists import LocalListSync
from csms.workers.message_log import MessageLog
from csms.workers.scheduler import Scheduler
from csms.workers.supervisor import Supervisor

SETTINGS = web.AppKey("settings", Settings)
CLOCK: web.AppKey[Clock] = web.AppKey("clock")
POOL = web.AppKey("pool", asyncpg.Pool)
REGISTRY = web.AppKey("registry", Registry)
LIVE_STATE = web.AppKey("live_state", LiveStateWriter)
COMMANDS = web.AppKey("commands", CommandRouter)
GATEWAY = web.AppKey("gateway", Gateway)
SCHEDULER = web.AppKey("scheduler", Scheduler)
BOOKING = web.AppKey("booking", Booking)
LIVE_FEED = web.AppKey("live_feed", LiveFeed)
LIMITS = web.AppKey("limits", AbuseLimits)
WORKERS = web.AppKey("workers", Supervisor)
GUARD = web.AppKey("guard", ConnectionGuard)
LOCAL_LISTS = web.AppKey("local_lists", LocalListSync)
EMBEDDED_POSTGRES = web.AppKey("embedded_postgres", EmbeddedPostgres)
#: The OCPP message log's writer; absent with ``CSMS_MESSAGE_LOG=false``.
MESSAGE_LOG = web.AppKey("message_log", MessageLog)

USER = web.RequestKey("user", User)
#: The bearer token the request came with (to sign out, and to count its event streams).
TOKEN = web.RequestKey("token", str)
