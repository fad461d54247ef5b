"""Security profile changes and connection failures (SEC "Secure connection setup", use case A05).

ChangeConfiguration SecurityProfile=N (SEC use case A05, OCTT TC_083/084): a lower profile is
Rejected; a higher one only when the charger can use it — profiles 1 and 2 need an AuthorizationKey
(HTTP Basic), profile 3 a client certificate (from CertificateSigned, or given on the command
line). Once Accepted the charger sends nothing more on this connection, disconnects and
connects again with the new profile (TLS for 2 and 3, its client certificate for 3; under the
profile-on-next-connection quirk it waits for the next connection, e.g. after a Reset). When that
keeps failing (:data:`FALLBACK_AFTER_ATTEMPTS` handshakes), it falls back to the previous
profile, as the white paper requires, and says so with a SecurityEventNotification
(ReconfigurationOfSecurityParameters); a change that works is reported the same way over the new
connection. Failed handshakes also raise the security event the white paper names for them
(FailedToAuthenticateAtCentralSystem for a refused AuthorizationKey, InvalidCentralSystemCertificate
for a server certificate that does not verify), once per run of failures. Sans-I/O: the asyncio
layer reports every handshake with :meth:`handshake_failed` / :meth:`handshake_succeeded`.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import TYPE_CHECKING

from ocpp.v16.enums import ConfigurationStatus

from simulators.calls import Quirk
from simulators.effects import Reconnect
from simulators.events import EventKind

if TYPE_CHECKING:
    from simulators.core import ChargerCore

#: Handshakes with a new security profile before falling back to the previous one.
FALLBACK_AFTER_ATTEMPTS = 3
MAX_PROFILE = 3
#: What the asyncio layer calls a failed handshake → the SEC security event for it.
FAILURE_EVENTS = {"auth": "FailedToAuthenticateAtCentralSystem",
                  "certificate": "InvalidCentralSystemCertificate"}


@dataclasses.dataclass(slots=True)
class ProfileChange:
    new: int
    previous: int
    attempts: int = 0


class SecurityProfiles:
    """The SecurityProfile in force, a change in progress, and what failed handshakes mean."""

    __slots__ = ("_reported", "host", "pending", "reconnecting")

    def __init__(self, host: ChargerCore) -> None:
        self.host = host
        self.pending: ProfileChange | None = None
        #: Accepted a new profile: send nothing more until the connection is renewed.
        self.reconnecting = False
        self._reported: set[str] = set()

    @property
    def current(self) -> int:
        return self.host.config.get_int("SecurityProfile")

    def missing_for(self, profile: int) -> str | None:
        """Why the charger cannot use ``profile`` now (None: it can)."""
        if profile in (1, 2) and not self.host.config.get("AuthorizationKey"):
            return "no AuthorizationKey is set"
        if profile == 3 and not self.host.certs.has_client_certificate:
            return "no client certificate is installed"
        return None

    def change(self, value: str, now: datetime) -> ConfigurationStatus:
        """ChangeConfiguration SecurityProfile (SEC A05): Accepted (then reconnect with it),
        or Rejected for a lower profile, a bad value, or one the charger cannot use yet."""
        text = value.strip()
        if not text.isdigit() or int(text) > MAX_PROFILE or int(text) < self.current:
            return ConfigurationStatus.rejected
        new, old = int(text), self.current
        if new == old:
            return ConfigurationStatus.accepted
        missing = self.missing_for(new)
        if missing is not None:
            self.host.emit(EventKind.REFUSED, f"SecurityProfile {new} rejected: {missing}")
            return ConfigurationStatus.rejected
        self.host.config.set_factory("SecurityProfile", str(new))
        self.pending = ProfileChange(new, old)
        if self.host.has_quirk(Quirk.PROFILE_ON_NEXT_CONNECTION):
            self.host.emit(EventKind.CONFIG, f"security profile {old} -> {new}: from the next "
                           "connection on")
            return ConfigurationStatus.accepted
        self.reconnecting = True
        self.host.effects.append(Reconnect(f"security profile {old} -> {new}"))
        self.host.emit(EventKind.CONFIG, f"security profile {old} -> {new}: reconnecting")
        return ConfigurationStatus.accepted

    def connection_closed(self) -> None:
        self.reconnecting = False

    def handshake_failed(self, now: datetime, kind: str, reason: str) -> bool:
        """A connection attempt failed (``kind``: auth, certificate, tls or network). Return
        True when the charger fell back to its previous security profile."""
        event = FAILURE_EVENTS.get(kind)
        if event is not None and event not in self._reported:
            self._reported.add(event)
            self.host.security.report(event, now, reason)
        change = self.pending
        if change is None:
            return False
        change.attempts += 1
        if change.attempts < FALLBACK_AFTER_ATTEMPTS:
            return False
        self.pending = None
        self.host.config.set_factory("SecurityProfile", str(change.previous))
        self.host.emit(EventKind.ERROR, f"security profile {change.new} failed ({reason}): "
                       f"falling back to {change.previous}")
        self.host.security.report(
            "ReconfigurationOfSecurityParameters", now,
            f"SecurityProfile {change.new} failed ({reason}); back to {change.previous}")
        return True

    def handshake_succeeded(self, now: datetime) -> None:
        """Connected: a profile change in progress holds now."""
        self._reported.clear()
        change, self.pending = self.pending, None
        if change is not None:
            self.host.emit(EventKind.INFO, f"connected with security profile {change.new}")
            self.host.security.report("ReconfigurationOfSecurityParameters", now,
                                      f"SecurityProfile {change.previous} -> {change.new}")
