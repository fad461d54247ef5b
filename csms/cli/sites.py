"""``csms site …`` and ``csms tariff …``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import orjson

from csms.cli.common import (
    Subcommands,
    add_json,
    add_yes,
    confirm,
    emit,
    fields,
    float_arg,
    id_arg,
    limit_arg,
    on_off,
    open_pool,
    table,
)
from csms.domain.sites import check_site_fields, check_site_terms, site_json
from csms.domain.tariffs import parse_tariff
from csms.domain.terms import stored_after
from csms.errors import NotFound, ValidationFailed
from csms.settings import Settings
from csms.store import sites, tariffs


def add_commands(commands: Subcommands) -> None:
    site = commands.add_parser("site", help="sites").add_subparsers(required=True, metavar="ACTION")
    listing = site.add_parser("list", help="every site, with what keeps it from being booked")
    listing.add_argument("--limit", type=limit_arg, default=500)
    listing.set_defaults(run=_list)
    show = site.add_parser("show", help="one site")
    show.add_argument("--id", type=id_arg, required=True)
    show.set_defaults(run=_show)
    add = site.add_parser("add", help="create a site; prints its id")
    add.add_argument("--name", required=True)
    add.add_argument("--timezone", required=True, help="IANA name, e.g. Europe/Berlin")
    add.add_argument(
        "--codes-on-local-list", action="store_true",
        help="put bookings' codes on the chargers' local lists before their windows",
    )
    _location_options(add)
    add.set_defaults(run=_add)
    update = site.add_parser("update", help="change what is named, nothing else")
    update.add_argument("--id", type=id_arg, required=True)
    update.add_argument("--name")
    update.add_argument("--timezone", help="IANA name, e.g. Europe/Berlin")
    update.add_argument(
        "--codes-on-local-list", type=on_off, metavar="on|off",
        help="put bookings' codes on the chargers' local lists before their windows",
    )
    _location_options(update)
    update.add_argument("--no-address", action="store_true", help="forget the address")
    update.add_argument("--no-location", action="store_true", help="forget the coordinates")
    update.set_defaults(run=_update)
    remove = site.add_parser("remove", help="remove a site without charge points, and its tariff")
    remove.add_argument("--id", type=id_arg, required=True)
    add_yes(remove)
    remove.set_defaults(run=_remove)
    for parser in (listing, show, add, update, remove):
        add_json(parser)
    _tariff_commands(commands)


def _location_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--address", help="postal address, up to 300 characters")
    parser.add_argument("--latitude", type=float_arg, help="degrees, -90 to 90")
    parser.add_argument("--longitude", type=float_arg, help="degrees, -180 to 180")
    parser.add_argument(
        "--terms", type=_terms_arg, metavar="JSON",
        help='booking terms to set, e.g. \'{"noshow_fee": "2.50", "buffer_minutes": 10}\' '
        "(null for one: back to the default)",
    )


def _terms_arg(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(f"not valid JSON: {error}") from None


def _text(site: dict[str, Any]) -> str:
    return fields(site)


async def _list(settings: Settings, args: argparse.Namespace) -> int:
    async with open_pool(settings) as pool:
        listed = await sites.list_page(pool, after=None, limit=args.limit)
    found = [site_json(s, settings.booking_terms()) for s in listed]
    rows = [{**s, "problems": ",".join(s["problems"]) or "-"} for s in found]
    emit(args, found, lambda: table(rows, ["id", "name", "timezone", "has_tariff", "problems"]))
    return 0


async def _show(settings: Settings, args: argparse.Namespace) -> int:
    async with open_pool(settings) as pool:
        site = site_json(await sites.get(pool, args.id), settings.booking_terms())
    emit(args, site, lambda: _text(site))
    return 0


def _given(args: argparse.Namespace) -> dict[str, Any]:
    given: dict[str, Any] = {
        name: getattr(args, name)
        for name in (
            "name", "timezone", "codes_on_local_list", "address", "latitude", "longitude", "terms",
        )
        if getattr(args, name, None) is not None
    }
    if getattr(args, "no_address", False):
        given["address"] = None
    if getattr(args, "no_location", False):
        given["latitude"] = given["longitude"] = None
    return check_site_fields(given)


async def _add(settings: Settings, args: argparse.Namespace) -> int:
    given = _given(args)  # Checked before a database is started.
    check_site_terms(given.get("terms", {}), settings.booking_terms())
    async with open_pool(settings) as pool:
        site = site_json(await sites.create(pool, given), settings.booking_terms())
    emit(args, site, lambda: str(site["id"]))
    return 0


async def _update(settings: Settings, args: argparse.Namespace) -> int:
    changes = _given(args)
    if not changes:
        raise ValidationFailed(
            "nothing to change: give --name, --timezone, --codes-on-local-list, --address, "
            "--latitude, --longitude, --terms, --no-address or --no-location"
        )
    defaults = settings.booking_terms()
    async with open_pool(settings) as pool:
        if "terms" in changes:
            current = await sites.get(pool, args.id)
            check_site_terms(stored_after(current.terms, changes["terms"]), defaults)
        site = site_json(await sites.update(pool, args.id, changes), defaults)
    listed = "on" if site["codes_on_local_list"] else "off"
    emit(args, site, lambda: f"site {site['id']} {site['name']!r}: codes on local lists {listed}")
    return 0


async def _remove(settings: Settings, args: argparse.Namespace) -> int:
    confirm(args, f"remove site {args.id} and its tariff")
    async with open_pool(settings) as pool:
        await sites.delete(pool, args.id)
    emit(args, {"id": args.id, "removed": True}, lambda: f"site {args.id} removed")
    return 0


def _tariff_commands(commands: Subcommands) -> None:
    tariff = commands.add_parser("tariff", help="sites' tariffs").add_subparsers(
        required=True, metavar="ACTION"
    )
    show = tariff.add_parser("show", help="a site's tariff")
    show.add_argument("--site-id", type=id_arg, required=True)
    show.set_defaults(run=_show_tariff)
    put = tariff.add_parser(
        "set", aliases=["add", "update"],
        help="set a site's tariff from a JSON file (as PUT /api/v1/sites/{id}/tariff takes it)",
    )
    put.add_argument("--site-id", type=id_arg, required=True)
    put.add_argument("--file", type=Path, required=True, help="the tariff as JSON; - for stdin")
    put.set_defaults(run=_set_tariff)
    remove = tariff.add_parser("remove", help="remove a site's tariff: it is no longer booked")
    remove.add_argument("--site-id", type=id_arg, required=True)
    add_yes(remove)
    remove.set_defaults(run=_remove_tariff)
    for parser in (show, put, remove):
        add_json(parser)


async def _show_tariff(settings: Settings, args: argparse.Namespace) -> int:
    async with open_pool(settings) as pool:
        stored = await tariffs.get_json(pool, args.site_id)
    if stored is None:
        raise NotFound(f"site {args.site_id} has no tariff")
    emit(args, stored, lambda: fields(stored))
    return 0


def _read_tariff(path: Path) -> Any:
    try:
        raw = sys.stdin.buffer.read() if str(path) == "-" else path.read_bytes()
        body = orjson.loads(raw)
    except OSError as error:
        raise ValidationFailed(f"--file: {error.strerror}: {path}") from None
    except orjson.JSONDecodeError as error:
        raise ValidationFailed(f"--file is not valid JSON: {error}") from None
    if not isinstance(body, dict):
        raise ValidationFailed("--file must hold a JSON object")
    unknown = set(body) - {"currency", "reservation_fee_per_hour", "session_fee", "periods"}
    if unknown:
        raise ValidationFailed(f"unknown field(s) in --file: {', '.join(sorted(unknown))}")
    return parse_tariff(body)


async def _set_tariff(settings: Settings, args: argparse.Namespace) -> int:
    tariff = _read_tariff(args.file)
    async with open_pool(settings) as pool:
        stored = await tariffs.put(pool, args.site_id, tariff)
    emit(args, stored, lambda: f"tariff of site {args.site_id} set ({stored['currency']})")
    return 0


async def _remove_tariff(settings: Settings, args: argparse.Namespace) -> int:
    confirm(args, f"remove the tariff of site {args.site_id} (it is then not booked)")
    async with open_pool(settings) as pool:
        await tariffs.delete(pool, args.site_id)
    emit(
        args, {"site_id": args.site_id, "removed": True},
        lambda: f"tariff of site {args.site_id} removed",
    )
    return 0
