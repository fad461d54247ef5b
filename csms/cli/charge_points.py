"""``csms charge-point …`` and ``csms connector …``."""

from __future__ import annotations

import argparse
from typing import Any

import asyncpg

from csms.cli.common import (
    Subcommands,
    add_json,
    add_yes,
    confirm,
    connector_id_arg,
    emit,
    fields,
    id_arg,
    limit_arg,
    on_off,
    open_pool,
    table,
)
from csms.errors import ValidationFailed
from csms.services import charge_points as service
from csms.settings import Settings
from csms.store import charge_points


def add_commands(commands: Subcommands) -> None:
    charge_point = commands.add_parser("charge-point", help="charge points").add_subparsers(
        required=True, metavar="ACTION"
    )
    listing = charge_point.add_parser("list", help="charge points, by id")
    listing.add_argument("--site-id", type=id_arg)
    listing.add_argument("--limit", type=limit_arg, default=500)
    listing.set_defaults(run=_list)
    show = charge_point.add_parser("show", help="one charge point with its connectors")
    show.add_argument("--id", required=True)
    show.set_defaults(run=_show)
    add = charge_point.add_parser("add", help="register a charge point")
    add.add_argument("--id", required=True)
    add.add_argument("--site-id", type=id_arg)
    add.add_argument("--key", help="AuthorizationKey for HTTP Basic auth (16-40 bytes)")
    add.add_argument(
        "--security-profile", type=int, choices=range(4),
        help="the lowest security profile it may connect with (default: 1 with --key, else 0)",
    )
    add.add_argument(
        "--connector", action="append", required=True, metavar="ID:TYPE:KW",
        help="e.g. 1:Type2:22 (repeat for each connector)",
    )
    add.set_defaults(run=_add_charge_point)
    update = charge_point.add_parser("update", help="move it to a site, or set its registration")
    update.add_argument("--id", required=True)
    site = update.add_mutually_exclusive_group()
    site.add_argument("--site-id", type=id_arg)
    site.add_argument("--no-site", action="store_true", help="at no site (not bookable)")
    update.add_argument(
        "--registration-status", choices=charge_points.REGISTRATION_STATUSES,
        help="what BootNotification answers it",
    )
    update.set_defaults(run=_update)
    remove = charge_point.add_parser(
        "remove", help="remove a charge point (its past bookings and transactions stay)"
    )
    remove.add_argument("--id", required=True)
    add_yes(remove)
    remove.set_defaults(run=_remove)
    for parser in (listing, show, add, update, remove):
        add_json(parser)
    _set_key_command(charge_point)
    _connector_commands(commands)


def _set_key_command(charge_point: Subcommands) -> None:
    set_key = charge_point.add_parser(
        "set-key",
        help="store a new AuthorizationKey, not sent to the charger (to send it to a connected "
        "charger: PUT /api/v1/charge-points/{id}/authorization-key)",
    )
    set_key.add_argument("--id", required=True)
    set_key.add_argument(
        "--key", required=True,
        help="the HTTP Basic password the charger will present: 16-40 printable ASCII "
        "characters without ':'",
    )
    set_key.set_defaults(run=_set_key)


_COLUMNS = ["id", "site_id", "registration_status", "online", "vendor", "model", "connectors"]


def _row(cp: dict[str, Any]) -> dict[str, Any]:
    return {**cp, "connectors": len(cp["connectors"])}


async def _list(settings: Settings, args: argparse.Namespace) -> int:
    async with open_pool(settings) as pool:
        rows = await charge_points.list_page(
            pool, after=None, limit=args.limit, site_id=args.site_id
        )
    found = [dict(row) for row in rows]
    emit(args, found, lambda: table([_row(cp) for cp in found], _COLUMNS))
    return 0


async def _show(settings: Settings, args: argparse.Namespace) -> int:
    async with open_pool(settings) as pool:
        detail = dict(await charge_points.get(pool, args.id))
    emit(args, detail, lambda: _detail_text(detail))
    return 0


def _detail_text(detail: dict[str, Any]) -> str:
    head = fields({k: v for k, v in detail.items() if k != "connectors"})
    columns = ["connector_id", "connector_type", "max_power_kw", "status", "out_of_service"]
    return f"{head}\nconnectors:\n{table(detail['connectors'], columns)}"


async def _add_charge_point(settings: Settings, args: argparse.Namespace) -> int:
    connectors = [_connector_arg(text) for text in args.connector]
    async with open_pool(settings) as pool:
        cp_id = await service.register(
            pool, args.id, site_id=args.site_id, authorization_key=args.key, connectors=connectors,
            security_profile=args.security_profile, served=settings.served_security(),
        )
        detail = dict(await charge_points.get(pool, cp_id))
    emit(
        args, detail,
        lambda: f"charge point {cp_id} registered with {len(connectors)} connector(s)",
    )
    return 0


def _connector_arg(text: str) -> dict[str, object]:
    parts = text.split(":")
    if len(parts) != 3 or not (parts[0].isascii() and parts[0].isdigit()) or len(parts[0]) > 9:
        raise ValidationFailed(f"--connector must look like 1:Type2:22, not {text[:60]!r}")
    return {"connector_id": int(parts[0]), "connector_type": parts[1], "max_power_kw": parts[2]}


async def _update(settings: Settings, args: argparse.Namespace) -> int:
    body: dict[str, Any] = {}
    if args.site_id is not None or args.no_site:
        body["site_id"] = None if args.no_site else args.site_id
    if args.registration_status is not None:
        body["registration_status"] = args.registration_status
    changes = service.check_changes(body)
    async with open_pool(settings) as pool:
        await charge_points.update(pool, args.id, changes)
        detail = dict(await charge_points.get(pool, args.id))
    emit(
        args, detail,
        lambda: f"charge point {detail['id']}: site {detail['site_id'] or '-'}, "
        f"{detail['registration_status']}",
    )
    return 0


async def _remove(settings: Settings, args: argparse.Namespace) -> int:
    confirm(args, f"remove charge point {args.id}")
    async with open_pool(settings) as pool:
        await charge_points.delete(pool, args.id)
    emit(args, {"id": args.id, "removed": True}, lambda: f"charge point {args.id} removed")
    return 0


async def _set_key(settings: Settings, args: argparse.Namespace) -> int:
    key = service.check_new_key(args.key, None)  # Before starting a database.
    async with open_pool(settings) as pool:
        await service.store_authorization_key(pool, args.id, key)
    print(
        f"AuthorizationKey of {args.id} stored (its hash only); not sent to the charger: "
        "from its next connection on, only this key lets it in"
    )
    return 0


def _connector_commands(commands: Subcommands) -> None:
    connector = commands.add_parser("connector", help="a charge point's connectors").add_subparsers(
        required=True, metavar="ACTION"
    )
    listing = connector.add_parser("list", help="a charge point's connectors")
    listing.set_defaults(run=_list_connectors)
    add = connector.add_parser("add", help="register a connector")
    add.add_argument("--type", required=True, help="e.g. Type2, CCS2, CHAdeMO")
    add.add_argument("--power-kw", required=True, help="its maximum power, kW")
    add.set_defaults(run=_add_connector)
    update = connector.add_parser("update", help="change what is named, nothing else")
    update.add_argument("--type")
    update.add_argument("--power-kw")
    update.add_argument(
        "--out-of-service", type=on_off, metavar="on|off", help="never offered for booking if on"
    )
    update.set_defaults(run=_update_connector)
    remove = connector.add_parser("remove", help="remove a connector")
    add_yes(remove)
    remove.set_defaults(run=_remove_connector)
    for parser in (listing, add, update, remove):
        parser.add_argument("--charge-point", required=True, help="the charge point's id")
        if parser is not listing:
            parser.add_argument("--connector-id", type=connector_id_arg, required=True)
        add_json(parser)


async def _list_connectors(settings: Settings, args: argparse.Namespace) -> int:
    async with open_pool(settings) as pool:
        found = (await charge_points.get(pool, args.charge_point))["connectors"]
    columns = ["connector_id", "connector_type", "max_power_kw", "status", "out_of_service"]
    emit(args, found, lambda: table(found, columns))
    return 0


async def _connector(pool: asyncpg.Pool, args: argparse.Namespace) -> dict[str, Any]:
    connectors = (await charge_points.get(pool, args.charge_point))["connectors"]
    [found] = [c for c in connectors if c["connector_id"] == args.connector_id]
    return found  # type: ignore[no-any-return]


async def _add_connector(settings: Settings, args: argparse.Namespace) -> int:
    item = {
        "connector_id": args.connector_id,
        "connector_type": args.type,
        "max_power_kw": args.power_kw,
    }
    async with open_pool(settings) as pool:
        await service.add_connector(pool, args.charge_point, item)
        found = await _connector(pool, args)
    emit(args, found, lambda: f"connector {args.connector_id} of {args.charge_point} registered")
    return 0


async def _update_connector(settings: Settings, args: argparse.Namespace) -> int:
    body: dict[str, Any] = {}
    if args.type is not None:
        body["connector_type"] = args.type
    if args.power_kw is not None:
        body["max_power_kw"] = args.power_kw
    if args.out_of_service is not None:
        body["out_of_service"] = args.out_of_service
    changes = service.check_connector_changes(body)
    async with open_pool(settings) as pool:
        await charge_points.update_connector(pool, args.charge_point, args.connector_id, changes)
        found = await _connector(pool, args)
    emit(args, found, lambda: f"connector {args.connector_id} of {args.charge_point} updated")
    return 0


async def _remove_connector(settings: Settings, args: argparse.Namespace) -> int:
    confirm(args, f"remove connector {args.connector_id} of {args.charge_point}")
    async with open_pool(settings) as pool:
        await charge_points.delete_connector(pool, args.charge_point, args.connector_id)
    emit(
        args, {"charge_point_id": args.charge_point, "connector_id": args.connector_id,
               "removed": True},
        lambda: f"connector {args.connector_id} of {args.charge_point} removed",
    )
    return 0
