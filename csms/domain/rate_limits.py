"""Abuse limits for the HTTP API, sans I/O: token buckets keyed by string, a cap on things open
at once per key, and the sign-in policy built from them.

Contract
--------
- Pure: no clock, no asyncio, no I/O. Every call takes ``now``, in seconds on any clock (the API
  passes its :class:`~csms.clock.Clock`'s POSIX timestamp, so tests can move time). A clock that
  steps back counts as "no time passed", never as negative refill.
- :class:`TokenBucket`: ``Rate(limit, period)`` allows ``limit`` per ``period`` seconds, in bursts
  of up to ``limit``. ``take(key, now, cost)`` either takes ``cost`` and answers 0, or takes
  nothing and answers the whole seconds (at least 1) after which the same call will succeed if
  nothing else takes from the key meanwhile — the ``Retry-After`` value. A key never seen behaves
  as a full bucket.
- Bounded memory, whatever keys an attacker makes up: a bucket that has refilled is dropped (a
  full bucket and no bucket behave alike), and beyond ``max_keys`` the key touched longest ago is
  forgotten. Forgetting only hands that key a fresh burst, and only after ``max_keys`` other keys
  were charged since — each of which had to pass the limits checked before it.
- :class:`OpenLimit` counts what is open per key (event streams per token); a key is dropped when
  its count returns to 0, so it holds no more keys than there are open things.
- Per node, in memory: several csms nodes behind a load balancer each keep their own counts (N
  nodes allow up to N times the rates) and a restart forgets them. That is acceptable for abuse
  limits, which nothing relies on for correctness; a cluster-wide limiter (in PostgreSQL or a
  shared store) is future work.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import math
from collections import OrderedDict

from csms.errors import RateLimited

#: Keys a limiter remembers at most (about 100 bytes each).
MAX_KEYS = 100_000
#: How long an address a sign-in succeeded from stays known for that account (seconds).
KNOWN_FOR_SECONDS = 30 * 86400.0
#: Tokens short of a whole one that still count as enough (float rounding, nothing more).
_SLACK = 1e-6
#: Longest account key kept: no email is longer, so longer strings need no keys of their own.
_MAX_ACCOUNT_KEY = 254


@dataclasses.dataclass(frozen=True, slots=True)
class Rate:
    """``limit`` per ``period`` seconds, in bursts of up to ``limit``."""

    limit: int
    period: float

    def __post_init__(self) -> None:
        if self.limit < 1 or not self.period > 0:
            raise ValueError(f"a rate needs limit >= 1 and period > 0, not {self}")

    @classmethod
    def per_minute(cls, limit: int) -> Rate:
        return cls(limit, 60.0)

    @classmethod
    def per_hour(cls, limit: int) -> Rate:
        return cls(limit, 3600.0)


class TokenBucket:
    """One token bucket per key, all with the same :class:`Rate`."""

    def __init__(self, rate: Rate, max_keys: int = MAX_KEYS) -> None:
        if max_keys < 1:
            raise ValueError("max_keys must be at least 1")
        self.rate = rate
        self._max_keys = max_keys
        # key -> (tokens, when); in the order last charged, oldest first.
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def level(self, key: str, now: float) -> float:
        """Tokens ``key`` has at ``now``."""
        entry = self._buckets.get(key)
        if entry is None:
            return float(self.rate.limit)
        tokens, at = entry
        refill = max(0.0, now - at) * self.rate.limit / self.rate.period
        return min(float(self.rate.limit), tokens + refill)

    def wait(self, key: str, now: float, cost: float = 1.0) -> int:
        """Whole seconds until ``cost`` can be taken from ``key`` (0: now). Changes nothing."""
        if not 0 < cost <= self.rate.limit:
            raise ValueError(f"cost must be in (0, {self.rate.limit}], not {cost}")
        # Within _SLACK of enough counts as enough, so float rounding never turns an exact
        # refill time into one second more (nor lets Retry-After say a second too little).
        missing = cost - self.level(key, now) - _SLACK
        if missing <= 0:
            return 0
        return max(1, math.ceil(missing * self.rate.period / self.rate.limit))

    def take(self, key: str, now: float, cost: float = 1.0) -> int:
        """Take ``cost`` and answer 0, or take nothing and answer :meth:`wait`."""
        wait = self.wait(key, now, cost)
        if wait == 0:
            self._store(key, self.level(key, now) - cost, now)
        return wait

    def give_back(self, key: str, now: float, amount: float = 1.0) -> None:
        """Return tokens taken for something that turned out not to count."""
        if key in self._buckets:  # Otherwise it is full already (or forgotten, which is full).
            self._store(key, self.level(key, now) + amount, now)

    def _store(self, key: str, tokens: float, now: float) -> None:
        if tokens >= self.rate.limit:
            self._buckets.pop(key, None)
            return
        self._buckets[key] = (tokens, now)
        self._buckets.move_to_end(key)
        while len(self._buckets) > self._max_keys:
            self._buckets.popitem(last=False)


def enforce(bucket: TokenBucket, key: str, now: float, what: str) -> None:
    """Take one from ``key`` or raise :class:`RateLimited` saying ``what`` was too many."""
    wait = bucket.take(key, now)
    if wait:
        raise RateLimited(f"too many {what}; try again in {wait} s", wait)


class OpenLimit:
    """At most ``limit`` things open at once per key. Every successful :meth:`acquire` must be
    followed by exactly one :meth:`release`."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self._open: dict[str, int] = {}

    def open(self, key: str) -> int:
        return self._open.get(key, 0)

    def __len__(self) -> int:
        return len(self._open)

    def acquire(self, key: str) -> bool:
        count = self._open.get(key, 0)
        if count >= self.limit:
            return False
        self._open[key] = count + 1
        return True

    def release(self, key: str) -> None:
        count = self._open.get(key, 0) - 1
        if count > 0:
            self._open[key] = count
        else:
            self._open.pop(key, None)


def address_key(remote: str | None) -> str:
    """The part of a client's address that names one client: an IPv4 address, or the /64 of an
    IPv6 one (a host usually owns a whole /64, so it could vary the rest for free)."""
    if not remote:
        return "unknown"
    try:
        ip = ipaddress.ip_address(remote)
    except ValueError:
        return remote[:100]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{ip.exploded}/64", strict=False))
    return str(ip)


def account_key(email: str) -> str:
    """The key of the account an email names: without case, as sign-in compares them."""
    return email.strip().lower()[:_MAX_ACCOUNT_KEY]


@dataclasses.dataclass(frozen=True, slots=True)
class SignInAttempt:
    """What :meth:`SignInLimits.admit` charged, to give back when the password was right."""

    account: str
    pair: str
    charged_account: bool


class SignInLimits:
    """Sign-in attempts, judged before anything is looked up or hashed. Three buckets:

    - per client address, every attempt: bounds the password hashing (~40 ms of CPU each) one
      address can make a node do, and credential stuffing from one address;
    - per account and address, failures only (an attempt is charged up front so concurrent
      guesses cannot overrun it; a success gives it back): a guesser gets few tries at one account;
    - per account from any address not *known* for it, failures only: bounds guessing at one
      account from many addresses. An address becomes known for an account when a sign-in from
      it succeeds, and stays known for :data:`KNOWN_FOR_SECONDS`.

    Why not a plain per-account limit: anyone could then lock a driver out by guessing wrong on
    purpose. Here a guesser from one address only exhausts that address's budgets — the
    account-wide bucket must be larger than what one address can drain (the caller checks
    ``failures_per_account.limit > failures_per_pair.limit`` with equal periods) — so it only
    empties when many addresses guess, and even then the owner signs in from an address they
    used before. Who is refused is told to wait (Retry-After), never locked until an operator acts.
    """

    def __init__(
        self,
        *,
        per_address: Rate,
        failures_per_pair: Rate,
        failures_per_account: Rate,
        known_for: float = KNOWN_FOR_SECONDS,
        max_keys: int = MAX_KEYS,
    ) -> None:
        self._addresses = TokenBucket(per_address, max_keys)
        self._pairs = TokenBucket(failures_per_pair, max_keys)
        self._accounts = TokenBucket(failures_per_account, max_keys)
        self._known_for = known_for
        self._max_keys = max_keys
        self._known: OrderedDict[str, float] = OrderedDict()  # pair -> known until

    def admit(self, email: str, address: str, now: float) -> SignInAttempt:
        """Charge an attempt, or raise :class:`RateLimited` (charging nothing)."""
        account = account_key(email)
        pair = f"{address} {account}"  # An address has no spaces: the pair names one of each.
        known = self._is_known(pair, now)
        checks = [
            (self._addresses, address, "sign-in attempts from this address"),
            (self._pairs, pair, "failed sign-ins for this account from this address"),
        ]
        if not known:
            checks.append((self._accounts, account, "failed sign-ins for this account"))
        wait, what = max((bucket.wait(key, now), what) for bucket, key, what in checks)
        if wait:
            raise RateLimited(f"too many {what}; try again in {wait} s", wait)
        for bucket, key, _ in checks:
            bucket.take(key, now)
        return SignInAttempt(account, pair, charged_account=not known)

    def succeeded(self, attempt: SignInAttempt, now: float) -> None:
        """The password was right: only the attempt itself counts, and the address is known."""
        self._pairs.give_back(attempt.pair, now)
        if attempt.charged_account:
            self._accounts.give_back(attempt.account, now)
        self._known[attempt.pair] = now + self._known_for
        self._known.move_to_end(attempt.pair)
        while len(self._known) > self._max_keys:
            self._known.popitem(last=False)

    def _is_known(self, pair: str, now: float) -> bool:
        until = self._known.get(pair)
        if until is None:
            return False
        if now >= until:
            del self._known[pair]
            return False
        return True

    def __len__(self) -> int:
        """Keys held in all (a measure of memory)."""
        return len(self._addresses) + len(self._pairs) + len(self._accounts) + len(self._known)


@dataclasses.dataclass(frozen=True, slots=True)
class AbuseLimits:
    """The limits one node applies to its HTTP API."""

    sign_in: SignInLimits
    #: Sign-ups per client address.
    sign_up: TokenBucket
    #: Booking attempts per user.
    bookings: TokenBucket
    #: Event streams open at once per token.
    streams: OpenLimit
