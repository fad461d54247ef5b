"""Registering charge points, changing their AuthorizationKey, and sending them commands."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
from enum import StrEnum
from typing import Any

import asyncpg

from csms.commands import CommandRouter
from csms.domain.charge_points import (
    check_authorization_key,
    check_charge_point_id,
    check_connectors,
    parse_power_kw,
)
from csms.domain.credentials import AUTHORIZATION_KEY_COST, hash_secret
from csms.domain.security_profiles import (
    ServedSecurity,
    check_profile,
    prerequisite,
    registration_profile,
)
from csms.errors import AlreadyExists, Conflict, NotFound, ValidationFailed
from csms.store import charge_points, security_profiles

log = logging.getLogger(__name__)
#: A deployment without TLS: profiles 0 and 1 only.
PLAIN = ServedSecurity()


async def register(
    pool: asyncpg.Pool,
    charge_point_id: object,
    *,
    site_id: int | None,
    authorization_key: object,
    connectors: object,
    security_profile: object = None,
    served: ServedSecurity = PLAIN,
) -> str:
    """Register a charger, or accept one that was admitted as pending. Returns its id.

    It is registered at ``security_profile`` (default: 1 with a key, 0 without), which it must
    be able to use here (``served``): 422 otherwise."""
    cp_id = check_charge_point_id(charge_point_id)
    specs = check_connectors(connectors)
    key_hash = None
    if authorization_key is not None:
        key = check_authorization_key(authorization_key)
        key_hash = await asyncio.to_thread(hash_secret, key, AUTHORIZATION_KEY_COST)
    existing = await charge_points.fetch_for_handshake(pool, cp_id)
    if existing is not None and existing.registration_status != "pending":
        raise AlreadyExists(f"charge point {cp_id!r} is already registered")
    had_key = existing is not None and existing.authorization_key_hash is not None
    profile = _registration_profile(security_profile, key_hash is not None or had_key, served)
    if existing is not None:
        await charge_points.accept(
            pool, cp_id, site_id=site_id, authorization_key_hash=key_hash, connectors=specs,
            security_profile=profile,
        )
    else:
        await charge_points.create(
            pool, cp_id, site_id=site_id, authorization_key_hash=key_hash, connectors=specs,
            security_profile=profile,
        )
    log.info("registered charge point %s (security profile %d)", cp_id, profile)
    return cp_id


def _registration_profile(requested: object, has_key: bool, served: ServedSecurity) -> int:
    try:
        wanted = None if requested is None else check_profile(requested)
    except ValueError as error:
        raise ValidationFailed(str(error)) from None
    profile = registration_profile(wanted, has_key=has_key)
    reason = prerequisite(profile, has_key=has_key, tls=served.tls, client_ca=served.client_ca)
    if reason is not None:
        raise ValidationFailed(f"security profile {profile}: {reason}")
    return profile


async def send_command(
    pool: asyncpg.Pool,
    router: CommandRouter,
    charge_point_id: str,
    action: str,
    payload: dict[str, Any],
    timeout: float | None = None,
) -> dict[str, Any]:
    """Send an operator's command and return the charger's answer.

    A ChangeConfiguration of AuthorizationKey is a key change like
    :func:`send_authorization_key`'s, its value taken as the key itself (``send_as`` text):
    the key replaces the stored one once the charger has taken it.
    """
    if await charge_points.fetch_for_handshake(pool, charge_point_id) is None:
        raise NotFound(f"no charge point {charge_point_id!r}")
    new_key = _new_authorization_key(action, payload)
    if new_key is None:
        return await router.call(charge_point_id, action, payload, timeout)
    key_hash = await asyncio.to_thread(hash_secret, new_key, AUTHORIZATION_KEY_COST)
    change = await _change_key(pool, router, charge_point_id, key_hash, payload, timeout)
    return change.answer


def _new_authorization_key(action: str, payload: dict[str, Any]) -> str | None:
    key = payload.get("key")
    # ChangeConfiguration.req's key is a CiString50 (S 6.9, 7.17): any case names the key.
    if action != "ChangeConfiguration" or not isinstance(key, str):
        return None
    if key.casefold() != "authorizationkey":
        return None
    return check_authorization_key(payload.get("value"))


class KeyFormat(StrEnum):
    """How a new AuthorizationKey travels in ``ChangeConfiguration.value``."""

    #: The key itself: for chargers that use the value as their password as it is.
    TEXT = "text"
    #: SEC: the hexadecimal representation of the key's bytes, which the charger decodes.
    HEX = "hex"


#: SEC ("Improved security for OCPP 1.6-J"), configuration key AuthorizationKey: "minimal
#: length: 16 bytes ... Hexadecimal represented (20 bytes maximum, represented as a string of up
#: to 40 hexadecimal digits)". Sent as text, the value itself is the key: up to 40 bytes.
KEY_MIN_BYTES = 16
HEX_KEY_MAX_BYTES = 20
TEXT_KEY_MAX_BYTES = 40
# Printable ASCII without ':'. ChangeConfiguration.value is a CiString500: printable ASCII
# only (S 6.9, 7.19). ':' ends the user in HTTP Basic credentials (RFC 7617): chargers that
# split at the last ':' would send another password.
_KEY_CHARACTERS = re.compile(r"[\x20-\x39\x3b-\x7e]+")
_HEX_DIGITS = re.compile(r"[0-9A-Fa-f]+")


def check_new_key(value: object, send_as: KeyFormat | None) -> str:
    """``value`` if it can be a charger's new AuthorizationKey, sent ``send_as`` (None: only
    stored, never sent). The key is what the charger presents as its HTTP Basic password."""
    if not isinstance(value, str) or not _KEY_CHARACTERS.fullmatch(value):
        raise ValidationFailed("authorization_key must be printable ASCII characters without ':'")
    longest = HEX_KEY_MAX_BYTES if send_as is KeyFormat.HEX else TEXT_KEY_MAX_BYTES
    if not KEY_MIN_BYTES <= len(value) <= longest:
        sent = " to send as hex (40 hex digits at most, SEC)" if send_as is KeyFormat.HEX else ""
        raise ValidationFailed(
            f"authorization_key must be {KEY_MIN_BYTES}-{longest} characters{sent}"
        )
    if send_as is KeyFormat.TEXT and _HEX_DIGITS.fullmatch(value):
        # SEC writes the value in hex: a charger that follows it would decode this one and
        # present other bytes than the key stored here, and never be let in again.
        raise ValidationFailed(
            "an authorization_key of hex digits only reads as hex to chargers that follow SEC: "
            'add another character or send it with "send_as": "hex"'
        )
    return value


#: ChangeConfiguration answers (S 6.10, 7.22 ConfigurationStatus) after which the charger has
#: the new key. RebootRequired: it has taken the key and uses it from its next start; keeping
#: the old hash would lock it out after that reboot.
_KEY_TAKEN = frozenset({"Accepted", "RebootRequired"})


@dataclasses.dataclass(frozen=True, slots=True)
class KeyChange:
    """A new AuthorizationKey sent to a charger: its answer and whether the key was stored."""

    answer: dict[str, Any]
    stored: bool


async def send_authorization_key(
    pool: asyncpg.Pool,
    router: CommandRouter,
    charge_point_id: str,
    key: str,
    send_as: KeyFormat,
    timeout: float | None = None,
) -> KeyChange:
    """Give a connected charger a new AuthorizationKey (SEC use case A01) by
    ChangeConfiguration; store its hash only once the charger has taken it.

    Until the charger reconnects its current connection goes on (authenticated with the old
    key); its next handshake must present the new one. ``key`` passed :func:`check_new_key`.
    """
    # Hashed before sending: a charger reconnects with the new key right after its answer
    # (SEC A01), and should find it stored by then.
    key_hash = await asyncio.to_thread(hash_secret, key, AUTHORIZATION_KEY_COST)
    value = key.encode().hex() if send_as is KeyFormat.HEX else key
    payload = {"key": "AuthorizationKey", "value": value}
    return await _change_key(pool, router, charge_point_id, key_hash, payload, timeout)


async def _change_key(
    pool: asyncpg.Pool,
    router: CommandRouter,
    charge_point_id: str,
    key_hash: str,
    payload: dict[str, Any],
    timeout: float | None,
) -> KeyChange:
    taken = False
    try:
        async with charge_points.key_change(pool, charge_point_id) as connection:
            answer = await router.call(charge_point_id, "ChangeConfiguration", payload, timeout)
            taken = answer.get("status") in _KEY_TAKEN
            if taken:
                await charge_points.set_authorization_key(connection, charge_point_id, key_hash)
    except Exception:
        if taken:  # Never the key itself in a log.
            log.error(
                "%s: the charger took a new AuthorizationKey but storing it failed; "
                "store it again (offline) or it cannot connect",
                charge_point_id,
            )
        raise
    log.info("%s: AuthorizationKey change answered %s", charge_point_id, answer.get("status"))
    return KeyChange(answer, stored=taken)


async def store_authorization_key(pool: asyncpg.Pool, charge_point_id: str, key: str) -> None:
    """Store a new AuthorizationKey without telling the charger (it is provisioned by other
    means): from its next handshake on, only this key lets it in."""
    key_hash = await asyncio.to_thread(hash_secret, key, AUTHORIZATION_KEY_COST)
    async with charge_points.key_change(pool, charge_point_id) as connection:
        await charge_points.set_authorization_key(connection, charge_point_id, key_hash)
    log.info("%s: AuthorizationKey stored (not sent to the charger)", charge_point_id)


async def remove_authorization_key(pool: asyncpg.Pool, charge_point_id: str) -> None:
    """Forget the charger's AuthorizationKey: it may connect without Basic auth again.

    Refused (:class:`Conflict`) for a charger registered at security profile 1 or 2, which
    authenticates with the key: lower its profile first, or it could never connect again.
    """
    async with charge_points.key_change(pool, charge_point_id) as connection:
        profile = await security_profiles.profile_of(connection, charge_point_id)
        if profile in (1, 2):
            raise Conflict(
                f"{charge_point_id} is at security profile {profile}, which authenticates with "
                "the key: lower its profile first"
            )
        await charge_points.set_authorization_key(connection, charge_point_id, None)
    log.warning("%s: AuthorizationKey removed; connections are not authenticated", charge_point_id)


def check_changes(body: dict[str, Any]) -> dict[str, Any]:
    """The checked ``site_id`` (an integer or None: no site) and ``registration_status`` of a
    PATCH of a charger (absent fields stay absent)."""
    changes: dict[str, Any] = {}
    if "site_id" in body:
        site_id = body["site_id"]
        if site_id is not None and (type(site_id) is not int or not 0 < site_id < 2**63):
            raise ValidationFailed("site_id must be a site's id or null")
        changes["site_id"] = site_id
    if "registration_status" in body:
        status = body["registration_status"]
        if status not in charge_points.REGISTRATION_STATUSES:
            names = ", ".join(f'"{s}"' for s in charge_points.REGISTRATION_STATUSES)
            raise ValidationFailed(f"registration_status must be one of {names}")
        changes["registration_status"] = status
    if not changes:
        raise ValidationFailed("nothing to change: give site_id or registration_status")
    return changes


def check_connector_changes(body: dict[str, Any]) -> dict[str, Any]:
    """The checked fields of a PATCH of a connector (absent fields stay absent)."""
    changes: dict[str, Any] = {}
    if "out_of_service" in body:
        if not isinstance(body["out_of_service"], bool):
            raise ValidationFailed("out_of_service must be true or false")
        changes["out_of_service"] = body["out_of_service"]
    if "connector_type" in body:
        kind = body["connector_type"]
        if not isinstance(kind, str) or not 1 <= len(kind) <= 32 or not kind.isprintable():
            raise ValidationFailed("connector_type must be a name such as Type2, CCS2 or CHAdeMO")
        changes["connector_type"] = kind
    if "max_power_kw" in body:
        changes["max_power_kw"] = parse_power_kw(body["max_power_kw"])
    if not changes:
        raise ValidationFailed(
            "nothing to change: give out_of_service, connector_type or max_power_kw"
        )
    return changes


async def add_connector(pool: asyncpg.Pool, charge_point_id: str, item: object) -> None:
    """Register one connector ``{connector_id, connector_type, max_power_kw}``."""
    [spec] = check_connectors([item])
    await charge_points.add_connector(pool, charge_point_id, spec)
    log.info("%s: connector %d registered", charge_point_id, spec.connector_id)
