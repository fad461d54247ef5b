"""What every ``csms`` command shares: the database, output (text or ``--json``), confirmation
of destructive commands, and argument types that refuse bad input in one line."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeAlias

import asyncpg
import orjson

from csms.domain.timestamps import TimestampError, format_timestamp, parse_timestamp
from csms.errors import ValidationFailed
from csms.settings import Settings
from csms.store.database import create_pool, database_url
from csms.store.migrations import migrate

#: What ``add_subparsers`` returns, where each resource adds its commands.
Subcommands: TypeAlias = "argparse._SubParsersAction[Parser]"
INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1


class Parser(argparse.ArgumentParser):
    """An argument parser whose refusals are one line, ``csms: …``, and exit code 2."""

    def error(self, message: str) -> Any:  # argparse's signature is NoReturn.
        print(f"csms: {self.prog.removeprefix('csms ')}: {message}", file=sys.stderr)
        raise SystemExit(2)


@contextlib.asynccontextmanager
async def open_pool(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    """The database (configured or embedded), migrated, for one command."""
    async with database_url(settings.database_url, settings.data_dir) as (url, _):
        pool = await create_pool(url, min_size=1, max_size=2)
        try:
            async with pool.acquire() as connection:
                await migrate(connection)
            yield pool
        finally:
            await pool.close()


def _default(value: object) -> object:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot encode {type(value).__name__}")


def emit(args: argparse.Namespace, value: Any, text: Callable[[], str]) -> None:
    """Print ``value`` as one JSON document with ``--json`` (as the HTTP API shows it), else
    ``text()``."""
    if getattr(args, "json", False):
        out = orjson.dumps(value, default=_default, option=orjson.OPT_UTC_Z | orjson.OPT_INDENT_2)
        print(out.decode())
    else:
        print(text())


def add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON document")


def add_yes(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")


def confirm(args: argparse.Namespace, what: str) -> None:
    """Go on only with ``--yes`` or a yes typed at a terminal; otherwise exit 2."""
    if args.yes:
        return
    if not sys.stdin.isatty():
        raise ValidationFailed(f"{what}: not a terminal, so confirm with --yes")
    try:
        answer = input(f"{what}? [y/N] ")
    except EOFError:
        answer = ""
    if answer.strip().lower() not in ("y", "yes"):
        print("csms: nothing done", file=sys.stderr)
        raise SystemExit(1)


def id_arg(text: str) -> int:
    """A database id (bigint): a positive integer."""
    return _bounded(text, 1, INT64_MAX)


def connector_id_arg(text: str) -> int:
    return _bounded(text, 1, INT32_MAX)


def _bounded(text: str, low: int, high: int) -> int:
    if not (text.isascii() and text.isdigit()) or len(text) > 19 or not low <= int(text) <= high:
        raise argparse.ArgumentTypeError(f"must be an integer {low}-{high}, not {text[:40]!r}")
    return int(text)


def limit_arg(text: str) -> int:
    return _bounded(text, 1, 500)


def time_arg(text: str) -> datetime:
    """An RFC 3339 date-time with an offset."""
    try:
        return parse_timestamp(text, require_offset=True)
    except TimestampError:
        raise argparse.ArgumentTypeError(
            f"must be an RFC 3339 date-time with an offset (2027-01-01T18:00:00+01:00), "
            f"not {text[:40]!r}"
        ) from None


def float_arg(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, not {text[:40]!r}") from None


def on_off(text: str) -> bool:
    if text not in ("on", "off"):
        raise argparse.ArgumentTypeError(f"must be on or off, not {text[:40]!r}")
    return text == "on"


def when(value: object) -> str:
    if value is None:
        return "-"
    return format_timestamp(value) if isinstance(value, datetime) else str(value)


def table(rows: Sequence[Mapping[str, Any]], columns: list[str]) -> str:
    """Rows as aligned text columns, a header first; ``(none)`` when empty."""
    if not rows:
        return "(none)"
    cells = [columns] + [[when(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
        for line in cells
    )


def fields(value: Mapping[str, Any]) -> str:
    """An object as ``name: value`` lines (nested lists and objects as JSON)."""
    lines = []
    for name, item in value.items():
        shown = (
            orjson.dumps(item, default=_default, option=orjson.OPT_UTC_Z).decode()
            if isinstance(item, list | dict)
            else when(item)
        )
        lines.append(f"{name}: {shown}")
    return "\n".join(lines)


def node_id() -> str:
    """How this command names itself to the csms nodes it asks to reach a charger."""
    return f"cli-{os.uname().nodename}-{os.getpid()}"
