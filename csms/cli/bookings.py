"""``csms booking …``: an operator lists, shows, cancels and moves drivers' bookings.

Cancel and move go through the booking service, as the HTTP API's do: a booking already on
its charger gets CancelReservation there, through whichever csms node holds the charger.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import asyncpg

from csms.booking.changes import MoveRequest
from csms.booking.service import Booking
from csms.booking.store import ListFilter
from csms.cli.common import (
    INT32_MAX,
    Subcommands,
    add_json,
    add_yes,
    confirm,
    connector_id_arg,
    emit,
    fields,
    limit_arg,
    node_id,
    open_pool,
    table,
    time_arg,
    when,
)
from csms.clock import system_clock
from csms.cluster.router import ClusterCommandRouter
from csms.commands import Payload
from csms.errors import ChargePointNotConnected, ValidationFailed
from csms.settings import Settings
from csms.store.users import User

#: Who the CLI acts as: an operator (a driver's code is never shown to one).
OPERATOR = User(id=0, email="csms command line", role="operator")


class _HoldsNoCharger:
    """This process holds no charger's socket: every call goes to the node that does."""

    def holds(self, charge_point_id: str) -> bool:
        return False

    async def call(
        self, charge_point_id: str, action: str, payload: Payload, timeout: float | None = None
    ) -> Payload:
        raise ChargePointNotConnected(f"{charge_point_id} is not connected")


def add_commands(commands: Subcommands) -> None:
    booking = commands.add_parser("booking", help="drivers' bookings").add_subparsers(
        required=True, metavar="ACTION"
    )
    listing = booking.add_parser("list", help="everyone's bookings, newest first")
    listing.add_argument("--charge-point", help="at this charge point only")
    listing.add_argument("--from", dest="overlaps_from", type=time_arg, help="windows overlapping")
    listing.add_argument("--to", dest="overlaps_to", type=time_arg, help="… [from, to)")
    listing.add_argument("--limit", type=limit_arg, default=100)
    listing.set_defaults(run=_list)
    show = booking.add_parser("show", help="one booking with its history")
    show.set_defaults(run=_show)
    cancel = booking.add_parser("cancel", help="cancel a booking (its driver sees why)")
    add_yes(cancel)
    cancel.set_defaults(run=_cancel)
    move = booking.add_parser(
        "move", help="move a booking that has not started charging: window and/or connector"
    )
    move.add_argument("--start", type=time_arg, help="RFC 3339 with an offset")
    move.add_argument("--end", type=time_arg, help="RFC 3339 with an offset")
    move.add_argument("--charge-point", help="another charge point of its site")
    move.add_argument("--connector-id", type=connector_id_arg)
    move.set_defaults(run=_move)
    for parser in (show, cancel, move):
        parser.add_argument("--id", type=_reservation_id, required=True)
    for parser in (listing, show, cancel, move):
        add_json(parser)


def _reservation_id(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or len(text) > 10 or not 0 < int(text) <= INT32_MAX:
        raise argparse.ArgumentTypeError(f"must be a booking's id, not {text[:40]!r}")
    return int(text)


@contextlib.asynccontextmanager
async def _service(settings: Settings) -> AsyncIterator[Booking]:
    async with open_pool(settings) as pool:
        yield _booking(settings, pool)


def _booking(settings: Settings, pool: asyncpg.Pool) -> Booking:
    router = ClusterCommandRouter(_HoldsNoCharger(), pool, node_id(), settings.call_timeout)
    lead = timedelta(seconds=settings.reserve_lead_seconds)
    return Booking(pool, router, system_clock, settings.booking_terms(), lead)


_COLUMNS = ["id", "status", "charge_point_id", "connector_id", "start", "end", "status_reason"]


async def _list(settings: Settings, args: argparse.Namespace) -> int:
    where = ListFilter(
        charge_point_id=args.charge_point,
        overlaps_from=args.overlaps_from,
        overlaps_to=args.overlaps_to,
    )
    async with _service(settings) as booking:
        found = await booking.list(OPERATOR, where, before=None, limit=args.limit)
    emit(args, found, lambda: table(found, _COLUMNS))
    return 0


def _text(view: dict[str, Any]) -> str:
    head = fields({k: v for k, v in view.items() if k not in ("history", "price")})
    history = view.get("history")
    if not history:
        return head
    return f"{head}\nhistory:\n{table(history, ['at', 'status', 'reason'])}"


async def _show(settings: Settings, args: argparse.Namespace) -> int:
    async with _service(settings) as booking:
        view = await booking.get(OPERATOR, args.id)
    emit(args, view, lambda: _text(view))
    return 0


async def _cancel(settings: Settings, args: argparse.Namespace) -> int:
    confirm(args, f"cancel booking {args.id}")
    async with _service(settings) as booking:
        view = await booking.cancel(OPERATOR, args.id)
    emit(args, view, lambda: f"booking {args.id} {view['status']}")
    return 0


async def _move(settings: Settings, args: argparse.Namespace) -> int:
    to = MoveRequest(args.start, args.end, args.charge_point, args.connector_id)
    if to == MoveRequest():
        raise ValidationFailed("nothing to change: give --start, --end, --charge-point or "
                               "--connector-id")
    async with _service(settings) as booking:
        view = await booking.move(OPERATOR, args.id, to)
    emit(
        args, view,
        lambda: f"booking {args.id} {view['status']} at {view['charge_point_id']} connector "
        f"{view['connector_id']}, {when(view['start'])} to {when(view['end'])}",
    )
    return 0
