"""The ``csms`` command line: serve, migrate, and an operator's management of sites, tariffs,
charge points, connectors, cards and bookings from a shell.

Commands other than ``serve`` are quiet: only their answer on stdout (``--json``: one JSON
document), warnings and refusals on stderr (one line, exit code 2); the embedded PostgreSQL
writes to its log file in the data directory.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
from collections.abc import Sequence

from csms.cli import bookings, charge_points, id_tags, sites
from csms.cli.charge_points import _add_charge_point
from csms.cli.common import Parser, open_pool
from csms.cli.id_tags import _add_id_tag
from csms.errors import CsmsError
from csms.logs import configure as configure_logging
from csms.services import accounts
from csms.settings import Settings
from csms.store.errors import is_unavailable, is_unstorable

__all__ = ["_add_charge_point", "_add_id_tag", "build_parser", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env(
            host=getattr(args, "host", None),
            http_port=getattr(args, "http_port", None),
            ocpp_port=getattr(args, "ocpp_port", None),
            workers=getattr(args, "workers", None),
        )
        # Only serve tells what it does; other commands answer and warn, nothing more.
        level = settings.log_level.upper() if args.run is _serve else "WARNING"
        configure_logging(level, settings.log_format)
        _install_uvloop()
        return _run(settings, args)
    except CsmsError as error:
        print(f"csms: {error.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as error:
        if not is_unstorable(error):
            raise
        print(f"csms: a value cannot be stored: {error}", file=sys.stderr)
        return 2


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
    parser = Parser(prog="csms", description="OCPP 1.6J central system")
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
        required=True, metavar="ACTION"
    )
    add_operator = operator.add_parser("add", help="create an operator account")
    add_operator.add_argument("--email", required=True)
    add_operator.add_argument("--password", required=True)
    add_operator.add_argument("--name")
    add_operator.set_defaults(run=_add_operator)

    sites.add_commands(commands)
    charge_points.add_commands(commands)
    id_tags.add_commands(commands)
    bookings.add_commands(commands)
    return parser


async def _serve(settings: Settings, args: argparse.Namespace) -> int:
    if settings.workers > 1 and not args.as_worker:
        from csms.serve_processes import serve_workers

        return await serve_workers(settings, demo=args.demo)
    from csms.server import serve

    await serve(settings, demo=args.demo)
    return 0


async def _migrate(settings: Settings, args: argparse.Namespace) -> int:
    async with open_pool(settings):
        print("database is up to date")
    return 0


async def _add_operator(settings: Settings, args: argparse.Namespace) -> int:
    async with open_pool(settings) as pool:
        user = await accounts.sign_up(
            pool, args.email, args.password, role="operator", name=args.name
        )
    print(f"operator {user.email} created (id {user.id})")
    return 0
