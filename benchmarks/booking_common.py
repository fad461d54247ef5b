"""What the booking benchmark's modes share: the server, the seed's sizes, phase reports."""

from __future__ import annotations

import argparse
import asyncio
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from booking_http import Sample
from booking_seed import Seeded, SeedSpec
from booking_stats import latency_line
from harness import Harness, ServerOptions


def rfc3339(moment: datetime) -> str:
    """UTC with ``Z`` and milliseconds (no ``+`` to escape in a query string)."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def base_url(harness: Harness) -> str:
    return f"http://127.0.0.1:{harness.http_port}"


#: The abuse limits a crowd of drivers from one address would hit at once: dozens of sign-ups
#: and hundreds of bookings each are the load here, not an attack (``--server-env`` wins).
CROWD_LIMITS = {
    "CSMS_SIGN_UP_PER_HOUR": "100000",
    "CSMS_SIGN_IN_PER_MINUTE": "100000",
    "CSMS_BOOKINGS_PER_HOUR": "1000000",
}


def server_options(
    args: argparse.Namespace, defaults: dict[str, str] | None = None
) -> ServerOptions:
    """``python -m csms serve`` with ``defaults`` and the ``--server-env CSMS_X=VALUE``
    settings, from the csms in ``--source`` when given."""
    source = Path(args.source) if getattr(args, "source", None) else None
    env = {**(defaults or {}), **dict(item.split("=", 1) for item in args.server_env)}
    return ServerOptions(env=env, source=source)


async def start_server(
    args: argparse.Namespace, harness: Harness, defaults: dict[str, str] | None = None
) -> None:
    options = server_options(args, defaults)
    if defaults:
        print(f"server settings for this mode: {options.env}")
    await asyncio.to_thread(harness.start_server, options)
    print(f"server: pid {harness.pid}, http {harness.http_port}, ocpp {harness.ocpp_port}")


def seed_spec(args: argparse.Namespace, **overrides: object) -> SeedSpec:
    values: dict[str, object] = {
        "sites": args.sites,
        "chargers_per_site": args.chargers_per_site,
        "bookings": args.bookings,
        "seed": args.seed,
    }
    values.update(overrides)
    return SeedSpec(**values)  # type: ignore[arg-type]


def print_seed(spec: SeedSpec, seeded: Seeded) -> None:
    chargers = spec.sites * spec.chargers_per_site
    print(
        f"sizes: {spec.sites} sites, {chargers} chargers, {len(seeded.connectors)} connectors, "
        f"{seeded.bookings} live bookings over {spec.days} days "
        f"(none in the first {spec.free_band})"
    )
    steps = ", ".join(f"{name} {secs:.1f} s" for name, secs in seeded.timings.items())
    print(f"seeded in {seeded.seconds:.1f} s ({steps})")


def status_counts(samples: Sequence[Sample]) -> dict[int, int]:
    return dict(sorted(Counter(s.status for s in samples).items()))


def print_phase(label: str, samples: Sequence[Sample], elapsed: float) -> None:
    """Count, rate, statuses and latency of one closed-loop phase."""
    rate = len(samples) / elapsed if elapsed > 0 else 0.0
    print(f"{label}: {len(samples)} requests in {elapsed:.1f} s = {rate:.1f}/s, "
          f"status {status_counts(samples)}")  # fmt: skip
    print(f"  latency {latency_line([s.seconds for s in samples])}")
