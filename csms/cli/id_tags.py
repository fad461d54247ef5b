"""``csms card …`` (also ``csms id-tag …``): RFID cards and other idTags."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from csms.cli.common import (
    Subcommands,
    add_json,
    add_yes,
    confirm,
    emit,
    fields,
    limit_arg,
    open_pool,
    table,
)
from csms.domain.authorization import ID_TAG_MAX_LENGTH
from csms.domain.timestamps import TimestampError, format_timestamp, parse_timestamp
from csms.errors import ValidationFailed
from csms.settings import Settings
from csms.store import id_tags


def add_commands(commands: Subcommands) -> None:
    id_tag = commands.add_parser(
        "card", aliases=["id-tag"], help="cards: idTags (RFID cards and other tokens)"
    ).add_subparsers(required=True, metavar="ACTION")
    listing = id_tag.add_parser("list", help="every card, by name")
    listing.add_argument("--limit", type=limit_arg, default=500)
    listing.set_defaults(run=_list)
    show = id_tag.add_parser("show", help="one card (the name in any case)")
    show.add_argument("--id-tag", required=True)
    show.set_defaults(run=_show)
    add = id_tag.add_parser("add", help="register an idTag")
    add.add_argument("--id-tag", required=True)
    add.add_argument("--parent")
    add.add_argument("--expiry", help="RFC 3339 date-time (without an offset: UTC)")
    add.add_argument("--blocked", action="store_true")
    add.set_defaults(run=_add_id_tag)
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
    remove = id_tag.add_parser("remove", help="forget a card: refused at every charger")
    remove.add_argument("--id-tag", required=True)
    add_yes(remove)
    remove.set_defaults(run=_remove)
    for parser in (listing, show, add, update, remove):
        add_json(parser)


_COLUMNS = ["id_tag", "parent_id_tag", "expiry_date", "blocked", "user_id"]


async def _list(settings: Settings, args: argparse.Namespace) -> int:
    async with open_pool(settings) as pool:
        found = [dict(r) for r in await id_tags.list_page(pool, after=None, limit=args.limit)]
    emit(args, found, lambda: table(found, _COLUMNS))
    return 0


async def _show(settings: Settings, args: argparse.Namespace) -> int:
    name = _id_tag_arg(args.id_tag, "--id-tag")
    async with open_pool(settings) as pool:
        card = dict(await id_tags.get(pool, name))
    emit(args, card, lambda: fields(card))
    return 0


def _expiry_arg(text: str, *, require_offset: bool) -> datetime:
    try:
        return parse_timestamp(text, require_offset=require_offset)
    except TimestampError:
        offset = " with an offset" if require_offset else ""
        raise ValidationFailed(
            f"--expiry must be an RFC 3339 date-time{offset} (e.g. 2027-01-01T00:00:00+01:00), "
            f"not {text[:60]!r}"
        ) from None


async def _add_id_tag(settings: Settings, args: argparse.Namespace) -> int:
    name = _id_tag_arg(args.id_tag, "--id-tag")
    parent = None if args.parent is None else _id_tag_arg(args.parent, "--parent")
    expiry = _expiry_arg(args.expiry, require_offset=False) if args.expiry else None
    async with open_pool(settings) as pool:
        row = await id_tags.create(
            pool, name, parent_id_tag=parent, expiry_date=expiry, blocked=args.blocked
        )
    card = dict(row)
    emit(args, card, lambda: f"idTag {args.id_tag} registered")
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
    async with open_pool(settings) as pool:
        card = dict(await id_tags.update(pool, args.id_tag, changes))
    emit(args, card, lambda: f"idTag {card['id_tag']} updated: {_describe_card(card)}")
    return 0


async def _remove(settings: Settings, args: argparse.Namespace) -> int:
    name = _id_tag_arg(args.id_tag, "--id-tag")
    confirm(args, f"remove card {name}")
    async with open_pool(settings) as pool:
        await id_tags.delete(pool, name)
    emit(args, {"id_tag": name, "removed": True}, lambda: f"idTag {name} removed")
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
