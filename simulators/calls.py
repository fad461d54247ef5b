"""The small vocabulary the charger model and its feature modules share: quirks, the CALLs the
charger wants to send (:class:`OutgoingCall`) and its answers to the CSMS (:class:`Answer`).

Kept apart from :mod:`simulators.core` so that the feature modules (security, certificates,
firmware and file transfers) can use them without importing the whole model.
"""

from __future__ import annotations

import dataclasses
import enum
from datetime import datetime
from typing import TYPE_CHECKING

from simulators.protocol import Payload

if TYPE_CHECKING:
    from simulators.connector import Transaction

TRANSACTION_ACTIONS = frozenset({"StartTransaction", "StopTransaction", "MeterValues"})
#: CALLs of the security extension (SEC): a CSMS without it answers them NotImplemented.
SECURITY_ACTIONS = frozenset({"SecurityEventNotification", "SignCertificate",
                              "SignedFirmwareStatusNotification", "LogStatusNotification"})


class Quirk(enum.StrEnum):
    """Deviations seen in chargers in the field; all off by default (docs/simulator.md)."""

    #: StatusNotification Reserved goes out before the ReserveNow answer.
    RESERVED_BEFORE_ANSWER = "reserved-before-answer"
    #: Authorize (to learn) for the reserved idTag right after the ReserveNow answer.
    AUTHORIZE_AFTER_RESERVE = "authorize-after-reserve"
    #: Authorize (to learn) for the reserved idTag before the ReserveNow answer: the answer
    #: waits for the Authorize's result, at most :data:`simulators.session.ANSWER_HOLD_SECONDS`.
    AUTHORIZE_BEFORE_ANSWER = "authorize-before-answer"
    #: StartTransaction omits reservationId when it ends a reservation.
    NO_RESERVATION_ID = "no-reservation-id"
    #: A wrong idTag on a reserved connector starts charging anyway (with the reservationId).
    ACCEPT_WRONG_CODE = "accept-wrong-code"
    #: ReserveNow is answered with CALLERROR InternalError.
    RESERVE_NOW_CALLERROR = "reserve-now-callerror"
    #: An expired reservation lingers until something else happens.
    LAZY_EXPIRY = "lazy-expiry"
    #: RemoteStartTransaction for another idTag on a reserved connector is Accepted: the
    #: reservation is dropped without a word (the connector reports Available), then the remote
    #: start goes on as usual.
    DROP_RESERVATION_ON_REMOTE_START = "drop-reservation-on-remote-start"
    #: Every reboot (Reset, power loss) restarts the energy meter registers from 0 Wh.
    METER_RESET_ON_REBOOT = "meter-reset-on-reboot"
    #: Every timestamp the charger sends is truncated to whole seconds (``…T10:30:05Z``).
    WHOLE_SECOND_TIMESTAMPS = "whole-second-timestamps"
    #: A CALLERROR NotImplemented to a security-extension CALL makes the charger drop the
    #: connection (then reconnect), as some chargers built for the extension do.
    STOP_AFTER_NOT_IMPLEMENTED = "stop-after-not-implemented"
    #: Diagnostics and logs are uploaded as a multipart/form-data POST instead of a PUT.
    MULTIPART_UPLOAD = "multipart-upload"
    #: FirmwareStatusNotification Installed goes out before the reboot, not after it.
    INSTALLED_BEFORE_REBOOT = "installed-before-reboot"
    #: An accepted SecurityProfile is used from the next connection (e.g. after the Reset
    #: OCTT TC_083 sends) instead of reconnecting at once.
    PROFILE_ON_NEXT_CONNECTION = "profile-on-next-connection"


class Purpose(enum.Enum):
    """Why an Authorize was sent."""

    START = "start"  # a driver (or a remote start) wants to charge
    LEARN = "learn"  # only to learn the idTagInfo (authorize-after/before-... quirks)


@dataclasses.dataclass(slots=True, eq=False)
class OutgoingCall:
    """A CALL the charger wants to send, with the context its answer needs.

    ``keep`` marks a CALL that waits for the next connection instead of being given up when
    the link drops (security events and file-transfer statuses: SEC requires security events
    to be queued while offline; the others are the progress of a job that goes on offline).
    """

    action: str
    payload: Payload
    connector_id: int | None = None
    transaction: Transaction | None = None
    purpose: Purpose | None = None
    attempts: int = 0
    not_before: datetime | None = None
    keep: bool = False

    @property
    def transactional(self) -> bool:
        """Start/Stop/MeterValues of a transaction: kept while offline, retried (S 3.6)."""
        return self.transaction is not None and self.action in TRANSACTION_ACTIONS

    @property
    def kept_offline(self) -> bool:
        """Does this CALL survive a lost connection (and a reboot)?"""
        return self.keep or self.transactional

    def final_payload(self) -> Payload:
        """The payload to put on the wire, with the transactionId learnt meanwhile (S 4.7)."""
        if self.transaction is None or self.action == "StartTransaction":
            return self.payload
        tx_id = self.transaction.transaction_id
        return {**self.payload, "transactionId": tx_id if tx_id is not None else -1}


@dataclasses.dataclass(frozen=True, slots=True)
class Answer:
    """The charger's answer to a CSMS CALL: a payload, or a CALLERROR code and description.

    ``calls_first`` asks the session to send that many queued CALLs before this answer
    (the reserved-before-answer and authorize-before-answer quirks); with ``await_results``
    the answer also waits until the last of them is answered (or for a bounded time).
    """

    payload: Payload | None = None
    error_code: str | None = None
    description: str = ""
    calls_first: int = 0
    await_results: bool = False
