"""Changing a charger's security profile, the SEC way (see csms.domain.security_profiles)."""

from __future__ import annotations

import asyncpg

from csms.commands import CommandRouter
from csms.domain.security_profiles import prerequisite
from csms.errors import Conflict
from csms.settings import Settings
from csms.store import security_profiles as store
from csms.store.security_profiles import SecurityProfile


def _prerequisite(profile: int, current: SecurityProfile, settings: Settings) -> str | None:
    return prerequisite(
        profile, has_key=current.has_key, tls=settings.tls_cert is not None,
        client_ca=settings.tls_client_ca is not None,
    )


async def change(
    pool: asyncpg.Pool,
    router: CommandRouter,
    settings: Settings,
    charge_point_id: str,
    profile: int,
    *,
    offline: bool,
) -> SecurityProfile:
    """Lower at once; raise by telling the charger (ChangeConfiguration SecurityProfile), after
    which its first connection proving ``profile`` makes it the registered one. ``offline``
    registers a raise at once (a charger provisioned with it by other means)."""
    current = await store.get(pool, charge_point_id)
    if profile <= current.profile:
        return await store.set_profile(pool, charge_point_id, profile)
    reason = _prerequisite(profile, current, settings)
    if reason is not None:
        raise Conflict(reason)
    if offline:
        return await store.set_profile(pool, charge_point_id, profile)
    answer = await router.call(
        charge_point_id,
        "ChangeConfiguration",
        {"key": "SecurityProfile", "value": str(profile)},
        settings.call_timeout,
    )
    if answer.get("status") != "Accepted":
        raise Conflict(f"the charger answered {answer.get('status')} to SecurityProfile {profile}")
    return await store.set_pending(pool, charge_point_id, profile)
