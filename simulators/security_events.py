"""Security events and the security log (SEC "Security events/logging", its list of events).

Every security event is written to the charger's security log (uploaded by GetLog with logType
SecurityLog) and sent as SecurityEventNotification. The white paper requires the *critical* ones
to be sent and queued while offline; ``mode`` chooses what csms-sim sends: ``all`` (default, so a
tester sees every event on the wire), ``critical`` (the white paper's minimum) or ``off`` (a
charger without the security extension: no notifications, and its CALLs are NotSupported).
Sans-I/O like the rest of the model.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING

from simulators.calls import SECURITY_ACTIONS, OutgoingCall, Quirk
from simulators.effects import Disconnect
from simulators.events import EventKind
from simulators.protocol import format_time

if TYPE_CHECKING:
    from simulators.core import ChargerCore

#: SEC Appendix 1: each security event type and whether it is critical.
EVENTS: dict[str, bool] = {
    "FirmwareUpdated": True,
    "FailedToAuthenticateAtCentralSystem": False,
    "CentralSystemFailedToAuthenticate": False,
    "SettingSystemTime": True,
    "StartupOfTheDevice": True,
    "ResetOrReboot": True,
    "SecurityLogWasCleared": True,
    "ReconfigurationOfSecurityParameters": False,
    "MemoryExhaustion": True,
    "InvalidMessages": False,
    "AttemptedReplayAttacks": False,
    "TamperDetectionActivated": True,
    "InvalidFirmwareSignature": False,
    "InvalidFirmwareSigningCertificate": False,
    "InvalidCentralSystemCertificate": False,
    "InvalidChargePointCertificate": False,
    "InvalidTLSVersion": False,
    "InvalidTLSCipherSuite": False,
}
#: How many entries the security log keeps (the oldest go first).
LOG_MAX_ENTRIES = 500
#: What a reboot's cause (``ChargerCore.reboot_pending``, None for a power loss) is reported as.
REBOOT_CAUSES = {"Hard": "Hard reset", "Soft": "Soft reset", "Firmware": "firmware update",
                 None: "power loss"}


class EventMode(enum.StrEnum):
    """Which security events go out as SecurityEventNotification."""

    ALL = "all"
    CRITICAL = "critical"
    OFF = "off"  # no security extension at all


class SecurityEvents:
    """The security log of one charger and the notifications it sends."""

    __slots__ = ("_log", "host", "mode")

    def __init__(self, host: ChargerCore, mode: str = EventMode.ALL) -> None:
        """Raise ValueError for an unknown ``mode``."""
        self.host = host
        self.mode = EventMode(mode)
        self._log: list[tuple[datetime, str, str | None]] | None = None  # made when needed

    @property
    def extension(self) -> bool:
        """Does this charger have the security extension at all?"""
        return self.mode is not EventMode.OFF

    def report(self, event_type: str, now: datetime, tech_info: str | None = None) -> None:
        """Log a security event and, as :attr:`mode` says, queue its notification (kept for
        the next connection when offline: SEC requires critical events to be queued)."""
        info = tech_info[:255] if tech_info else None
        if self._log is None:
            self._log = []  # a list, not a deque: a fleet charger logs one or two events
        self._log.append((now, event_type, info))
        if len(self._log) > LOG_MAX_ENTRIES:
            del self._log[0]
        critical = EVENTS.get(event_type, False)
        self.host.emit(EventKind.SECURITY, f"security event {event_type}"
                       f"{' (critical)' if critical else ''}{f': {info}' if info else ''}",
                       status=event_type)
        if self.mode is EventMode.OFF or (self.mode is EventMode.CRITICAL and not critical):
            return
        payload: dict[str, object] = {"type": event_type, "timestamp": self.host.stamp(now)}
        if info:
            payload["techInfo"] = info
        self.host.queue(OutgoingCall("SecurityEventNotification", payload, keep=True))

    def on_booted(self, cause: str | None, first: bool, now: datetime) -> None:
        """After an Accepted boot: StartupOfTheDevice the first time the charger is switched on,
        ResetOrReboot after a reboot, and FirmwareUpdated after a firmware installation."""
        host = self.host
        if first:
            self.report("StartupOfTheDevice", now, f"{host.vendor} {host.model_name} "
                        f"{host.firmware_version} started")
            return
        if cause == "Firmware":
            self.report("FirmwareUpdated", now, f"firmware {host.firmware_version}")
        self.report("ResetOrReboot", now, REBOOT_CAUSES.get(cause, str(cause)))

    def on_call_failed(self, call: OutgoingCall, error_code: str | None) -> None:
        """A security-extension CALL got a CALLERROR: NotImplemented means the CSMS lacks the
        extension. csms-sim carries on; under stop-after-not-implemented it drops the link."""
        if error_code != "NotImplemented" or call.action not in SECURITY_ACTIONS:
            return
        if self.host.has_quirk(Quirk.STOP_AFTER_NOT_IMPLEMENTED):
            self.host.emit(EventKind.ERROR, f"the CSMS does not implement {call.action}: "
                           "dropping the connection (quirk)", action=call.action)
            self.host.effects.append(Disconnect(f"{call.action} not implemented"))
        else:
            self.host.emit(EventKind.INFO, f"the CSMS does not implement {call.action}; "
                           "carrying on", action=call.action)

    def log_lines(self, oldest: datetime | None, latest: datetime | None) -> list[str]:
        """The security log between ``oldest`` and ``latest`` (GetLog SecurityLog), one line
        per entry: ``timestamp type techInfo``."""
        lines = []
        for moment, event_type, info in self._log or ():
            if (oldest is None or moment >= oldest) and (latest is None or moment <= latest):
                lines.append(f"{format_time(moment)} {event_type} {info or ''}".rstrip())
        return lines
