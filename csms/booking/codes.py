"""Booking codes: how they are drawn, what one is worth at a charger, and the brute-force rule.

A code is random, numeric (any keypad has digits) and not trivially guessable. It needs to be
unique only where it is typed — among the live bookings of one site, since a booking moves only
within its site — and never equal to a card (an idTag the CSMS knows), checked when either is
made. It is good for its booking only: at its charger, on its connector, from the moment
ReserveNow is sent (chargers Authorize the idTag before answering) until the window ends.
"""

from __future__ import annotations

import dataclasses
import itertools
import secrets
from datetime import datetime, timedelta

from csms.booking.states import ReservationStatus
from csms.domain.authorization import AuthorizationStatus, IdTagInfo

CODE_LENGTH = 6
#: A charger's clock is off by a little, and many stamp whole seconds: a code presented this
#: little before it became valid is taken as valid (it is no guess either way).
CLOCK_SLACK = timedelta(seconds=60)
S = ReservationStatus


def generate_code(length: int = CODE_LENGTH) -> str:
    """A random code of ``length`` digits that is neither one repeated digit nor a run."""
    while True:
        code = "".join(str(secrets.randbelow(10)) for _ in range(length))
        if not _trivial(code):
            return code


def _trivial(code: str) -> bool:
    steps = {(int(b) - int(a)) % 10 for a, b in itertools.pairwise(code)}
    return steps in ({0}, {1}, {9})


@dataclasses.dataclass(frozen=True, slots=True)
class BookedCode:
    """What verification needs to know of the booking a code belongs to."""

    reservation_id: int
    charge_point_id: str
    connector_id: int
    start: datetime
    end: datetime
    status: ReservationStatus
    #: When ReserveNow was sent (or the CSMS took over enforcement); None before.
    dispatched_at: datetime | None
    parent_id_tag: str | None = None
    #: The site's early-start allowance: the code works this long before the window.
    early_start: timedelta = timedelta(0)


@dataclasses.dataclass(frozen=True, slots=True)
class CodeVerdict:
    info: IdTagInfo
    #: Counts towards the wrong-code lock: a guess, or a code that is worth nothing any more.
    wrong: bool

    @property
    def accepted(self) -> bool:
        return self.info.status is AuthorizationStatus.ACCEPTED


#: An unknown code: nothing to reveal, and it counts as a guess.
UNKNOWN = CodeVerdict(IdTagInfo(AuthorizationStatus.INVALID), wrong=True)
_TERMINAL_ANSWER = {
    S.CANCELLED: AuthorizationStatus.BLOCKED,
    S.FAILED: AuthorizationStatus.BLOCKED,
    S.COMPLETED: AuthorizationStatus.EXPIRED,
    S.EXPIRED: AuthorizationStatus.EXPIRED,
}


def verify_code(
    booking: BookedCode, charge_point_id: str, connector_id: int | None, now: datetime
) -> CodeVerdict:
    """The verdict for a booking code presented at a charger (OCPP-NOTES: Authorization).

    ``connector_id`` is None for Authorize, which names no connector. A code that is worth
    nothing any more (its window over, its booking ended, whatever state it is stuck in)
    answers Expired or Blocked without naming its owner, and counts as a wrong code; so does a
    code typed at another charger. The right code a little early or at the other connector is
    refused but not counted: it is no guess.
    """
    if booking.status in _TERMINAL_ANSWER:
        return CodeVerdict(IdTagInfo(_TERMINAL_ANSWER[booking.status]), wrong=True)
    if now >= booking.end:
        return CodeVerdict(IdTagInfo(AuthorizationStatus.EXPIRED), wrong=True)
    if booking.charge_point_id != charge_point_id:
        return UNKNOWN
    same_connector = connector_id in (None, 0, booking.connector_id) or booking.connector_id == 0
    accepted = IdTagInfo(AuthorizationStatus.ACCEPTED, booking.end, booking.parent_id_tag)
    if booking.status is S.CHARGING:
        # The same code may stop (or restart) its own session; elsewhere it is already in use.
        if same_connector:
            return CodeVerdict(accepted, wrong=False)
        concurrent = IdTagInfo(AuthorizationStatus.CONCURRENT_TX, booking.end)
        return CodeVerdict(concurrent, wrong=False)
    opens = booking.start - booking.early_start
    valid_from = min(opens, booking.dispatched_at or opens) - CLOCK_SLACK
    if not same_connector or now < valid_from:
        return CodeVerdict(IdTagInfo(AuthorizationStatus.INVALID), wrong=False)
    return CodeVerdict(accepted, wrong=False)


@dataclasses.dataclass(frozen=True, slots=True)
class WrongCodeRule:
    """Brute-force protection: ``max_failures`` wrong codes at one charger within ``window``
    lock it for codes (cards keep working, so a driver caught in the lock can tap theirs)."""

    max_failures: int = 5
    window: timedelta = timedelta(minutes=5)

    def counted_since(self, now: datetime) -> datetime:
        """Failures before this moment no longer count."""
        return now - self.window

    def locked(self, failures_in_window: int) -> bool:
        return failures_in_window >= self.max_failures
