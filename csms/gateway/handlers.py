"""Handlers for every action a 1.6 charge point sends (S 4): translate, delegate, answer.

Each handler gets the charger's id and a payload that already passed its JSON schema, and
returns the answer payload. Rules live in :mod:`csms.domain`, storage in :mod:`csms.store`,
orchestration in :mod:`csms.services`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from csms.clock import Clock
from csms.domain.authorization import IdTagInfo
from csms.domain.charge_points import MAX_CONNECTORS
from csms.domain.meter_values import flatten
from csms.domain.timestamps import TimestampError, format_timestamp, parse_timestamp
from csms.gateway.frames import ErrorCode
from csms.gateway.session import CallRefused, Handler, Payload
from csms.services import files, security
from csms.services.security import CertificateSigning
from csms.services.transactions import StartRequest, StopRequest, Transactions
from csms.services.verification import IdTagVerifier
from csms.store import charge_points, events
from csms.store.security import ReportKind, SecurityEvent, StatusReport, record_status_report
from csms.workers.live_state import ConnectorStatus, LiveStateWriter

ConnectorStatusChanged = Callable[[str, int, str], Awaitable[object]]
#: meterStart/meterStop are integers (S 6.45, 6.49); a register holds int64 Wh at most.
_REGISTER_RANGE = range(-(2**63), 2**63)
_REGISTRATION = {"accepted": "Accepted", "pending": "Pending", "rejected": "Rejected"}
#: PostgreSQL text holds no NUL; a security event is evidence, kept rather than refused.
_NUL_STAND_IN = "\N{REPLACEMENT CHARACTER}"


def id_tag_info(info: IdTagInfo) -> dict[str, Any]:
    """``idTagInfo`` as 1.6 writes it (S 7.27); optional fields left out when unknown."""
    result: dict[str, Any] = {"status": str(info.status)}
    if info.expiry_date is not None:
        result["expiryDate"] = format_timestamp(info.expiry_date)
    if info.parent_id_tag is not None:
        result["parentIdTag"] = info.parent_id_tag
    return result


def _timestamp(text: str) -> Any:
    try:
        return parse_timestamp(text)
    except TimestampError as error:
        raise CallRefused(ErrorCode.PROPERTY_CONSTRAINT_VIOLATION, str(error)) from None


def _register(payload: Payload, name: str) -> int:
    value = payload[name]
    if value not in _REGISTER_RANGE:
        raise CallRefused(
            ErrorCode.PROPERTY_CONSTRAINT_VIOLATION, f"{name} {value} is beyond any energy meter"
        )
    return int(value)


def _connector(payload: Payload, *, allow_zero: bool) -> int:
    connector_id = int(payload["connectorId"])
    if not (0 if allow_zero else 1) <= connector_id <= MAX_CONNECTORS:
        raise CallRefused(
            ErrorCode.PROPERTY_CONSTRAINT_VIOLATION, f"connectorId {connector_id} out of range"
        )
    return connector_id


def _storable(text: str) -> str:
    return text.replace("\x00", _NUL_STAND_IN)


class ChargePointHandlers:
    """The handler table of the gateway, bound to the database and the clock."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        live: LiveStateWriter,
        clock: Clock,
        heartbeat_interval: int,
        *,
        verifier: IdTagVerifier,
        transactions: Transactions,
        on_connector_status: ConnectorStatusChanged,
        certificates: CertificateSigning,
    ) -> None:
        self._pool = pool
        self._live = live
        self._clock = clock
        self._heartbeat_interval = heartbeat_interval
        self._verifier = verifier
        self._transactions = transactions
        self._on_connector_status = on_connector_status
        self._certificates = certificates

    def table(self) -> dict[str, Handler]:
        return {
            "Authorize": self.authorize,
            "BootNotification": self.boot_notification,
            "DataTransfer": self.data_transfer,
            "DiagnosticsStatusNotification": self.diagnostics_status_notification,
            "FirmwareStatusNotification": self.firmware_status_notification,
            "Heartbeat": self.heartbeat,
            "MeterValues": self.meter_values,
            "StartTransaction": self.start_transaction,
            "StatusNotification": self.status_notification,
            "StopTransaction": self.stop_transaction,
            # The security extension ("Improved security for OCPP 1.6-J").
            "LogStatusNotification": self.log_status_notification,
            "SecurityEventNotification": self.security_event_notification,
            "SignCertificate": self.sign_certificate,
            "SignedFirmwareStatusNotification": self.signed_firmware_status_notification,
        }

    async def boot_notification(self, charge_point_id: str, payload: Payload) -> Payload:
        # S 4.2; J 3: currentTime in UTC with Z.
        now = self._clock()
        status = await charge_points.record_boot(self._pool, charge_point_id, payload, now)
        return {
            "status": _REGISTRATION[status],
            "currentTime": format_timestamp(now),
            "interval": self._heartbeat_interval,
        }

    async def heartbeat(self, charge_point_id: str, payload: Payload) -> Payload:
        now = self._clock()
        self._live.seen(charge_point_id, now)
        return {"currentTime": format_timestamp(now)}

    async def status_notification(self, charge_point_id: str, payload: Payload) -> Payload:
        # S 4.9. Ordered by arrival, not by the charger's timestamp: clocks in the field drift.
        now = self._clock()
        status = ConnectorStatus(
            status=payload["status"],
            error_code=payload["errorCode"],
            info=payload.get("info"),
            vendor_error_code=payload.get("vendorErrorCode"),
            at=now,
        )
        connector_id = _connector(payload, allow_zero=True)
        self._live.connector_status(charge_point_id, connector_id, status)
        self._live.seen(charge_point_id, now)
        # S 5.13: Faulted/Unavailable/Available can each mean the charger dropped a reservation.
        await self._on_connector_status(charge_point_id, connector_id, status.status)
        return {}

    async def authorize(self, charge_point_id: str, payload: Payload) -> Payload:
        info = await self._verifier.authorize(charge_point_id, payload["idTag"])
        return {"idTagInfo": id_tag_info(info)}

    async def start_transaction(self, charge_point_id: str, payload: Payload) -> Payload:
        request = StartRequest(
            charge_point_id=charge_point_id,
            connector_id=_connector(payload, allow_zero=False),
            id_tag=payload["idTag"],
            meter_start=_register(payload, "meterStart"),
            started_at=_timestamp(payload["timestamp"]),
            # S 6.45; -1 (used by some chargers for "none") matches no booking.
            reservation_id=payload.get("reservationId"),
        )
        answer = await self._transactions.start(request)
        return {
            "transactionId": answer.transaction_id,
            "idTagInfo": id_tag_info(answer.id_tag_info),
        }

    async def stop_transaction(self, charge_point_id: str, payload: Payload) -> Payload:
        try:
            samples = flatten(payload.get("transactionData", []))
        except TimestampError as error:
            raise CallRefused(ErrorCode.PROPERTY_CONSTRAINT_VIOLATION, str(error)) from None
        request = StopRequest(
            charge_point_id=charge_point_id,
            transaction_id=payload["transactionId"],
            meter_stop=_register(payload, "meterStop"),
            stopped_at=_timestamp(payload["timestamp"]),
            reason=payload.get("reason"),
            id_tag=payload.get("idTag"),
            samples=samples,
        )
        info = await self._transactions.stop(request)
        return {} if info is None else {"idTagInfo": id_tag_info(info)}

    async def meter_values(self, charge_point_id: str, payload: Payload) -> Payload:
        try:
            samples = flatten(payload["meterValue"])
        except TimestampError as error:
            raise CallRefused(ErrorCode.PROPERTY_CONSTRAINT_VIOLATION, str(error)) from None
        await self._transactions.meter_values(
            charge_point_id,
            _connector(payload, allow_zero=True),
            payload.get("transactionId"),
            samples,
        )
        self._live.seen(charge_point_id, self._clock())
        return {}

    async def data_transfer(self, charge_point_id: str, payload: Payload) -> Payload:
        # S 4.3: kept for support; csms implements no vendor extension, so it says so.
        await events.record(self._pool, charge_point_id, "DataTransfer", payload)
        return {"status": "UnknownVendorId"}

    async def diagnostics_status_notification(
        self, charge_point_id: str, payload: Payload
    ) -> Payload:
        status, at = payload["status"], self._clock()
        await events.record_diagnostics_status(self._pool, charge_point_id, status, at)
        # S 4.4, 6.17: the notification names no request; the charger's latest one takes it.
        await files.diagnostics_status_reported(self._pool, charge_point_id, status, at)
        return {}

    async def firmware_status_notification(self, charge_point_id: str, payload: Payload) -> Payload:
        status, at = payload["status"], self._clock()
        await events.record_firmware_status(self._pool, charge_point_id, status, at)
        # S 4.5, 6.19: in 1.6 the notification carries no request id — it reports on the latest
        # UpdateFirmware the charger was sent, so that update takes the status.
        await files.firmware_status_reported(self._pool, charge_point_id, status, at)
        return {}

    async def security_event_notification(self, charge_point_id: str, payload: Payload) -> Payload:
        # White paper A04: sent at boot by many chargers, and again until answered; kept, and
        # a critical one alerts operators (warning log, live feed).
        event = SecurityEvent(
            type=_storable(payload["type"]),
            tech_info=None if "techInfo" not in payload else _storable(payload["techInfo"]),
            occurred_at=_timestamp(payload["timestamp"]),
            received_at=self._clock(),
            critical=security.is_critical(payload["type"]),
        )
        await security.record_security_event(self._pool, charge_point_id, event)
        return {}

    async def log_status_notification(self, charge_point_id: str, payload: Payload) -> Payload:
        # White paper N01: progress of the upload a GetLog asked for; the GetLog it names
        # (requestId) takes the status.
        await self._status_report(charge_point_id, "log", payload)
        await files.log_status_reported(
            self._pool, charge_point_id, payload.get("requestId"), payload["status"], self._clock()
        )
        return {}

    async def signed_firmware_status_notification(
        self, charge_point_id: str, payload: Payload
    ) -> Payload:
        # White paper L01: progress of a SignedUpdateFirmware.
        await self._status_report(charge_point_id, "signed_firmware", payload)
        return {}

    async def _status_report(
        self, charge_point_id: str, kind: ReportKind, payload: Payload
    ) -> None:
        report = StatusReport(kind, payload["status"], payload.get("requestId"), self._clock())
        await record_status_report(self._pool, charge_point_id, report, payload)

    async def sign_certificate(self, charge_point_id: str, payload: Payload) -> Payload:
        # White paper A02/A03: the answer says whether the CSR will be processed; the
        # certificate follows as CertificateSigned.req once the answer is out.
        accepted = self._certificates.request(charge_point_id, payload["csr"])
        return {"status": "Accepted" if accepted else "Rejected"}
