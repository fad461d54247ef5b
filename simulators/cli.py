"""``csms-sim``: the command line (run / scenario / fleet); ``docs/simulator.md`` is its manual.

``csms-sim run --url URL --id ID`` drives one charger from a terminal or a pipe;
``csms-sim scenario FILE`` runs a scripted scenario and exits 0 / 1 (an expectation failed) /
2 (bad file or setup); ``csms-sim fleet --url URL --count N`` runs thousands of chargers.
``run`` and ``fleet`` exit 1 when chargers never boot: an id the CSMS answers HTTP 404 for is
given up after ``--unknown-id-attempts``; ``fleet`` stops once ``--boot-timeout`` has passed
after its ramp with chargers still not booted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import orjson

from simulators.charge_point import UNKNOWN_ID_ATTEMPTS, Backoff, SimulatedChargePoint
from simulators.configuration import DEFAULT_PROFILES
from simulators.core import FIRMWARE_VERSION, Quirk
from simulators.security_events import EventMode


def _config_pair(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def _charger_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", required=True,
                        help="the CSMS's OCPP URL; /{id} is appended (ws:// or wss://)")
    parser.add_argument("--connectors", type=int, default=2, help="number of connectors")
    parser.add_argument("--power-kw", type=float, default=22.0, help="power per connector")
    parser.add_argument("--profiles", default=DEFAULT_PROFILES,
                        help="SupportedFeatureProfiles (comma list)")
    parser.add_argument("--ca-file", help="CA bundle to verify a wss:// server")
    parser.add_argument("--client-cert", help="client certificate for mutual TLS (profile 3)")
    parser.add_argument("--client-key", help="private key of --client-cert")
    parser.add_argument("--unknown-id-attempts", type=int, default=UNKNOWN_ID_ATTEMPTS,
                        metavar="N", help="give up after N HTTP 404 answers in a row "
                        "(the CSMS does not know the id; 0: keep trying)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="csms-sim", description="simulated OCPP 1.6J chargers")
    commands = parser.add_subparsers(dest="command", required=True)
    _run_parser(commands.add_parser("run", help="one charger with a prompt (or piped commands)"))
    _scenario_parser(commands.add_parser("scenario", help="run a scripted scenario file"))
    _fleet_parser(commands.add_parser("fleet", help="thousands of chargers in one process"))
    return parser


def _run_parser(run: argparse.ArgumentParser) -> None:
    _charger_options(run)
    run.add_argument("--id", required=True, help="the charge point id")
    run.add_argument("--key", help="AuthorizationKey for HTTP Basic auth (security profile 1)")
    run.add_argument("--quirk", action="append", default=[], choices=[q.value for q in Quirk],
                     help="behave like a charger with this known deviation (repeatable)")
    run.add_argument("--config", action="append", default=[], type=_config_pair,
                     metavar="KEY=VALUE", help="set a configuration key at start (repeatable)")
    run.add_argument("--quiet", action="store_true", help="hide the single-frame lines")
    run.add_argument("--timestamps", action="store_true", help="prefix lines with the time")
    run.add_argument("--boot-timeout", type=float, default=30.0,
                     help="seconds to wait for the first boot before reading commands")
    run.add_argument("--backoff-max", type=float, default=60.0,
                     help="longest wait between reconnection attempts")
    _security_options(run)


def _security_options(run: argparse.ArgumentParser) -> None:
    """The security extension (SEC) and firmware options of ``run``."""
    run.add_argument("--tls-url",
                     help="the wss:// URL for security profiles 2 and 3 (default: --url as wss)")
    run.add_argument("--cert-dir", type=Path,
                     help="keep the charger's certificates here (and load them at start)")
    run.add_argument("--security-events", choices=[m.value for m in EventMode],
                     default=EventMode.ALL.value,
                     help="which security events are sent (off: no security extension)")
    run.add_argument("--manufacturer-root", action="append", default=[], metavar="PEM",
                     help="install as ManufacturerRootCertificate (SignedUpdateFirmware)")
    run.add_argument("--firmware-version", default=FIRMWARE_VERSION,
                     help="the firmwareVersion reported at boot")
    run.add_argument("--new-firmware-version",
                     help="the version reported after a firmware update (default: file name)")


def _scenario_parser(scenario: argparse.ArgumentParser) -> None:
    scenario.add_argument("file", type=Path)
    scenario.add_argument("--url", help="the CSMS's OCPP URL (overrides the file's url line)")
    scenario.add_argument("--http-url", help="the CSMS's HTTP base URL for http steps")
    scenario.add_argument("--token", default=os.environ.get("CSMS_SIM_TOKEN"),
                          help="bearer token for http steps (default: $CSMS_SIM_TOKEN)")
    scenario.add_argument("--timeout", type=float, default=10.0,
                          help="default seconds an expectation may take")
    scenario.add_argument("--verbose", "-v", action="store_true", help="print every event")


def _fleet_parser(fleet: argparse.ArgumentParser) -> None:
    _charger_options(fleet)
    fleet.add_argument("--count", type=int, required=True, help="number of chargers")
    fleet.add_argument("--prefix", default="FLEET-", help="charger ids are PREFIX00001, ...")
    fleet.add_argument("--first", type=int, default=1, help="number of the first charger")
    fleet.add_argument("--key-file", type=Path,
                       help="lines 'ID KEY' (or one KEY for all) for HTTP Basic auth")
    fleet.add_argument("--ramp", type=float, default=100.0,
                       help="chargers started per second (0: all at once)")
    fleet.add_argument("--duration", type=float,
                       help="seconds to run after the ramp (default: until interrupted)")
    fleet.add_argument("--sessions", type=float, default=0.0, metavar="PER_HOUR",
                       help="charging sessions per charger per hour")
    fleet.add_argument("--session-minutes", default="15-45",
                       help="session length range in minutes, e.g. 15-45")
    fleet.add_argument("--id-tag", action="append", default=[],
                       help="idTag drivers use (repeatable; must be known to the CSMS)")
    fleet.add_argument("--id-tag-file", type=Path,
                       help="more idTags, one per line (a card charges one car at a time)")
    fleet.add_argument("--boot-timeout", type=float, default=60.0, metavar="SECONDS",
                       help="stop (exit 1) when chargers have not booted this long after the "
                       "ramp (0: no deadline)")
    fleet.add_argument("--json", action="store_true", help="print the summary as JSON")
    fleet.add_argument("--security-events", choices=[m.value for m in EventMode],
                       default=EventMode.ALL.value,
                       help="which security events are sent (off: no security extension)")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "run":
            return _run(args)
        if args.command == "scenario":
            return _scenario(args)
        return _fleet(args)
    except KeyboardInterrupt:
        return 130
    except (ValueError, OSError) as exc:
        print(f"csms-sim: {exc}", file=sys.stderr)
        return 2


def _use_uvloop() -> None:
    try:
        import uvloop
    except ImportError:
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def _run(args: argparse.Namespace) -> int:
    from simulators import interactive

    cp = SimulatedChargePoint(
        args.url, args.id, connectors=args.connectors, power_kw=args.power_kw, key=args.key,
        profiles=args.profiles, quirks=args.quirk, config=dict(args.config),
        ca_file=args.ca_file, cert_file=args.client_cert, key_file=args.client_key,
        backoff=Backoff(1.0, args.backoff_max), tls_url=args.tls_url, cert_dir=args.cert_dir,
        security_events=args.security_events, manufacturer_roots=args.manufacturer_root,
        firmware_version=args.firmware_version, new_firmware_version=args.new_firmware_version,
        unknown_id_attempts=args.unknown_id_attempts)
    return interactive.main_loop(cp, quiet=args.quiet, timestamps=args.timestamps,
                                 boot_timeout=args.boot_timeout)


def _scenario(args: argparse.Namespace) -> int:
    from simulators import scenario

    settings = scenario.Settings(url=args.url, http_url=args.http_url, token=args.token,
                                 timeout=args.timeout, verbose=args.verbose)
    return asyncio.run(scenario.run_file(args.file, settings))


def _fleet(args: argparse.Namespace) -> int:
    from simulators.fleet import Fleet, FleetOptions, read_id_tags, read_key_file

    keys, default_key = read_key_file(args.key_file) if args.key_file else ({}, None)
    id_tags = list(args.id_tag) + (read_id_tags(args.id_tag_file) if args.id_tag_file else [])
    low, _, high = args.session_minutes.partition("-")
    options = FleetOptions(
        url=args.url, count=args.count, prefix=args.prefix, first=args.first, keys=keys,
        default_key=default_key, connectors=args.connectors, power_kw=args.power_kw,
        profiles=args.profiles, ramp=args.ramp, duration=args.duration,
        sessions_per_hour=args.sessions, session_minutes=(float(low), float(high or low)),
        id_tags=id_tags or [f"{args.prefix}TAG"], ca_file=args.ca_file,
        cert_file=args.client_cert, key_file=args.client_key,
        security_events=args.security_events, boot_timeout=args.boot_timeout or None,
        unknown_id_attempts=args.unknown_id_attempts)
    _use_uvloop()

    async def go() -> int:
        summary = await Fleet(options).run()
        if args.json:
            print(orjson.dumps(summary.to_json(), option=orjson.OPT_INDENT_2).decode())
        else:
            print(summary.to_text())
        if summary.never_booted == 0:
            return 0
        print(f"csms-sim: {summary.never_booted_line()}", file=sys.stderr)
        return 1

    return asyncio.run(go())


if __name__ == "__main__":
    sys.exit(main())
