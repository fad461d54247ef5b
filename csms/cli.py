"""The ``csms`` command line: serve, migrate, and what an operator registers from a shell."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime
from typing import Any

import asyncpg

from csms.domain.authorization import ID_TAG_MAX_LENGTH
from csms.domain.sites import check_timezone
from csms.domain.timestamps import TimestampError, format_timestamp, parse_timestamp
from csms.errors import CsmsError, ValidationFailed
from csms.services import accounts
from csms.services import charge_points as charge_point_service
from csms.settings import Settings
from csms.store import id_tags, sites
from csms.store.database import create_pool, database_url
from csms.store.errors import is_unavailable
from csms.store.migrations import migrate


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env(
            host=getattr(args, "host", None),
            http_port=getattr(args, "http_port", None),
            ocpp_port=getattr(args, "ocpp_port", None),
            workers=getattr(args, "workers", None),
        )
        logging.basicConfig(
            level=settings.log_level.upper(),
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
        _install_uvloop()
        return _run(settings, args)
    except CsmsError as error:
        print(f"csms: {error.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _run(settings: Settings, args: argparse.Namespace) -> int:
    try:
        return asyncio.run(args.run(settings, args))  # type: ignore[no-any-return]
    except Exception as error:
        if not (is_unavailable(error) and settings.database_url is None and args.run != _serve):
            raise
    # The embedded server this command joined stopped with the csms that ran it (it dies with
    # its owner): once more, on a server of its own. Commands are safe to repeat.
    logging.getLogger(__name__).warning("the embedded PostgreSQL went away; running again")
    return asyncio.run(args.run(settings, args))  # type: ignore[no-any-return]


def _install_uvloop() -> None:
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def build_parser() -> argparse.ArgumentParser:
    """The command line's parser (tests and tools read what it accepts)."""
    parser = argparse.ArgumentParser(prog="csms", description="OCPP 1.6J central system")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the OCPP gateway and the HTTP API")
    serve.add_argument("--host", help="address to listen on (CSMS_HOST)")
    serve.add_argument("--http-port", type=int, help="HTTP API port (CSMS_HTTP_PORT)")
    serve.add_argument("--ocpp-port", type=int, help="OCPP WebSocket port (CSMS_OCPP_PORT)")
    serve.add_argument(
        "--demo", action="store_true", help="add demo accounts and chargers, run simulated chargers"
    )
    serve.add_argument(
        "--workers", type=int, metavar="N",
        help="processes sharing the ports, for all of a machine's cores (CSMS_WORKERS; Linux)",
    )
    # How the parent of --workers N starts each worker: serve in this process, ports shared.
    serve.add_argument("--as-worker", action="store_true", help=argparse.SUPPRESS)
    serve.set_defaults(run=_serve)

    commands.add_parser("migrate", help="apply database migrations").set_defaults(run=_migrate)

    operator = commands.add_parser("operator", help="operator accounts").add_subparsers(
        required=True
    )
    add_operator = operator.add_parser("add", help="create an operator account")
    add_operator.add_argument("--email", required=True)
    add_operator.add_argument("--password", required=True)
    add_operator.add_argument("--name")
    add_operator.set_defaults(run=_add_operator)

    _site_commands(commands)
    _charge_point_commands(commands)
    _id_tag_commands(commands)
    return parser


def _site_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    site = commands.add_parser("site", help="sites").add_subparsers(required=True)
    add_site = site.add_parser("add", help="create a site; prints its id")
    add_site.add_argument("--name", required=True)
    add_site.add_argument("--timezone", required=True, help="IANA name, e.g. Europe/Berlin")
    add_site.add_argument(
        "--codes-on-local-list", action="store_true",
        help="put bookings' codes on the chargers' local lists before their windows",
    )
    add_site.set_defaults(run=_add_site)
    update_site = site.add_parser("update", help="change a site's name or options")
    update_site.add_argument("--id", type=int, required=True)
    update_site.add_argument("--name")
    update_site.add_argument(
        "--codes-on-local-list", choices=["on", "off"],
        help="put bookings' codes on the chargers' local lists before their windows",
    )
    update_site.set_defaults(run=_update_site)


def _charge_point_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    charge_point = commands.add_parser("charge-point", help="charge points").add_subparsers(
        required=True
    )
    add_cp = charge_point.add_parser("add", help="register a charge point")
    add_cp.add_argument("--id", required=True)
    add_cp.add_argument("--site-id", type=int)
    add_cp.add_argument("--key", help="AuthorizationKey for HTTP Basic auth (16-40 bytes)")
    add_cp.add_argument(
        "--security-profile", type=int, choices=range(4),
        help="the lowest security profile it may connect with (default: 1 with --key, else 0)",
    )
    add_cp.add_argument(
        "--connector",
        action="append",
        required=True,
        metavar="ID:TYPE:KW",
        help="e.g. 1:Type2:22 (repeat for each connector)",
    )
    add_cp.set_defaults(run=_add_charge_point)
    set_key = charge_point.add_parser(
        "set-key",
        help="store a new AuthorizationKey, not sent to the charger (to send it to a connected "
        "charger: PUT /api/v1/charge-points/{id}/authorization-key)",
    )
    set_key.add_argument("--id", required=True)
    set_key.add_argument(
        "--key",
        required=True,
        help="the HTTP Basic password the charger will present: 16-40 printable ASCII "
        "characters without ':'",
    )
    set_key.set_defaults(run=_set_key)


def _id_tag_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    id_tag = commands.add_parser("id-tag", help="idTags (RFID cards)").add_subparsers(required=True)
    add_tag = id_tag.add_parser("add", help="register an idTag")
    add_tag.add_argument("--id-tag", required=True)
    add_tag.add_argument("--parent")
    add_tag.add_argument("--expiry", help="RFC 3339 date-time (without an offset: UTC)")
    add_tag.add_argument("--blocked", action="store_true")
    add_tag.set_defaults(run=_add_id_tag)
    update = id_tag.add_parser("update", help="change an idTag's expiry, block or parent")
    update.add_argument("--id-tag", required=True)
    expiry = update.add_mutually_exclusive_group()
    expiry.add_argument("--expiry", help="RFC 3339 with an offset: 2027-01-01T00:00:00+01:00")
    expiry.add_argument("--no-expiry", action="store_true", help="never expires")
    blocked = update.add_mutually_exclusive_group()
    blocked.add_argument("--blocked", dest="blocked", action="store_const", const=True)
    blocked.add_argument("--unblocked", dest="blocked", action="store_const", const=False)
    parent = update.add_mutually_exclusive_group()
    parent.add_argument("--parent", help="parentIdTag (its group)")
    parent.add_argument("--no-parent", action="store_true", help="in no group")
    update.set_defaults(run=_update_id_tag)


async def _serve(settings: Settings, args: argparse.Namespace) -> int:
    if settings.workers > 1 and not args.as_worker:
        from csms.serve_processes import serve_workers

        return await serve_workers(settings, demo=args.demo)
    from csms.server import serve

    await serve(settings, demo=args.demo)
    return 0


@contextlib.asynccontextmanager
async def _pool(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    async with database_url(settings.database_url, settings.data_dir) as (url, _):
        pool = await create_pool(url, min_size=1, max_size=2)
        try:
            async with pool.acquire() as connection:
                await migrate(connection)
            yield pool
        finally:
            await pool.close()


async def _migrate(settings: Settings, args: argparse.Namespace) -> int:
    async with _pool(settings):
        print("database is up to date")
    return 0


async def _add_operator(settings: Settings, args: argparse.Namespace) -> int:
    async with _pool(settings) as pool:
        user = await accounts.sign_up(
            pool, args.email, args.password, role="operator", name=args.name
        )
    print(f"operator {user.email} created (id {user.id})")
    return 0


async def _add_site(settings: Settings, args: argparse.Namespace) -> int:
    async with _pool(settings) as pool:
        row = await sites.create(
            pool, args.name, check_timezone(args.timezone),
            codes_on_local_list=args.codes_on_local_list,
        )
    print(row["id"])
    return 0


async def _update_site(settings: Settings, args: argparse.Namespace) -> int:
    option = args.codes_on_local_list
    async with _pool(settings) as pool:
        row = await sites.update(
            pool, args.id, name=args.name,
            codes_on_local_list=None if option is None else option == "on",
        )
    listed = "on" if row["codes_on_local_list"] else "off"
    print(f"site {row['id']} {row['name']!r}: codes on local lists {listed}")
    return 0


async def _add_charge_point(settings: Settings, args: argparse.Namespace) -> int:
    connectors = [_connector_arg(text) for text in args.connector]
    async with _pool(settings) as pool:
        cp_id = await charge_point_service.register(
            pool, args.id, site_id=args.site_id, authorization_key=args.key, connectors=connectors,
            security_profile=args.security_profile, served=settings.served_security(),
        )
    print(f"charge point {cp_id} registered with {len(connectors)} connector(s)")
    return 0


def _connector_arg(text: str) -> dict[str, object]:
    parts = text.split(":")
    if len(parts) != 3 or not parts[0].isdigit():
        raise SystemExit(f"csms: --connector must look like 1:Type2:22, not {text!r}")
    return {"connector_id": int(parts[0]), "connector_type": parts[1], "max_power_kw": parts[2]}


async def _set_key(settings: Settings, args: argparse.Namespace) -> int:
    key = charge_point_service.check_new_key(args.key, None)  # Before starting a database.
    async with _pool(settings) as pool:
        await charge_point_service.store_authorization_key(pool, args.id, key)
    print(
        f"AuthorizationKey of {args.id} stored (its hash only); not sent to the charger: "
        "from its next connection on, only this key lets it in"
    )
    return 0


def _expiry_arg(text: str, *, require_offset: bool) -> datetime:
    try:
        return parse_timestamp(text, require_offset=require_offset)
    except TimestampError:
        offset = " with an offset" if require_offset else ""
        raise ValidationFailed(
            f"--expiry must be an RFC 3339 date-time{offset} (e.g. 2027-01-01T00:00:00+01:00), "
            f"not {text!r}"
        ) from None


async def _add_id_tag(settings: Settings, args: argparse.Namespace) -> int:
    expiry = _expiry_arg(args.expiry, require_offset=False) if args.expiry else None
    async with _pool(settings) as pool:
        await id_tags.create(
            pool, args.id_tag, parent_id_tag=args.parent, expiry_date=expiry, blocked=args.blocked
        )
    print(f"idTag {args.id_tag} registered")
    return 0


async def _update_id_tag(settings: Settings, args: argparse.Namespace) -> int:
    changes: dict[str, object] = {}
    if args.expiry is not None or args.no_expiry:
        changes["expiry_date"] = (
            None if args.no_expiry else _expiry_arg(args.expiry, require_offset=True)
        )
    if args.blocked is not None:
        changes["blocked"] = args.blocked
    if args.parent is not None or args.no_parent:
        changes["parent_id_tag"] = None if args.no_parent else _id_tag_arg(args.parent, "--parent")
    if not changes:
        raise ValidationFailed(
            "nothing to change: give --expiry/--no-expiry, --blocked/--unblocked or "
            "--parent/--no-parent"
        )
    async with _pool(settings) as pool:
        row = await id_tags.update(pool, args.id_tag, changes)
    print(f"idTag {row['id_tag']} updated: {_describe_card(row)}")
    return 0


def _id_tag_arg(text: str, option: str) -> str:
    if not 1 <= len(text) <= ID_TAG_MAX_LENGTH or not text.isprintable():
        raise ValidationFailed(f"{option} must be 1-{ID_TAG_MAX_LENGTH} printable characters")
    return text


def _describe_card(row: Mapping[str, Any]) -> str:
    expiry = row["expiry_date"]
    return ", ".join(
        [
            "blocked" if row["blocked"] else "not blocked",
            "never expires" if expiry is None else f"expires {format_timestamp(expiry)}",
            "no parent" if row["parent_id_tag"] is None else f"parent {row['parent_id_tag']}",
        ]
    )
