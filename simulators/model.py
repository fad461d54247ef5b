"""The pure charge point model: drivers, reservations, authorization, timers (sans-I/O).

:class:`ChargePointModel` adds to :class:`~simulators.core.ChargerCore` what a driver does at the
charger (plug, unplug, present an idTag with the keypad or the card reader, stop, a fault), the
reservation rules of S 5.13, the authorization rules of S 3.5, the actions a central system
triggers (remote start/stop, availability, unlock, reset), and a power loss. Answers to CSMS
CALLs are composed in :mod:`simulators.handlers`. Time only moves when the caller passes a
later ``now`` to :meth:`ChargePointModel.tick` or any other entry point;
:meth:`ChargePointModel.next_deadline` says when the next tick is due.

Usage (no event loop)::

    model = ChargePointModel("CP-1", connectors=2)
    model.connection_opened(now)
    call = model.next_call(now)          # BootNotification
    model.call_result(call, {"status": "Accepted", "interval": 60, "currentTime": ...}, now)
"""

from __future__ import annotations

from datetime import datetime, timedelta

from ocpp.v16.enums import (
    AvailabilityStatus,
    ChargePointErrorCode,
    Reason,
    ReservationStatus,
    ResetType,
    UnlockStatus,
)

from simulators.authorization import IdTagInfo, same_tag
from simulators.calls import OutgoingCall, Purpose, Quirk
from simulators.connector import Authorized, Connector, Reservation
from simulators.core import ChargerCore, tx_name
from simulators.events import EventKind
from simulators.protocol import format_clock


class ChargePointModel(ChargerCore):
    """A charge point with N connectors, driven by its driver, its CSMS and the clock."""

    # ---- time ----------------------------------------------------------------------------

    def tick(self, now: datetime) -> None:
        """Do what is due at ``now``: heartbeat (S 4.6), boot retry (S 4.2), meter samples
        (S 4.7), reservation expiry (S 5.13), ConnectionTimeOut for a waiting driver, and
        file transfers (S 5.9, 5.19, SEC)."""
        self.begin(now, passive=True)
        if self.online and self.booted and _due(self.next_heartbeat, now):
            self.queue(OutgoingCall("Heartbeat", {}))
            self.schedule_heartbeat(now)
        if self.online and not self.booted and _due(self.next_boot, now):
            self.queue_boot(now)
        interval = self.config.get_int("MeterValueSampleInterval")
        for connector in self.connectors:
            tx = connector.transaction
            if tx is not None and _due(tx.next_sample, now):
                self.queue_meter_values(connector, now, "Sample.Periodic")
                tx.next_sample = now + timedelta(seconds=interval) if interval > 0 else None
            if connector.authorized is not None and connector.authorized.deadline <= now:
                self.emit(EventKind.INFO, f"connector {connector.connector_id}: no car plugged "
                          f"in within ConnectionTimeOut; {connector.authorized.id_tag} must "
                          "start again", connector=connector.connector_id)
                connector.authorized = None
        self.tick_files(now)
        self.refresh(now)

    def next_deadline(self) -> datetime | None:
        """When :meth:`tick` next has something to do (None: nothing until another input)."""
        due = self.file_deadlines()
        if self.online and self.booted and self.next_heartbeat is not None:
            due.append(self.next_heartbeat)
        if self.online and not self.booted and self.next_boot is not None:
            due.append(self.next_boot)
        if not self.has_quirk(Quirk.LAZY_EXPIRY):
            due.extend(r.expiry for r in self.all_reservations())
        for connector in self.connectors:
            if connector.transaction is not None and connector.transaction.next_sample:
                due.append(connector.transaction.next_sample)
            if connector.authorized is not None:
                due.append(connector.authorized.deadline)
        return min(due) if due else None

    # ---- what a driver does --------------------------------------------------------------

    def plug(self, connector_id: int, now: datetime) -> None:
        """A car is plugged in: Preparing, or the transaction starts if a driver is authorized."""
        self.begin(now)
        connector = self.connector(connector_id)
        connector.plugged = True
        if connector.authorized is not None and connector.transaction is None:
            self._start(connector, now)
        self.refresh(now)

    def unplug(self, connector_id: int, now: datetime) -> None:
        """The car is unplugged: stop with EVDisconnected if StopTransactionOnEVSideDisconnect
        (S 9.1), else the transaction stays, SuspendedEV."""
        self.begin(now)
        connector = self.connector(connector_id)
        connector.plugged = connector.finishing = False
        if connector.transaction is not None and self.config.get_bool(
            "StopTransactionOnEVSideDisconnect"
        ):
            self.stop_transaction(connector, Reason.ev_disconnected, now)
            connector.finishing = False
        self.refresh(now)

    def present_id_tag(self, connector_id: int, id_tag: str, now: datetime) -> None:
        """A driver types a code or taps a card: start (S 3.5, 5.13) or stop (S 4.8) charging."""
        self.begin(now)
        connector = self.connector(connector_id)
        if connector.transaction is not None:
            self._present_while_charging(connector, id_tag, now)
        elif connector.error_code is not None or not connector.operative:
            self._refuse(connector, id_tag, f"connector is {connector.status}")
        elif connector.awaiting is not None or connector.authorized is not None:
            self._refuse(connector, id_tag, "another driver is already being served")
        else:
            self._authorize_start(connector, id_tag, now)
        self.refresh(now)

    def stop(self, connector_id: int, now: datetime) -> None:
        """The driver presses stop: end the transaction (reason Local), or withdraw the
        authorization of a driver who has not plugged in yet."""
        self.begin(now)
        connector = self.connector(connector_id)
        tx = connector.transaction
        if tx is not None:
            self.stop_transaction(connector, Reason.local, now, id_tag=tx.id_tag)
        elif connector.authorized is not None:
            self.emit(EventKind.INFO, f"connector {connector_id}: authorization withdrawn",
                      connector=connector_id)
            connector.authorized = None
        else:
            self._refuse(connector, None, "nothing to stop")
        self.refresh(now)

    def fault(self, connector_id: int, now: datetime, error_code: str = "OtherError") -> None:
        """Connector N (0 = the charge point) goes Faulted: its transaction stops (reason Other)
        and its reservation ends (S 5.13)."""
        self.begin(now)
        if error_code not in set(ChargePointErrorCode) or error_code == "NoError":
            raise ValueError(f"not a fault error code: {error_code}")
        connector = self.connectors[connector_id] if connector_id == 0 else self.connector(
            connector_id)
        connector.error_code = error_code
        if connector.transaction is not None:
            self.stop_transaction(connector, Reason.other, now)
        self._disable(connector, "ended: connector Faulted")
        self.refresh(now)

    def clear(self, connector_id: int, now: datetime) -> None:
        """Connector N (0 = the charge point) recovers from its fault."""
        self.begin(now)
        connector = self.connectors[connector_id] if connector_id == 0 else self.connector(
            connector_id)
        connector.error_code = None
        self.refresh(now)

    def suspend(self, connector_id: int, now: datetime, *, suspended: bool = True) -> None:
        """The car pauses (or resumes) drawing energy: SuspendedEV ↔ Charging."""
        self.begin(now)
        self.connector(connector_id).ev_suspended = suspended
        self.refresh(now)

    # ---- reservations (S 5.13, 5.1) ------------------------------------------------------

    def reserve(
        self, connector_id: int, id_tag: str, expiry: datetime, reservation_id: int,
        parent_id_tag: str | None, now: datetime,
    ) -> ReservationStatus:
        """Decide a ReserveNow. Rejected without the Reservation profile or for connector 0
        unless ReserveConnectorZeroSupported; a reservation with the same id is replaced."""
        self.begin(now)
        existing = self._find_reservation(reservation_id)
        if "Reservation" not in self.profiles or not 0 <= connector_id <= self.count:
            status = ReservationStatus.rejected
        elif connector_id == 0:
            status = self._zero_reservation_status(existing)
        else:
            status = self._reservation_status(self.connectors[connector_id], existing)
        if status is not ReservationStatus.accepted:
            self._refuse(None, id_tag, f"reservation {reservation_id}: {status}")
            return status
        if existing is not None:
            self.end_reservation(existing, "replaced")
        reservation = Reservation(reservation_id, connector_id, id_tag, expiry, parent_id_tag)
        if connector_id == 0:
            self.zero_reservations.append(reservation)
        else:
            self.connectors[connector_id].reservation = reservation
        self.emit(EventKind.RESERVATION,
                  f"connector {connector_id}: reservation {reservation_id} for {id_tag} "
                  f"until {format_clock(expiry)}",
                  connector=connector_id, reservation_id=reservation_id, status="made")
        self._learn_reserved_tag(connector_id, id_tag)
        self.refresh(now)
        return status

    def _learn_reserved_tag(self, connector_id: int, id_tag: str) -> None:
        """authorize-before-answer: an Authorize to learn the reserved idTag, ahead of
        everything queued (the session holds the ReserveNow answer back until it is answered);
        authorize-after-reserve: the same Authorize, queued behind the answer."""
        if not self.online:
            return
        call = OutgoingCall("Authorize", {"idTag": id_tag}, connector_id, purpose=Purpose.LEARN)
        if self.has_quirk(Quirk.AUTHORIZE_BEFORE_ANSWER):
            self.queue(call, front=True)
        elif self.has_quirk(Quirk.AUTHORIZE_AFTER_RESERVE):
            self.queue(call)

    def cancel_reservation(self, reservation_id: int, now: datetime) -> bool:
        """CancelReservation (S 5.1): True (Accepted) if the charger had that reservation."""
        self.begin(now)
        reservation = self._find_reservation(reservation_id)
        if reservation is None or "Reservation" not in self.profiles:
            self._refuse(None, None, f"no reservation {reservation_id} to cancel")
            return False
        self.end_reservation(reservation, "cancelled")
        self.refresh(now)
        return True

    def expire_reservations(self, now: datetime) -> None:
        """End every reservation whose expiryDate has passed (S 5.13)."""
        for reservation in self.all_reservations():
            if reservation.expiry <= now:
                self.end_reservation(reservation, "expired")

    def end_reservation(self, reservation: Reservation, why: str) -> None:
        """Remove ``reservation`` from the charger and say why."""
        if reservation in self.zero_reservations:
            self.zero_reservations.remove(reservation)
        else:
            self.connectors[reservation.connector_id].reservation = None
        self.emit(EventKind.RESERVATION, f"connector {reservation.connector_id}: reservation "
                  f"{reservation.reservation_id} {why}", connector=reservation.connector_id,
                  reservation_id=reservation.reservation_id, status=why)

    def _find_reservation(self, reservation_id: int) -> Reservation | None:
        for reservation in self.all_reservations():
            if reservation.reservation_id == reservation_id:
                return reservation
        return None

    def _reservation_status(
        self, connector: Connector, existing: Reservation | None
    ) -> ReservationStatus:
        if connector.error_code is not None or self.connectors[0].error_code is not None:
            return ReservationStatus.faulted
        if not connector.operative:
            return ReservationStatus.unavailable
        reserved = connector.reservation is not None and connector.reservation is not existing
        busy = (connector.transaction is not None or connector.authorized is not None
                or connector.awaiting is not None or connector.plugged or connector.finishing)
        return ReservationStatus.occupied if reserved or busy else ReservationStatus.accepted

    def _zero_reservation_status(self, existing: Reservation | None) -> ReservationStatus:
        if not self.config.get_bool("ReserveConnectorZeroSupported"):
            return ReservationStatus.rejected
        others = [r for r in self.zero_reservations if r is not existing]
        free = [c for c in self.connectors[1:] if self._free(c)]
        if len(free) > len(others):
            return ReservationStatus.accepted
        if all(c.error_code is not None for c in self.connectors[1:]):
            return ReservationStatus.faulted
        if all(not c.operative for c in self.connectors[1:]):
            return ReservationStatus.unavailable
        return ReservationStatus.occupied

    def _free(self, connector: Connector) -> bool:
        """Could a driver start on ``connector`` right now, reservations of connector 0 aside?"""
        return (connector.transaction is None and connector.authorized is None
                and connector.awaiting is None and connector.reservation is None
                and connector.error_code is None and connector.operative
                and not connector.finishing)

    def reservation_for(self, connector: Connector, id_tag: str) -> Reservation | None:
        """The reservation that governs a start by ``id_tag`` on ``connector``, if any.

        The connector's own reservation; else a connector-0 reservation for ``id_tag``; else a
        connector-0 reservation this start would leave without a free connector (S 5.13).
        """
        if connector.reservation is not None:
            return connector.reservation
        for reservation in self.zero_reservations:
            if same_tag(reservation.id_tag, id_tag):
                return reservation
        others = [c for c in self.connectors[1:] if c is not connector and self._free(c)]
        if len(others) < len(self.zero_reservations):
            return self.zero_reservations[0]
        return None

    def matches(self, reservation: Reservation, id_tag: str, parent: str | None) -> bool:
        """Is ``id_tag`` (whose parent is ``parent``) entitled to ``reservation``?

        Its own idTag, or the same parentIdTag as the reservation (S 5.13: from ReserveNow's
        parentIdTag, else the parent learnt for the reserved idTag).
        """
        if same_tag(id_tag, reservation.id_tag):
            return True
        return same_tag(parent, self._reservation_parent(reservation))

    def _reservation_parent(self, reservation: Reservation) -> str | None:
        return reservation.parent_id_tag or self.auth.parent_of(reservation.id_tag)

    # ---- authorization (S 3.5) -----------------------------------------------------------

    def _authorize_start(self, connector: Connector, id_tag: str, now: datetime) -> None:
        """Check ``id_tag`` for a start: reservation first, then the local list/cache, then
        Authorize (or the offline rules when there is no connection)."""
        reservation = self.reservation_for(connector, id_tag)
        if reservation is not None and not same_tag(id_tag, reservation.id_tag):
            if self.has_quirk(Quirk.ACCEPT_WRONG_CODE):
                self._grant(connector, id_tag, None, reservation, now)
                return
            if self._reservation_parent(reservation) is None:
                self._refuse(connector, id_tag, f"reserved for {reservation.id_tag}")
                return
        info = self._local_info(id_tag)
        if not self.online:
            self._decide_offline(connector, id_tag, info, now)
        elif info is not None and info.valid_at(now) and self.config.get_bool("LocalPreAuthorize"):
            self._decide(connector, id_tag, info, now)
        else:
            self._send_authorize(connector, id_tag)

    def _send_authorize(self, connector: Connector, id_tag: str) -> None:
        connector.awaiting = id_tag
        self.queue(OutgoingCall("Authorize", {"idTag": id_tag}, connector.connector_id,
                                purpose=Purpose.START))

    def _local_info(self, id_tag: str) -> IdTagInfo | None:
        use_list = ("LocalAuthListManagement" in self.profiles
                    and self.config.get_bool("LocalAuthListEnabled"))
        return self.auth.lookup(id_tag, use_list=use_list,
                                use_cache=self.config.get_bool("AuthorizationCacheEnabled"))

    def _decide(self, connector: Connector, id_tag: str, info: IdTagInfo, now: datetime) -> None:
        """Grant or refuse once we know the idTagInfo (and so its parent)."""
        if not info.valid_at(now):
            status = info.status if info.status != "Accepted" else "Expired"
            self._refuse(connector, id_tag, f"idTag {status}")
            return
        parent = info.parent_id_tag or self.auth.parent_of(id_tag)
        reservation = self.reservation_for(connector, id_tag)
        if (reservation is not None and not self.matches(reservation, id_tag, parent)
                and not self.has_quirk(Quirk.ACCEPT_WRONG_CODE)):
            self._refuse(connector, id_tag, f"reserved for {reservation.id_tag}")
            return
        self._grant(connector, id_tag, parent, reservation, now)

    def _decide_offline(
        self, connector: Connector, id_tag: str, info: IdTagInfo | None, now: datetime
    ) -> None:
        """No connection: the reserved idTag, LocalAuthorizeOffline (list/cache) or
        AllowOfflineTxForUnknownId decide (S 3.5, S 9.1)."""
        reservation = self.reservation_for(connector, id_tag)
        if reservation is not None and same_tag(id_tag, reservation.id_tag):
            self._grant(connector, id_tag, reservation.parent_id_tag, reservation, now)
        elif info is not None and self.config.get_bool("LocalAuthorizeOffline"):
            self._decide(connector, id_tag, info, now)
        elif info is None and self.config.get_bool("AllowOfflineTxForUnknownId"):
            self._decide(connector, id_tag, IdTagInfo("Accepted"), now)
        else:
            self._refuse(connector, id_tag, "offline and the idTag is not known locally")

    def on_authorize_result(self, call: OutgoingCall, info: IdTagInfo, now: datetime) -> None:
        id_tag = str(call.payload["idTag"])
        self.remember(id_tag, info)
        if call.purpose is not Purpose.START or call.connector_id is None:
            return
        connector = self.connectors[call.connector_id]
        if not same_tag(connector.awaiting, id_tag):
            return
        connector.awaiting = None
        if connector.transaction is not None or connector.error_code or not connector.operative:
            self._refuse(connector, id_tag, f"connector is {connector.status}")
        else:
            self._decide(connector, id_tag, info, now)

    def on_authorize_failed(
        self, call: OutgoingCall, now: datetime, error_code: str | None
    ) -> None:
        id_tag = str(call.payload["idTag"])
        if call.purpose is not Purpose.START or call.connector_id is None:
            return
        connector = self.connectors[call.connector_id]
        if not same_tag(connector.awaiting, id_tag):
            return
        connector.awaiting = None
        if error_code is not None:
            self._refuse(connector, id_tag, f"Authorize failed ({error_code})")
        else:
            self._decide_offline(connector, id_tag, self._local_info(id_tag), now)

    def _grant(
        self, connector: Connector, id_tag: str, parent: str | None,
        reservation: Reservation | None, now: datetime,
    ) -> None:
        timeout = timedelta(seconds=self.config.get_int("ConnectionTimeOut"))
        connector.authorized = Authorized(
            id_tag, now + timeout, parent,
            reservation.reservation_id if reservation is not None else None)
        connector.finishing = False
        self.emit(EventKind.AUTHORIZED, f"connector {connector.connector_id}: {id_tag} accepted",
                  connector=connector.connector_id)
        self.refresh(now)  # S 4.9: Available/Reserved/Finishing → Preparing, never straight on
        if connector.plugged:
            self._start(connector, now)

    def _start(self, connector: Connector, now: datetime) -> None:
        """Start for the authorized driver; the reservation it used ends with it (S 5.13)."""
        authorized = connector.authorized
        assert authorized is not None
        reservation_id = authorized.reservation_id
        reservation = None if reservation_id is None else self._find_reservation(reservation_id)
        if reservation is not None:
            self.end_reservation(reservation, "used")
        self.start_transaction(
            connector, authorized.id_tag, now, parent_id_tag=authorized.parent_id_tag,
            reservation_id=reservation.reservation_id if reservation is not None else None)

    def _present_while_charging(self, connector: Connector, id_tag: str, now: datetime) -> None:
        tx = connector.transaction
        assert tx is not None
        parent = self.auth.parent_of(id_tag)
        if same_tag(id_tag, tx.id_tag) or same_tag(parent, tx.parent_id_tag):
            self.stop_transaction(connector, Reason.local, now, id_tag=id_tag)
        else:
            self._refuse(connector, id_tag, f"charging for {tx.id_tag}")

    def _refuse(self, connector: Connector | None, id_tag: str | None, why: str) -> None:
        where = f"connector {connector.connector_id}: " if connector is not None else ""
        what = f"refused {id_tag} ({why})" if id_tag is not None else f"refused ({why})"
        self.emit(EventKind.REFUSED, where + what,
                  connector=connector.connector_id if connector is not None else None)

    # ---- what the central system asks ----------------------------------------------------

    def remote_start(self, connector_id: int | None, id_tag: str, now: datetime) -> bool:
        """RemoteStartTransaction (S 5.11): True (Accepted) when a connector can serve it.

        With AuthorizeRemoteTxRequests the idTag is checked with Authorize first. Under
        drop-reservation-on-remote-start a reservation for another idTag is dropped first.
        """
        self.begin(now)
        connector = self._pick_connector(connector_id, id_tag)
        if connector is None:
            self._refuse(None, id_tag, "remote start: no connector can serve it")
            return False
        if self.has_quirk(Quirk.DROP_RESERVATION_ON_REMOTE_START):
            self._drop_foreign_reservation(connector, id_tag, now)
        if self.config.get_bool("AuthorizeRemoteTxRequests"):
            self._authorize_start(connector, id_tag, now)
        else:
            self._grant(connector, id_tag, self.auth.parent_of(id_tag),
                        self.reservation_for(connector, id_tag), now)
        self.refresh(now)
        return True

    def _pick_connector(self, connector_id: int | None, id_tag: str) -> Connector | None:
        candidates = (self.connectors[1:] if connector_id is None
                      else self.connectors[connector_id:connector_id + 1])
        if connector_id is not None and not 1 <= connector_id <= self.count:
            return None
        usable = [c for c in candidates if self._can_remote_start(c, id_tag)]
        # The connector reserved for this idTag first, then any other reserved one (only
        # usable under a quirk), then one with a car waiting, then any.
        usable.sort(key=lambda c: (not self._reserved_for(c, id_tag), c.reservation is None,
                                   not c.plugged))
        return usable[0] if usable else None

    def _reserved_for(self, connector: Connector, id_tag: str) -> bool:
        reservation = connector.reservation
        return reservation is not None and self.matches(
            reservation, id_tag, self.auth.parent_of(id_tag))

    def _drop_foreign_reservation(self, connector: Connector, id_tag: str, now: datetime) -> None:
        """drop-reservation-on-remote-start: forget a reservation ``id_tag`` is not entitled
        to, telling no one but the status (Reserved → Available, or Preparing with a car)."""
        reservation = self.reservation_for(connector, id_tag)
        if reservation is None or self.matches(reservation, id_tag, self.auth.parent_of(id_tag)):
            return
        self.end_reservation(reservation, f"dropped for a remote start of {id_tag} (quirk)")
        self.refresh(now)

    def _can_remote_start(self, connector: Connector, id_tag: str) -> bool:
        if (connector.transaction is not None or connector.authorized is not None
                or connector.awaiting is not None or connector.error_code is not None
                or not connector.operative):
            return False
        reservation = self.reservation_for(connector, id_tag)
        return (reservation is None or self.has_quirk(Quirk.ACCEPT_WRONG_CODE)
                or self.has_quirk(Quirk.DROP_RESERVATION_ON_REMOTE_START)
                or self.matches(reservation, id_tag, self.auth.parent_of(id_tag)))

    def remote_stop(self, transaction_id: int, now: datetime) -> bool:
        """RemoteStopTransaction (S 5.12): stop with reason Remote if the transaction runs here."""
        self.begin(now)
        for connector in self.connectors[1:]:
            tx = connector.transaction
            if tx is not None and tx.transaction_id == transaction_id:
                self.stop_transaction(connector, Reason.remote, now)
                self.refresh(now)
                return True
        return False

    def change_availability(
        self, connector_id: int, operative: bool, now: datetime
    ) -> AvailabilityStatus:
        """ChangeAvailability (S 5.2); connector 0 means the whole charge point. A connector with
        a running transaction changes when it ends (Scheduled)."""
        self.begin(now)
        if not 0 <= connector_id <= self.count:
            return AvailabilityStatus.rejected
        targets = self.connectors if connector_id == 0 else [self.connectors[connector_id]]
        scheduled = False
        for connector in targets:
            if connector.transaction is not None and not operative:
                connector.pending_operative, scheduled = operative, True
                continue
            connector.operative, connector.pending_operative = operative, None
            if not operative:
                self._disable(connector, "ended: connector Unavailable")
        self.refresh(now)
        return AvailabilityStatus.scheduled if scheduled else AvailabilityStatus.accepted

    def _disable(self, connector: Connector, why: str) -> None:
        """A Faulted/Unavailable connector loses its reservation and waiting driver (S 5.13)."""
        connector.authorized = connector.awaiting = None
        if connector.reservation is not None:
            self.end_reservation(connector.reservation, why)
        if connector.connector_id == 0:
            for reservation in list(self.zero_reservations):
                self.end_reservation(reservation, why)

    def unlock(self, connector_id: int, now: datetime) -> UnlockStatus:
        """UnlockConnector (S 5.18): a running transaction stops first (reason UnlockCommand)."""
        self.begin(now)
        if not 1 <= connector_id <= self.count:
            return UnlockStatus.not_supported
        connector = self.connectors[connector_id]
        if connector.transaction is not None:
            self.stop_transaction(connector, Reason.unlock_command, now)
        self.emit(EventKind.INFO, f"connector {connector_id}: unlocked", connector=connector_id)
        self.refresh(now)
        return UnlockStatus.unlocked

    def reset(self, kind: str, now: datetime) -> None:
        """Reset (S 5.14): stop every transaction (reason HardReset/SoftReset), then reboot as
        soon as those StopTransactions are delivered (see :attr:`reboot_pending`)."""
        self.begin(now)
        reason = Reason.hard_reset if kind == ResetType.hard else Reason.soft_reset
        for connector in self.connectors[1:]:
            if connector.transaction is not None:
                self.stop_transaction(connector, reason, now)
        self.reboot_pending = kind
        self.refresh(now)

    def power_loss(self, now: datetime, unanswered: OutgoingCall | None = None) -> None:
        """The power fails and comes back: running transactions are forgotten (their
        StopTransaction is never sent), reservations are lost, then :meth:`reboot`.

        Transaction messages already queued were stored and survive, ``unanswered`` (the
        CALL on the wire when the power went) included if it is one; plugs stay.
        """
        self.begin(now, passive=True)
        self.online = False
        if unanswered is not None and unanswered.transactional:
            self.queue(unanswered, front=True)
        self.emit(EventKind.INFO, "power lost")
        for connector in self.connectors[1:]:
            tx, connector.transaction = connector.transaction, None
            if tx is not None:
                self.emit(EventKind.TRANSACTION, f"connector {connector.connector_id}: "
                          f"transaction {tx_name(tx)} lost with the power (no StopTransaction)",
                          connector=connector.connector_id, transaction_id=tx.transaction_id,
                          status="lost")
            if connector.pending_operative is not None:  # the Scheduled change applies now
                connector.operative, connector.pending_operative = connector.pending_operative, None
        for reservation in self.all_reservations():
            self.end_reservation(reservation, "lost with the power")
        self.reboot(now)


def _due(moment: datetime | None, now: datetime) -> bool:
    return moment is not None and moment <= now
