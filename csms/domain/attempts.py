"""Brute-force protection: wrong codes at one charger are counted, and too many lock it.

While a charger is locked every code typed there is refused (a guesser cannot keep trying);
cards keep working, so a driver whose code is caught in the lock can still tap their card.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from datetime import datetime, timedelta


@dataclasses.dataclass
class WrongCodeLimiter:
    max_failures: int = 5
    window: timedelta = timedelta(minutes=5)
    _failures: dict[str, deque[datetime]] = dataclasses.field(default_factory=dict)

    def record_failure(self, charge_point_id: str, now: datetime) -> None:
        failures = self._failures.setdefault(charge_point_id, deque())
        failures.append(now)
        self._prune(failures, now)

    def locked(self, charge_point_id: str, now: datetime) -> bool:
        failures = self._failures.get(charge_point_id)
        if not failures:
            return False
        self._prune(failures, now)
        if not failures:
            del self._failures[charge_point_id]
            return False
        return len(failures) >= self.max_failures

    def _prune(self, failures: deque[datetime], now: datetime) -> None:
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        while len(failures) > self.max_failures:
            failures.popleft()
