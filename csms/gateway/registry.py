"""The charge points connected to this process."""

from __future__ import annotations

from collections.abc import Iterator

from csms.gateway.session import Session


class Registry:
    """Maps a charge point id to its live :class:`Session` (at most one per id)."""

    def __init__(self) -> None:
        self._sessions: dict[str, Session] = {}

    def add(self, session: Session) -> Session | None:
        """Register ``session``; return the session it replaces (to be closed), if any."""
        previous = self._sessions.get(session.charge_point_id)
        self._sessions[session.charge_point_id] = session
        return previous

    def remove(self, session: Session) -> None:
        """Forget ``session`` unless a newer one has taken its place."""
        if self._sessions.get(session.charge_point_id) is session:
            del self._sessions[session.charge_point_id]

    def get(self, charge_point_id: str) -> Session | None:
        return self._sessions.get(charge_point_id)

    def __len__(self) -> int:
        return len(self._sessions)

    def __iter__(self) -> Iterator[str]:
        return iter(self._sessions)
