"""The charger's answers to the file-transfer CALLs: UpdateFirmware (S 5.19), GetDiagnostics
(S 5.9), and the security extension's SignedUpdateFirmware and GetLog (SEC use cases L01 and
N01).

The jobs themselves live in :mod:`simulators.firmware` and :mod:`simulators.uploads`; a date
that does not parse is answered with CALLERROR PropertyConstraintViolation (J 4.2.3).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from simulators.calls import Answer
from simulators.model import ChargePointModel
from simulators.protocol import Payload

_BAD_DATE = Answer(error_code="PropertyConstraintViolation", description="bad date-time")


def _guarded(step: Callable[[], Answer]) -> Answer:
    try:
        return step()
    except ValueError:
        return _BAD_DATE


def update_firmware(model: ChargePointModel, payload: Payload, now: datetime) -> Answer:
    """S 5.19: an empty answer; the download starts at retrieveDate."""
    def step() -> Answer:
        model.firmware.update(payload, now)
        return Answer(payload={})

    return _guarded(step)


def signed_update_firmware(model: ChargePointModel, payload: Payload, now: datetime) -> Answer:
    """SEC L01: Accepted / AcceptedCanceled / InvalidCertificate / Rejected."""
    return _guarded(lambda: Answer(payload={
        "status": model.firmware.signed_update(payload, now)}))


def get_diagnostics(model: ChargePointModel, payload: Payload, now: datetime) -> Answer:
    """S 5.9: the fileName; the upload follows (DiagnosticsStatusNotification)."""
    return _guarded(lambda: Answer(payload={
        "fileName": model.uploads.diagnostics(payload, now)}))


def get_log(model: ChargePointModel, payload: Payload, now: datetime) -> Answer:
    """SEC N01: Accepted (or AcceptedCanceled) with the filename; LogStatusNotification follows."""
    def step() -> Answer:
        status, name = model.uploads.log(payload, now)
        return Answer(payload={"status": status, "filename": name})

    return _guarded(step)


HANDLERS = {
    "UpdateFirmware": update_firmware,
    "SignedUpdateFirmware": signed_update_firmware,
    "GetDiagnostics": get_diagnostics,
    "GetLog": get_log,
}
