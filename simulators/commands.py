"""The driver/network commands shared by ``csms-sim run`` and scenario files.

``plug N``, ``unplug N``, ``code N CODE``, ``tap N TAG``, ``stop N``, ``fault N [ERRORCODE]``,
``clear N``, ``suspend N``, ``resume N``, ``offline``, ``online``, ``reboot``, ``tamper``,
``csr``, ``status``, ``wait SECONDS``.
:func:`parse` checks a line's shape (raising :class:`CommandError` with a message for people);
:func:`execute` performs it on a :class:`SimulatedChargePoint` and returns any text to show.
"""

from __future__ import annotations

import asyncio
import dataclasses
import shlex

from simulators.charge_point import SimulatedChargePoint, utc_now
from simulators.protocol import format_clock


class CommandError(ValueError):
    """A command line that cannot be run; the message says why."""


@dataclasses.dataclass(frozen=True, slots=True)
class Command:
    name: str
    connector: int | None = None
    argument: str | None = None
    seconds: float | None = None


#: name → (takes a connector, argument: None / "required" / "optional")
_SHAPES: dict[str, tuple[bool, str | None]] = {
    "plug": (True, None), "unplug": (True, None), "code": (True, "required"),
    "tap": (True, "required"), "stop": (True, None), "fault": (True, "optional"),
    "clear": (True, None), "suspend": (True, None), "resume": (True, None),
    "offline": (False, None), "online": (False, None), "status": (False, None),
    "reboot": (False, None), "tamper": (False, None), "csr": (False, None),
}

USAGE = """\
plug N | unplug N          a car is plugged into / unplugged from connector N
code N CODE | tap N TAG    a driver types CODE / taps card TAG at connector N
stop N                     the driver ends charging at connector N
fault N [ERRORCODE]        connector N (0 = the charger) goes Faulted; clear N recovers
suspend N | resume N       the car pauses / resumes drawing energy (SuspendedEV)
offline | online           the network drops / returns
reboot                     power loss and reboot: running transactions are lost without a
                           StopTransaction, reservations too; reconnects and boots again
tamper                     the tamper sensor fires (security event TamperDetectionActivated)
csr                        new key pair and CSR: SignCertificate (then CertificateSigned)
status                     each connector's state, reservation and transaction
wait SECONDS               pause reading commands
help | quit"""


def parse(line: str) -> Command:
    """Parse one command line (already stripped of comments)."""
    try:
        words = shlex.split(line)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    if not words:
        raise CommandError("empty command")
    name, rest = words[0].lower(), words[1:]
    if name == "wait":
        return Command("wait", seconds=_seconds(rest))
    if name not in _SHAPES:
        raise CommandError(f"unknown command {words[0]!r} (type help)")
    takes_connector, argument = _SHAPES[name]
    expected = int(takes_connector) + (argument is not None)
    minimum = expected - (argument == "optional")
    if not minimum <= len(rest) <= expected:
        raise CommandError(f"usage: {_usage_of(name)}")
    connector = _connector(rest[0]) if takes_connector else None
    value = rest[1] if argument is not None and len(rest) > 1 else None
    return Command(name, connector, value)


def _usage_of(name: str) -> str:
    takes_connector, argument = _SHAPES[name]
    parts = [name] + (["N"] if takes_connector else [])
    if argument == "required":
        parts.append("CODE" if name == "code" else "TAG")
    elif argument == "optional":
        parts.append("[ERRORCODE]")
    return " ".join(parts)


def _connector(word: str) -> int:
    if not word.isdigit():
        raise CommandError(f"not a connector number: {word!r}")
    return int(word)


def _seconds(rest: list[str]) -> float:
    try:
        seconds = float(rest[0]) if len(rest) == 1 else -1.0
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= 86_400:
        raise CommandError("usage: wait SECONDS")
    return seconds


async def execute(cp: SimulatedChargePoint, command: Command) -> str | None:
    """Perform ``command``; raise :class:`CommandError` if the charger cannot."""
    n = command.connector if command.connector is not None else 0
    try:
        actions = {
            "plug": lambda: cp.plug(n), "unplug": lambda: cp.unplug(n),
            "code": lambda: cp.code(n, command.argument or ""),
            "tap": lambda: cp.tap(n, command.argument or ""),
            "stop": lambda: cp.stop(n), "clear": lambda: cp.clear(n),
            "fault": lambda: cp.fault(n, command.argument or "OtherError"),
            "suspend": lambda: cp.suspend(n), "resume": lambda: cp.suspend(n, False),
            "offline": lambda: cp.go_offline(), "online": lambda: cp.go_online(wait=False),
            "reboot": lambda: cp.reboot(wait=False),
            "tamper": lambda: cp.tamper(), "csr": lambda: cp.request_certificate(),
        }
        if command.name == "status":
            return describe(cp)
        if command.name == "wait":
            await asyncio.sleep(command.seconds or 0.0)
            return None
        await actions[command.name]()
    except (ValueError, TimeoutError) as exc:
        raise CommandError(str(exc) or type(exc).__name__) from None
    return None


def describe(cp: SimulatedChargePoint) -> str:
    """The ``status`` report: the charger, then one line per connector."""
    model = cp.model
    model.begin(utc_now(), passive=True)  # meters up to this moment
    link = "online" if cp.connected else "offline"
    boot = model.registration or "not booted"
    lines = [f"charger {model.cp_id}: {link}, boot {boot}, heartbeat every "
             f"{model.config.get_int('HeartbeatInterval')} s, {len(model.outbox)} queued"]
    for connector in model.connectors:
        parts = [f"connector {connector.connector_id}: {connector.status}"]
        if connector.connector_id > 0:
            parts.append(f"plugged {'yes' if connector.plugged else 'no'}, "
                         f"meter {connector.meter} Wh")
        tx = connector.transaction
        if tx is not None:
            tx_id = tx.transaction_id if tx.transaction_id is not None else "pending"
            parts.append(f"transaction {tx_id} for {tx.id_tag}")
        r = connector.reservation
        if r is not None:
            parts.append(f"reservation {r.reservation_id} for {r.id_tag} "
                         f"until {format_clock(r.expiry)}")
        lines.append(", ".join(parts))
    for r in model.zero_reservations:
        lines.append(f"connector 0: reservation {r.reservation_id} for {r.id_tag} "
                     f"until {format_clock(r.expiry)}")
    certificate = "yes" if model.certs.has_client_certificate else "no"
    lines.append(f"security profile {model.config.get('SecurityProfile')}, firmware "
                 f"{model.firmware_version}, client certificate {certificate}, "
                 f"{len(model.certs.installed)} CA certificates")
    return "\n".join(lines)
