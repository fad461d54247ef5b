"""One connector's state, and the status it is in (S 4.9).

Status is never set by hand: :func:`derive_status` computes it from the facts (fault, plug,
transaction, availability, reservation, an authorized driver waiting to plug in), and the model
sends a StatusNotification whenever the result differs from what it last reported. That keeps
every path through the S 4.9 transition table consistent. Connector 0 stands for the whole
charge point: Available, Unavailable or Faulted only.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

from ocpp.v16.enums import ChargePointErrorCode, ChargePointStatus

from simulators.protocol import Payload, format_time

#: Nominal phase voltage for Voltage / Current samples (three-phase, 230 V).
PHASE_VOLTAGE = 230.0
PHASES = 3


@dataclasses.dataclass(slots=True)
class Reservation:
    """A ReserveNow the charger accepted (S 5.13)."""

    reservation_id: int
    connector_id: int
    id_tag: str
    expiry: datetime
    parent_id_tag: str | None = None


@dataclasses.dataclass(slots=True, eq=False)
class Transaction:
    """A transaction; ``transaction_id`` is None until StartTransaction is answered."""

    connector_id: int
    id_tag: str
    meter_start: int
    started: datetime
    reservation_id: int | None = None
    transaction_id: int | None = None
    parent_id_tag: str | None = None
    next_sample: datetime | None = None


@dataclasses.dataclass(slots=True)
class Authorized:
    """A driver whose idTag was accepted and who has until ``deadline`` to plug in."""

    id_tag: str
    deadline: datetime
    parent_id_tag: str | None = None
    reservation_id: int | None = None


@dataclasses.dataclass(slots=True)
class Connector:
    """The facts about one connector; the status follows from them."""

    connector_id: int
    power_w: float = 0.0
    energy_wh: float = 0.0
    metered_at: datetime | None = None
    plugged: bool = False
    error_code: str | None = None  # set while Faulted
    operative: bool = True
    pending_operative: bool | None = None  # ChangeAvailability Scheduled (S 5.2)
    ev_suspended: bool = False
    evse_suspended: bool = False
    finishing: bool = False
    transaction: Transaction | None = None
    reservation: Reservation | None = None
    authorized: Authorized | None = None
    awaiting: str | None = None  # idTag whose Authorize is in progress
    reported: ChargePointStatus | None = None  # last status queued for the CSMS
    status: ChargePointStatus = ChargePointStatus.available

    @property
    def meter(self) -> int:
        """The Energy.Active.Import.Register in whole Wh."""
        return int(self.energy_wh)

    def advance_meter(self, now: datetime) -> None:
        """Add the energy delivered since the last call (only while Charging)."""
        if self.metered_at is not None and self.status is ChargePointStatus.charging:
            seconds = (now - self.metered_at).total_seconds()
            if seconds > 0:
                self.energy_wh += self.power_w * seconds / 3600.0
        self.metered_at = now

    @property
    def power_now(self) -> float:
        return self.power_w if self.status is ChargePointStatus.charging else 0.0


def derive_status(connector: Connector) -> ChargePointStatus:
    """The S 4.9 status that follows from ``connector``'s facts."""
    if connector.error_code is not None:
        return ChargePointStatus.faulted
    if connector.connector_id == 0:
        return ChargePointStatus.available if connector.operative else ChargePointStatus.unavailable
    if connector.transaction is not None:
        if connector.evse_suspended:
            return ChargePointStatus.suspended_evse
        if connector.ev_suspended or not connector.plugged:
            return ChargePointStatus.suspended_ev
        return ChargePointStatus.charging
    if not connector.operative:
        return ChargePointStatus.unavailable
    if connector.finishing:
        return ChargePointStatus.finishing
    if connector.authorized is not None:
        return ChargePointStatus.preparing
    if connector.reservation is not None:
        return ChargePointStatus.reserved
    if connector.plugged:
        return ChargePointStatus.preparing
    return ChargePointStatus.available


def status_payload(
    connector: Connector, now: datetime, info: str | None = None, *, whole_seconds: bool = False
) -> Payload:
    """A StatusNotification request for ``connector`` (S 6.47); ``whole_seconds``: the
    timestamp without its fraction (the whole-second-timestamps quirk)."""
    payload: Payload = {
        "connectorId": connector.connector_id,
        "errorCode": connector.error_code or ChargePointErrorCode.no_error,
        "status": connector.status,
        "timestamp": format_time(now, whole_seconds=whole_seconds),
    }
    if info:
        payload["info"] = info[:50]
    return payload


def sample(
    connector: Connector, measurands: list[str], now: datetime, context: str, *,
    whole_seconds: bool = False,
) -> Payload:
    """One MeterValue (S 7.31) with a sampledValue per measurand."""
    values = [_sampled_value(connector, measurand, context) for measurand in measurands]
    return {"timestamp": format_time(now, whole_seconds=whole_seconds), "sampledValue": values}


def _sampled_value(connector: Connector, measurand: str, context: str) -> Payload:
    amps = connector.power_now / (PHASE_VOLTAGE * PHASES)
    figures = {
        "Energy.Active.Import.Register": (str(connector.meter), "Wh"),
        "Power.Active.Import": (f"{connector.power_now:.1f}", "W"),
        "Current.Import": (f"{amps:.1f}", "A"),
        "Current.Offered": (f"{connector.power_w / (PHASE_VOLTAGE * PHASES):.1f}", "A"),
        "Voltage": (f"{PHASE_VOLTAGE:.1f}", "V"),
    }
    value, unit = figures.get(measurand, (str(connector.meter), "Wh"))
    return {
        "value": value,
        "context": context,
        "measurand": measurand if measurand in figures else "Energy.Active.Import.Register",
        "location": "Outlet",
        "unit": unit,
    }
