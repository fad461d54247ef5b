"""What the charger answers to each CALL from the central system (S 5, J 4.2).

:func:`answer` takes a CALL's action and (schema-valid) payload and returns an
:class:`~simulators.core.Answer`; side effects (status changes, triggered messages) land in the
model's outbox and are sent after the answer (S 5.17: the TriggerMessage answer comes first).
Actions of a profile the charger does not support (or of the security extension, when it is off)
get CALLERROR NotSupported; actions that are not OCPP 1.6 at all get NotImplemented (J 4.2.3).
The security extension's handlers are in :mod:`simulators.handlers_security` (certificates),
:mod:`simulators.handlers_files` (with firmware and diagnostics) and :mod:`simulators.triggers`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from ocpp.v16.enums import (
    AvailabilityType,
    CancelReservationStatus,
    ClearCacheStatus,
    ConfigurationStatus,
    DataTransferStatus,
    RemoteStartStopStatus,
    ReservationStatus,
    ResetStatus,
    UpdateStatus,
)

from simulators import handlers_files, handlers_security, triggers
from simulators.calls import Answer, Quirk
from simulators.events import EventKind
from simulators.model import ChargePointModel
from simulators.protocol import Payload, parse_time

Handler = Callable[[ChargePointModel, Payload, datetime], Answer]


def answer(model: ChargePointModel, action: str, payload: Payload, now: datetime) -> Answer:
    """The charger's answer to the CSMS's ``action`` CALL."""
    handler = _HANDLERS.get(action)
    if handler is None:
        return Answer(error_code="NotImplemented", description=f"{action} is unknown to csms-sim")
    if action in _SECURITY_EXTENSION and not model.security.extension:
        return Answer(error_code="NotSupported",
                      description=f"{action} needs the security extension")
    profile = _PROFILE_OF.get(action)
    if profile is not None and profile not in model.profiles and action not in _SOFT_PROFILE:
        return Answer(error_code="NotSupported",
                      description=f"{action} needs the {profile} feature profile")
    model.begin(now)  # a CSMS call is "something happening" (even under lazy-expiry)
    result = handler(model, payload, now)
    model.refresh(now)
    return result


def _ok(**payload: object) -> Answer:
    return Answer(payload=dict(payload))


def _reserve_now(model: ChargePointModel, payload: Payload, now: datetime) -> Answer:
    """S 5.13. Quirks: reserve-now-callerror, reserved-before-answer, authorize-after-reserve,
    authorize-before-answer (the answer waits for the Authorize's result, then — with
    reserved-before-answer too — for the StatusNotification Reserved's)."""
    if model.has_quirk(Quirk.RESERVE_NOW_CALLERROR):
        model.emit(EventKind.REFUSED, "ReserveNow answered with a CALLERROR (quirk)")
        return Answer(error_code="InternalError", description="reservation subsystem failure")
    try:
        expiry = parse_time(payload["expiryDate"])
    except ValueError:
        return Answer(error_code="PropertyConstraintViolation", description="bad expiryDate")
    status = model.reserve(payload["connectorId"], payload["idTag"], expiry,
                           payload["reservationId"], payload.get("parentIdTag"), now)
    accepted = status is ReservationStatus.accepted
    early = accepted and model.has_quirk(Quirk.RESERVED_BEFORE_ANSWER)
    authorize = accepted and model.has_quirk(Quirk.AUTHORIZE_BEFORE_ANSWER) and model.online
    return Answer(payload={"status": status}, calls_first=int(early) + int(authorize),
                  await_results=authorize)


def _cancel_reservation(model: ChargePointModel, payload: Payload, now: datetime) -> Answer:
    """S 5.1: Accepted when the charger had that reservationId, else Rejected."""
    cancelled = model.cancel_reservation(payload["reservationId"], now)
    return _ok(status=CancelReservationStatus.accepted if cancelled
               else CancelReservationStatus.rejected)


def _remote_start(model: ChargePointModel, payload: Payload, now: datetime) -> Answer:
    """S 5.11 (a chargingProfile, if any, is ignored)."""
    accepted = model.remote_start(payload.get("connectorId"), payload["idTag"], now)
    return _ok(status=RemoteStartStopStatus.accepted if accepted
               else RemoteStartStopStatus.rejected)


def _remote_stop(model: ChargePointModel, payload: Payload, now: datetime) -> Answer:
    """S 5.12."""
    stopped = model.remote_stop(payload["transactionId"], now)
    return _ok(status=RemoteStartStopStatus.accepted if stopped
               else RemoteStartStopStatus.rejected)


def _change_availability(model: ChargePointModel, payload: Payload, now: datetime) -> Answer:
    """S 5.2: Accepted, Scheduled (a transaction runs) or Rejected (no such connector)."""
    operative = payload["type"] == AvailabilityType.operative
    return _ok(status=model.change_availability(payload["connectorId"], operative, now))


def _get_configuration(model: ChargePointModel, payload: Payload, now: datetime) -> Answer:
    """S 5.8: known keys with their values (secrets without), unknown names listed apart."""
    entries, unknown = model.config.read(payload.get("key"))
    result: Payload = {"configurationKey": entries}
    if unknown:
        result["unknownKey"] = unknown
    return Answer(payload=result)


def _change_configuration(model: ChargePointModel, payload: Payload, now: datetime) -> Answer:
    """S 5.3; a new HeartbeatInterval or MeterValueSampleInterval applies at once; a new
    AuthorizationKey or SecurityProfile on the next connection (SEC)."""
    key, value = payload["key"], payload["value"]
    name = key.lower()
    if name == "securityprofile":  # SEC A05: only up, only when usable; then reconnect
        status = model.security_profiles.change(value, now)
    else:
        status = model.config.change(key, value)
    if status is ConfigurationStatus.accepted:
        if name == "heartbeatinterval":
            model.schedule_heartbeat(now)
        elif name == "metervaluesampleinterval":
            _reschedule_samples(model, now)
        elif name == "authorizationkey":  # SEC: used from the next connection on
            model.security.report("ReconfigurationOfSecurityParameters", now,
                                  "AuthorizationKey changed")
        shown = "(hidden)" if name == "authorizationkey" else value
        model.emit(EventKind.CONFIG, f"configuration {key} = {shown}")
    return _ok(status=status)


def _reschedule_samples(model: ChargePointModel, now: datetime) -> None:
    interval = model.config.get_int("MeterValueSampleInterval")
    for connector in model.connectors:
        if connector.transaction is not None:
            connector.transaction.next_sample = (
                now + timedelta(seconds=interval) if interval > 0 else None)


def _reset(model: ChargePointModel, payload: Payload, now: datetime) -> Answer:
    """S 5.14: Accepted; transactions stop, then the charger reboots and boots again."""
    model.reset(payload["type"], now)
    return _ok(status=ResetStatus.accepted)


def _unlock_connector(model: ChargePointModel, payload: Payload, now: datetime) -> Answer:
    """S 5.18."""
    return _ok(status=model.unlock(payload["connectorId"], now))


def _clear_cache(model: ChargePointModel, payload: Payload, now: datetime) -> Answer:
    """S 5.4."""
    model.auth.clear_cache()
    model.emit(EventKind.INFO, "authorization cache cleared")
    return _ok(status=ClearCacheStatus.accepted)


def _send_local_list(model: ChargePointModel, payload: Payload, now: datetime) -> Answer:
    """S 5.15: Accepted / Failed (too long) / VersionMismatch / NotSupported (no profile)."""
    if "LocalAuthListManagement" not in model.profiles:
        return _ok(status=UpdateStatus.not_supported)
    entries = payload.get("localAuthorizationList") or []
    if len(entries) > model.config.get_int("SendLocalListMaxLength"):
        return _ok(status=UpdateStatus.failed)
    status = model.auth.update(payload["listVersion"], payload["updateType"], entries,
                               model.config.get_int("LocalAuthListMaxLength"))
    model.emit(EventKind.INFO, f"local list version {payload['listVersion']}: {status} "
               f"({len(model.auth)} idTags)")
    return _ok(status=status)


def _get_local_list_version(model: ChargePointModel, payload: Payload, now: datetime) -> Answer:
    """S 5.10: the version, 0 for an empty list, -1 without the profile."""
    if "LocalAuthListManagement" not in model.profiles:
        return _ok(listVersion=-1)
    return _ok(listVersion=model.auth.reported_version)


def _data_transfer(model: ChargePointModel, payload: Payload, now: datetime) -> Answer:
    """S 5.6: our own vendorId gets its data echoed; any other is UnknownVendorId."""
    if payload["vendorId"] != model.vendor:
        return _ok(status=DataTransferStatus.unknown_vendor_id)
    result: Payload = {"status": DataTransferStatus.accepted}
    if "data" in payload:
        result["data"] = payload["data"]
    return Answer(payload=result)


def _smart_charging(status: str) -> Handler:
    def handle(model: ChargePointModel, payload: Payload, now: datetime) -> Answer:
        return _ok(status=status)

    return handle


_HANDLERS: dict[str, Handler] = {
    "ReserveNow": _reserve_now,
    "CancelReservation": _cancel_reservation,
    "RemoteStartTransaction": _remote_start,
    "RemoteStopTransaction": _remote_stop,
    "ChangeAvailability": _change_availability,
    "GetConfiguration": _get_configuration,
    "ChangeConfiguration": _change_configuration,
    "Reset": _reset,
    "UnlockConnector": _unlock_connector,
    "ClearCache": _clear_cache,
    "SendLocalList": _send_local_list,
    "GetLocalListVersion": _get_local_list_version,
    "DataTransfer": _data_transfer,
    # This charger has no smart charging: it says so in each answer's own terms (S 5.16, 5.5).
    "SetChargingProfile": _smart_charging("NotSupported"),
    "ClearChargingProfile": _smart_charging("Unknown"),
    "GetCompositeSchedule": _smart_charging("Rejected"),
    **triggers.HANDLERS,
    **handlers_files.HANDLERS,
    **handlers_security.HANDLERS,
}

_PROFILE_OF = {
    "ReserveNow": "Reservation",
    "CancelReservation": "Reservation",
    "TriggerMessage": "RemoteTrigger",
    "SendLocalList": "LocalAuthListManagement",
    "GetLocalListVersion": "LocalAuthListManagement",
    "GetDiagnostics": "FirmwareManagement",
    "UpdateFirmware": "FirmwareManagement",
    "SetChargingProfile": "SmartCharging",
    "ClearChargingProfile": "SmartCharging",
    "GetCompositeSchedule": "SmartCharging",
}
#: Without their profile these still answer, in their own terms (Rejected, NotSupported, -1).
_SOFT_PROFILE = frozenset({"ReserveNow", "CancelReservation", "SendLocalList",
                           "GetLocalListVersion"})
#: The security extension's CALLs (SEC), NotSupported by a charger without it.
_SECURITY_EXTENSION = frozenset({
    "CertificateSigned", "DeleteCertificate", "ExtendedTriggerMessage",
    "GetInstalledCertificateIds", "GetLog", "InstallCertificate", "SignedUpdateFirmware",
})
