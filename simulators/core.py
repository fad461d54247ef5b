"""The plumbing of the charger model: state, outbox, status reporting, boot, heartbeat, timers.

Sans-I/O: nothing here touches a socket, a task or the clock. Every entry point takes ``now``;
what the charger wants to send is appended to :attr:`ChargerCore.outbox` as
:class:`OutgoingCall` objects, and :meth:`ChargerCore.next_call` hands them out one at a time
(OCPP-J allows one outstanding CALL per direction, J 4.1.1). Driver actions and reservation rules
are added by :class:`simulators.model.ChargePointModel`. The security extension (SEC) and the
file transfers are parts of the core: :attr:`ChargerCore.security` (security events),
:attr:`~ChargerCore.security_profiles`, :attr:`~ChargerCore.certs`, :attr:`~ChargerCore.firmware`
and :attr:`~ChargerCore.uploads`; what they need done in the world (a download, an upload, a
file, a reconnection) they append to :attr:`ChargerCore.effects` (:mod:`simulators.effects`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from ocpp.v16.enums import ChargePointStatus, Reason, RegistrationStatus

from simulators.authorization import IdTagInfo, LocalAuthorization
from simulators.calls import TRANSACTION_ACTIONS, Answer, OutgoingCall, Purpose, Quirk
from simulators.certificates import CertificateStore
from simulators.configuration import DEFAULT_PROFILES, PROFILES, Configuration
from simulators.connector import (
    Connector,
    Reservation,
    Transaction,
    derive_status,
    sample,
    status_payload,
)
from simulators.effects import Effect
from simulators.events import Event, EventKind
from simulators.firmware import FirmwareUpdates
from simulators.protocol import Payload, format_clock, format_time
from simulators.security_events import EventMode, SecurityEvents
from simulators.security_profiles import SecurityProfiles
from simulators.uploads import Uploads

FIRMWARE_VERSION = "csms-sim 0.1.0"
#: S 4.2: after a Pending/Rejected boot with interval 0, retry after this long.
BOOT_RETRY_SECONDS = 30
#: A kept CALL that is not a transaction message (a security event, a transfer status) and
#: whose connection died this many times before its answer is given up: a CSMS that drops
#: the link on it would otherwise see it forever.
KEPT_CALL_ATTEMPTS = 3
__all__ = ["BOOT_RETRY_SECONDS", "FIRMWARE_VERSION", "TRANSACTION_ACTIONS", "Answer",
           "ChargerCore", "OutgoingCall", "Purpose", "Quirk", "tx_name"]


class ChargerCore:
    """State and plumbing shared by every behaviour of a simulated charger."""

    def __init__(
        self,
        cp_id: str,
        *,
        connectors: int = 2,
        power_kw: float = 22.0,
        profiles: str | Iterable[str] = DEFAULT_PROFILES,
        quirks: Iterable[str] = (),
        config: Mapping[str, str] | None = None,
        vendor: str = "csms-sim",
        model: str = "Simulator",
        meter_start_wh: float = 0.0,
        record_events: bool = True,
        firmware_version: str = FIRMWARE_VERSION,
        new_firmware_version: str | None = None,
        security_events: str = EventMode.ALL,
    ) -> None:
        """Raise ValueError for an impossible charger (bad counts, profiles, quirks, keys).
        ``firmware_version`` is reported at boot, ``new_firmware_version`` after an update
        (default: the file's name); ``security_events``: all, critical or off."""
        _check_size(connectors, power_kw)
        self.cp_id, self.vendor, self.model_name = cp_id, vendor[:20], model[:20]
        self.quirks = frozenset(Quirk(q) for q in quirks)
        self.config = Configuration(config)
        self.config.set_factory("NumberOfConnectors", str(connectors))
        self.config.set_factory("SupportedFeatureProfiles", _check_profiles(profiles))
        self.connectors = [Connector(0)] + [
            Connector(n, power_w=power_kw * 1000.0, energy_wh=meter_start_wh)
            for n in range(1, connectors + 1)
        ]
        self.auth = LocalAuthorization()
        self.zero_reservations: list[Reservation] = []
        self.outbox: deque[OutgoingCall] = deque()
        self.events: list[Event] = []
        self.record_events = record_events
        self.online = False
        self.registration: str | None = None
        self.next_boot: datetime | None = None
        self.next_heartbeat: datetime | None = None
        self.reboot_pending: str | None = None
        self._add_security_and_files(firmware_version, new_firmware_version, security_events)

    def _add_security_and_files(self, firmware_version: str, new_firmware_version: str | None,
                                security_events: str) -> None:
        """The security extension (SEC) and the file transfers (S 5.9, 5.19)."""
        self.firmware_version = firmware_version[:50]  # BootNotification: CiString50
        #: Why the charger last booted: Startup (switched on), Hard/Soft (Reset), Firmware
        #: (an update was installed) or None (power loss); reported once booted (SEC).
        self.boot_cause: str | None = "Startup"
        self.effects: list[Effect] = []  # what the asyncio layer should do (simulators.effects)
        self.certs = CertificateStore()
        self.security = SecurityEvents(self, security_events)
        self.security_profiles = SecurityProfiles(self)
        self.firmware = FirmwareUpdates(self, new_firmware_version)
        self.uploads = Uploads(self)

    # ---- small helpers -------------------------------------------------------------------

    @property
    def booted(self) -> bool:
        return bool(self.registration == RegistrationStatus.accepted)

    @property
    def profiles(self) -> list[str]:
        return self.config.get_list("SupportedFeatureProfiles")

    def has_quirk(self, quirk: Quirk) -> bool:
        return bool(quirk in self.quirks)

    @property
    def whole_seconds(self) -> bool:
        """Are the timestamps we send truncated to whole seconds (whole-second-timestamps)?"""
        return self.has_quirk(Quirk.WHOLE_SECOND_TIMESTAMPS)

    def stamp(self, moment: datetime) -> str:
        """``moment`` as this charger writes timestamps (see :attr:`whole_seconds`)."""
        return format_time(moment, whole_seconds=self.whole_seconds)

    def connector(self, connector_id: int) -> Connector:
        """Connector 1..N; raise ValueError otherwise."""
        if not 1 <= connector_id < len(self.connectors):
            raise ValueError(f"no connector {connector_id} (this charger has 1..{self.count})")
        return self.connectors[connector_id]

    @property
    def count(self) -> int:
        """The number of connectors (not counting connector 0)."""
        return len(self.connectors) - 1

    def emit(self, kind: EventKind, text: str, **fields: Any) -> None:
        """Record an event (nothing at all when events are off, e.g. in a fleet). The text is
        one line whatever it quotes (an error message, a file name)."""
        if self.record_events:
            if "\n" in text or "\r" in text:
                text = " ".join(text.splitlines())
            self.events.append(Event(kind, text, **fields))

    def drain_events(self) -> list[Event]:
        """The events recorded since the last call."""
        events, self.events = self.events, []
        return events

    def take_effects(self) -> list[Effect]:
        """What the asyncio layer should do now (see :mod:`simulators.effects`)."""
        effects, self.effects = self.effects, []
        return effects

    def queue(self, call: OutgoingCall, *, front: bool = False) -> None:
        if front:
            self.outbox.appendleft(call)
        else:
            self.outbox.append(call)

    def all_reservations(self) -> list[Reservation]:
        found = [c.reservation for c in self.connectors if c.reservation is not None]
        return found + list(self.zero_reservations)

    # ---- the start and end of every step -------------------------------------------------

    def begin(self, now: datetime, *, passive: bool = False) -> None:
        """Bring meters up to ``now`` and expire what is due, before anything changes.

        ``passive`` steps (timers, answers to our own calls, the connection coming and going)
        do not expire reservations under the lazy-expiry quirk; driver actions and CSMS calls do.
        """
        for connector in self.connectors:
            connector.advance_meter(now)
        if not (passive and self.has_quirk(Quirk.LAZY_EXPIRY)):
            self.expire_reservations(now)

    def refresh(self, now: datetime) -> None:
        """Re-derive every status (S 4.9) and queue a StatusNotification for each change."""
        for connector in self.connectors:
            status = derive_status(connector)
            if status is connector.status:
                continue
            connector.status = status
            self.emit(EventKind.STATUS, self.status_text(connector),
                      connector=connector.connector_id, status=str(status))
            if self.online and self.booted:
                self.report_status(connector, now)

    def status_text(self, connector: Connector) -> str:
        head = f"connector {connector.connector_id}: {connector.status}"
        if connector.status is ChargePointStatus.reserved and connector.reservation is not None:
            r = connector.reservation
            return (f"{head} for {r.id_tag} until {format_clock(r.expiry)} "
                    f"(reservation {r.reservation_id})")
        if connector.status is ChargePointStatus.faulted:
            return f"{head} ({connector.error_code})"
        if connector.transaction is not None:
            tx = connector.transaction
            return f"{head} (transaction {tx_name(tx)}, {tx.id_tag})"
        return head

    def report_status(self, connector: Connector, now: datetime) -> None:
        """Queue a StatusNotification for ``connector``'s current status (S 4.9, 6.47)."""
        connector.reported = connector.status
        payload = status_payload(connector, now, whole_seconds=self.whole_seconds)
        self.queue(OutgoingCall("StatusNotification", payload,
                                connector_id=connector.connector_id))

    # ---- connection life -----------------------------------------------------------------

    def connection_opened(self, now: datetime) -> None:
        """The WebSocket is open: boot if not yet accepted (S 4.2), else report what changed."""
        self.begin(now, passive=True)
        self.online = True
        if not self.booted:
            self.queue_boot(now)
        else:
            for connector in self.connectors:
                if connector.reported is not connector.status:
                    self.report_status(connector, now)

    def connection_closed(self, now: datetime, unanswered: OutgoingCall | None = None) -> None:
        """The WebSocket is gone. ``unanswered`` is the CALL that was waiting for its answer.

        Transaction messages stay queued, in order, for the next connection (S 3.6), and so do
        security events and file-transfer statuses (SEC: queue security events while offline);
        every other queued CALL is given up (an Authorize then falls back to the offline rules).
        """
        self.begin(now, passive=True)
        self.online = False
        self.security_profiles.connection_closed()
        if unanswered is not None and unanswered.kept_offline and (
                unanswered.transactional or unanswered.attempts < KEPT_CALL_ATTEMPTS - 1):
            unanswered.attempts += 0 if unanswered.transactional else 1
            self.queue(unanswered, front=True)
            unanswered = None
        dropped = [call for call in self.outbox if not call.kept_offline]
        self.outbox = deque(call for call in self.outbox if call.kept_offline)
        for call in ([unanswered] if unanswered is not None else []) + dropped:
            self.call_failed(call, now, error_code=None)
        self.next_boot = None

    def reboot(self, now: datetime) -> None:
        """Come back from a reset: boot again; plugs, availability and reservations persist,
        and so do the meter registers unless the meter-reset-on-reboot quirk is on. File
        transfers are lost, except the firmware update that asked for this reboot."""
        self.boot_cause, self.reboot_pending = self.reboot_pending, None
        self.registration, self.next_heartbeat, self.next_boot = None, None, None
        self.outbox = deque(call for call in self.outbox if call.kept_offline)
        self.firmware.on_reboot(self.boot_cause)
        self.uploads.on_reboot()
        for connector in self.connectors:
            connector.authorized = connector.awaiting = None
            connector.finishing = connector.ev_suspended = connector.evse_suspended = False
            connector.reported = None
            if self.has_quirk(Quirk.METER_RESET_ON_REBOOT):
                connector.energy_wh = 0.0
        self.emit(EventKind.INFO, "rebooted")
        self.begin(now)
        self.refresh(now)

    def queue_boot(self, now: datetime) -> None:
        payload = {
            "chargePointVendor": self.vendor,
            "chargePointModel": self.model_name,
            "chargePointSerialNumber": self.cp_id[:25],
            "firmwareVersion": self.firmware_version,
        }
        self.next_boot = None
        self.queue(OutgoingCall("BootNotification", payload), front=True)

    def next_call(self, now: datetime) -> OutgoingCall | None:
        """Take the next CALL to send now, or None (offline, not booted, or waiting to retry)."""
        if not self.online or not self.outbox or self.security_profiles.reconnecting:
            return None
        head = self.outbox[0]
        if head.action != "BootNotification" and not self.booted:
            return None
        if head.not_before is not None and head.not_before > now:
            return None
        return self.outbox.popleft()

    # ---- answers to our calls ------------------------------------------------------------

    def call_result(self, call: OutgoingCall, payload: Payload, now: datetime) -> None:
        """The CSMS answered ``call`` with a CALLRESULT."""
        self.begin(now, passive=True)
        if call.action == "BootNotification":
            self.on_boot_result(payload, now)
        elif call.action == "Authorize":
            self.on_authorize_result(call, IdTagInfo.from_payload(payload.get("idTagInfo")), now)
        elif call.action == "StartTransaction":
            self.on_start_result(call, payload, now)
        elif call.action == "StopTransaction" and "idTagInfo" in payload:
            id_tag = call.payload.get("idTag")
            if isinstance(id_tag, str):
                self.remember(id_tag, IdTagInfo.from_payload(payload["idTagInfo"]))
        elif call.action == "SignCertificate":
            self.on_sign_certificate_result(payload)
        self.refresh(now)

    def call_failed(self, call: OutgoingCall, now: datetime, *, error_code: str | None) -> None:
        """``call`` got a CALLERROR (``error_code``) or no answer in time (None).

        Transaction messages are retried TransactionMessageAttempts times, waiting
        TransactionMessageRetryInterval × attempt between tries (S 3.6). Other calls are
        given up.
        """
        self.begin(now, passive=True)
        if call.transactional:
            self.retry_transaction_message(call, now)
        elif call.action == "Authorize":
            self.on_authorize_failed(call, now, error_code)
        elif call.action == "BootNotification" and error_code is not None:
            self.next_boot = now + timedelta(seconds=BOOT_RETRY_SECONDS)
        elif call.action == "StatusNotification" and call.connector_id is not None:
            self.connectors[call.connector_id].reported = None
        else:
            self.security.on_call_failed(call, error_code)
        self.refresh(now)

    def retry_transaction_message(self, call: OutgoingCall, now: datetime) -> None:
        call.attempts += 1
        if call.attempts >= max(1, self.config.get_int("TransactionMessageAttempts")):
            self.emit(EventKind.ERROR, f"gave up {call.action} after {call.attempts} attempts",
                      action=call.action, connector=call.connector_id)
            return
        delay = self.config.get_int("TransactionMessageRetryInterval") * call.attempts
        call.not_before = now + timedelta(seconds=delay)
        self.queue(call, front=True)

    def on_boot_result(self, payload: Payload, now: datetime) -> None:
        """S 4.2: Accepted → adopt the interval as HeartbeatInterval and report every connector."""
        status = payload.get("status")
        interval = payload.get("interval")
        interval = interval if isinstance(interval, int) and interval >= 0 else 0
        first = not self.booted
        self.registration = str(status)
        self.emit(EventKind.BOOT, f"boot {status} (interval {interval} s)", status=str(status))
        if status == RegistrationStatus.accepted:
            if interval > 0:
                self.config.set_factory("HeartbeatInterval", str(interval))
            self.schedule_heartbeat(now)
            if first:
                self.report_every_connector(now)
                self.firmware.on_booted(now)
                self.security.on_booted(self.boot_cause, self.boot_cause == "Startup", now)
        else:
            self.next_boot = now + timedelta(seconds=interval or BOOT_RETRY_SECONDS)

    def report_every_connector(self, now: datetime) -> None:
        """After a boot: a StatusNotification for every connector, connector 0 first (S 4.2)."""
        for connector in self.connectors:
            connector.status = derive_status(connector)
            self.emit(EventKind.STATUS, self.status_text(connector),
                      connector=connector.connector_id, status=str(connector.status))
            self.report_status(connector, now)

    def schedule_heartbeat(self, now: datetime) -> None:
        interval = self.config.get_int("HeartbeatInterval")
        self.next_heartbeat = now + timedelta(seconds=interval) if interval > 0 else None

    def on_start_result(self, call: OutgoingCall, payload: Payload, now: datetime) -> None:
        """S 4.8: learn the transactionId; if the idTag is not Accepted, stop (reason
        DeAuthorized) when StopTransactionOnInvalidId is true, else suspend (SuspendedEVSE)."""
        tx = call.transaction
        if tx is None:
            return
        tx_id = payload.get("transactionId")
        tx.transaction_id = tx_id if isinstance(tx_id, int) else -1
        info = IdTagInfo.from_payload(payload.get("idTagInfo"))
        self.remember(tx.id_tag, info)
        connector = self.connectors[tx.connector_id]
        self.emit(EventKind.TRANSACTION,
                  f"connector {tx.connector_id}: transaction {tx.transaction_id} {info.status}",
                  connector=tx.connector_id, transaction_id=tx.transaction_id, status=info.status)
        if info.status == "Accepted" or connector.transaction is not tx:
            return
        if self.config.get_bool("StopTransactionOnInvalidId"):
            self.stop_transaction(connector, Reason.de_authorized, now)
        else:
            connector.evse_suspended = True

    def remember(self, id_tag: str, info: IdTagInfo) -> None:
        if self.config.get_bool("AuthorizationCacheEnabled"):
            self.auth.remember(id_tag, info)

    # ---- certificates and file transfers (SEC) -------------------------------------------

    def request_certificate(self, now: datetime) -> None:
        """Make a new key pair and CSR and send SignCertificate (SEC A02/A03: subject CN = the
        charger id, O = CpoName); the CSMS answers later with CertificateSigned."""
        csr = self.certs.new_request(self.cp_id, self.config.get("CpoName"))
        self.emit(EventKind.CERTIFICATE, f"certificate requested (CN={self.cp_id}, "
                  f"O={self.config.get('CpoName')})", status="requested")
        self.queue(OutgoingCall("SignCertificate", {"csr": csr}))

    def on_sign_certificate_result(self, payload: Payload) -> None:
        if payload.get("status") != "Accepted":
            self.certs.pending_key = None
            self.emit(EventKind.CERTIFICATE, f"certificate request {payload.get('status')}",
                      status="rejected")

    def tick_files(self, now: datetime) -> None:
        """Start the file transfers that are due (firmware, diagnostics, logs)."""
        self.firmware.tick(now)
        self.uploads.tick(now)

    def file_deadlines(self) -> list[datetime]:
        return [d for d in (self.firmware.deadline(), self.uploads.deadline()) if d is not None]

    # ---- hooks the model fills in --------------------------------------------------------

    def on_authorize_result(self, call: OutgoingCall, info: IdTagInfo, now: datetime) -> None:
        """An Authorize was answered."""

    def on_authorize_failed(
        self, call: OutgoingCall, now: datetime, error_code: str | None
    ) -> None:
        """An Authorize got a CALLERROR or no answer."""

    def expire_reservations(self, now: datetime) -> None:
        """End the reservations whose expiryDate has passed."""

    # ---- transactions --------------------------------------------------------------------

    def start_transaction(
        self, connector: Connector, id_tag: str, now: datetime, *,
        reservation_id: int | None = None, parent_id_tag: str | None = None,
    ) -> Transaction:
        """Begin charging and queue StartTransaction (S 4.8), with reservationId if it ends one."""
        tx = Transaction(connector.connector_id, id_tag, connector.meter, now,
                         reservation_id=reservation_id, parent_id_tag=parent_id_tag)
        payload: Payload = {"connectorId": connector.connector_id, "idTag": id_tag,
                            "meterStart": connector.meter, "timestamp": self.stamp(now)}
        if reservation_id is not None and not self.has_quirk(Quirk.NO_RESERVATION_ID):
            payload["reservationId"] = reservation_id
        connector.transaction, connector.authorized, connector.finishing = tx, None, False
        interval = self.config.get_int("MeterValueSampleInterval")
        tx.next_sample = now + timedelta(seconds=interval) if interval > 0 else None
        self.queue(OutgoingCall("StartTransaction", payload, connector.connector_id, tx))
        suffix = f", reservation {reservation_id}" if reservation_id is not None else ""
        self.emit(EventKind.TRANSACTION,
                  f"connector {connector.connector_id}: transaction started for {id_tag} "
                  f"(meter {connector.meter} Wh{suffix})",
                  connector=connector.connector_id, reservation_id=reservation_id,
                  status="started")
        return tx

    def stop_transaction(
        self, connector: Connector, reason: str, now: datetime, id_tag: str | None = None
    ) -> None:
        """End the connector's transaction and queue StopTransaction with the final meter (S 4.8).

        A ChangeAvailability that was Scheduled during the transaction takes effect now (S 5.2).
        """
        tx = connector.transaction
        if tx is None:
            return
        connector.transaction = None
        connector.finishing = connector.plugged
        connector.ev_suspended = connector.evse_suspended = False
        payload: Payload = {"meterStop": connector.meter, "timestamp": self.stamp(now),
                            "reason": reason, "transactionData": self.transaction_data(tx, now)}
        if id_tag is not None:
            payload["idTag"] = id_tag
        self.queue(OutgoingCall("StopTransaction", payload, connector.connector_id, tx))
        if connector.pending_operative is not None:
            connector.operative, connector.pending_operative = connector.pending_operative, None
        self.emit(EventKind.TRANSACTION,
                  f"connector {connector.connector_id}: transaction {tx_name(tx)} stopped "
                  f"({reason}, {connector.meter - tx.meter_start} Wh)",
                  connector=connector.connector_id, transaction_id=tx.transaction_id,
                  status=reason)

    def transaction_data(self, tx: Transaction, now: datetime) -> list[Payload]:
        """The begin and end samples for StopTransaction.transactionData (S 6.49)."""
        connector = self.connectors[tx.connector_id]
        begin = {"timestamp": self.stamp(tx.started), "sampledValue": [{
            "value": str(tx.meter_start), "context": "Transaction.Begin",
            "measurand": "Energy.Active.Import.Register", "location": "Outlet", "unit": "Wh"}]}
        measurands = self.config.get_list("StopTxnSampledData") or [
            "Energy.Active.Import.Register"]
        return [begin, sample(connector, measurands, now, "Transaction.End",
                              whole_seconds=self.whole_seconds)]

    def queue_meter_values(self, connector: Connector, now: datetime, context: str) -> None:
        """Queue a MeterValues for ``connector`` (S 4.7), tied to its transaction if any."""
        measurands = self.config.get_list("MeterValuesSampledData") or [
            "Energy.Active.Import.Register"]
        payload: Payload = {"connectorId": connector.connector_id,
                            "meterValue": [sample(connector, measurands, now, context,
                                                  whole_seconds=self.whole_seconds)]}
        self.queue(OutgoingCall("MeterValues", payload, connector.connector_id,
                                connector.transaction))


def tx_name(tx: Transaction) -> str:
    return str(tx.transaction_id) if tx.transaction_id is not None else "(pending)"


def _check_size(connectors: int, power_kw: float) -> None:
    if not 1 <= connectors <= 64:
        raise ValueError("a charger has 1 to 64 connectors")
    if power_kw < 0:
        raise ValueError("power must not be negative")


def _check_profiles(profiles: str | Iterable[str]) -> str:
    items = profiles.split(",") if isinstance(profiles, str) else list(profiles)
    names = [item.strip() for item in items if item.strip()]
    unknown = [name for name in names if name not in PROFILES]
    if unknown or "Core" not in names:
        raise ValueError(f"profiles must include Core and come from {', '.join(PROFILES)}")
    return ",".join(names)
