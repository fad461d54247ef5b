"""Typed keys for what the application and each request carry."""

from __future__ import annotations

import asyncpg
from aiohttp import web

from csms.booking.scheduler import Scheduler
from csms.booking.service import Booking
from csms.clock import Clock
from csms.commands import CommandRouter
from csms.gateway.registry import Registry
from csms.gateway.transport import Gateway
from csms.live_feed import LiveFeed
from csms.settings import Settings
from csms.store.live_state import LiveStateWriter
from csms.store.users import User

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

USER = web.RequestKey("user", User)
