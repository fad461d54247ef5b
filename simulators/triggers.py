"""TriggerMessage (S 5.17) and the security extension's ExtendedTriggerMessage (SEC).

Accepted, then the requested message follows the answer (the session sends answers before
CALLs). A connectorId the charger does not have is Rejected. The file-transfer statuses report
what is going on, Idle when nothing is (S 5.17, SEC): TriggerMessage FirmwareStatusNotification
and DiagnosticsStatusNotification; ExtendedTriggerMessage FirmwareStatusNotification (sent as
SignedFirmwareStatusNotification), LogStatusNotification, and SignChargePointCertificate (a new
key pair and CSR: SignCertificate).
"""

from __future__ import annotations

from datetime import datetime

from simulators.calls import Answer, OutgoingCall
from simulators.model import ChargePointModel
from simulators.protocol import Payload
from simulators.uploads import DIAGNOSTICS, LOG


def _queue_common(model: ChargePointModel, requested: str, connector_id: int | None,
                  now: datetime) -> bool:
    """Queue a message both triggers know; False for one they do not share."""
    targets = (model.connectors if connector_id is None
               else model.connectors[connector_id:connector_id + 1])
    if requested == "BootNotification":
        model.queue_boot(now)
    elif requested == "Heartbeat":
        model.queue(OutgoingCall("Heartbeat", {}))
    elif requested == "StatusNotification":
        for connector in targets:
            model.report_status(connector, now)
    elif requested == "MeterValues":
        for connector in targets:
            if connector.connector_id > 0:
                model.queue_meter_values(connector, now, "Trigger")
    else:
        return False
    return True


def _bad_connector(model: ChargePointModel, connector_id: object) -> bool:
    return isinstance(connector_id, int) and not 0 <= connector_id <= model.count


def trigger_message(model: ChargePointModel, payload: Payload, now: datetime) -> Answer:
    """S 5.17: Accepted (the message follows) or Rejected (no such connector)."""
    requested, connector_id = payload["requestedMessage"], payload.get("connectorId")
    if _bad_connector(model, connector_id):
        return Answer(payload={"status": "Rejected"})
    if not _queue_common(model, requested, connector_id, now):
        if requested == "FirmwareStatusNotification":
            action, body = model.firmware.notification(model.firmware.job, signed=False)
        else:  # DiagnosticsStatusNotification
            action, body = model.uploads.notification(DIAGNOSTICS)
        model.queue(OutgoingCall(action, body))
    return Answer(payload={"status": "Accepted"})


def extended_trigger_message(model: ChargePointModel, payload: Payload, now: datetime
                             ) -> Answer:
    """SEC ExtendedTriggerMessage: Accepted / Rejected (no such connector)."""
    requested, connector_id = payload["requestedMessage"], payload.get("connectorId")
    if _bad_connector(model, connector_id):
        return Answer(payload={"status": "Rejected"})
    if _queue_common(model, requested, connector_id, now):
        return Answer(payload={"status": "Accepted"})
    if requested == "SignChargePointCertificate":
        model.request_certificate(now)
        return Answer(payload={"status": "Accepted"})
    if requested == "FirmwareStatusNotification":
        action, body = model.firmware.notification(model.firmware.job, signed=True)
    else:  # LogStatusNotification
        action, body = model.uploads.notification(LOG)
    model.queue(OutgoingCall(action, body))
    return Answer(payload={"status": "Accepted"})


HANDLERS = {
    "TriggerMessage": trigger_message,
    "ExtendedTriggerMessage": extended_trigger_message,
}
