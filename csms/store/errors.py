"""The one place where database errors become domain errors."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import asyncpg

from csms.errors import AlreadyExists, Conflict, NotFound, ValidationFailed

#: What PostgreSQL (or the road to it) answers while it is down, restarting or overloaded.
_UNAVAILABLE = (
    OSError,  # refused, reset, or the socket file gone while the server restarts
    TimeoutError,
    asyncpg.PostgresConnectionError,  # class 08, and a connection closed under us
    asyncpg.exceptions.OperatorInterventionError,  # 57P: shutting down, starting up
    asyncpg.exceptions.InsufficientResourcesError,  # 53: too many connections, disk full
    asyncpg.InterfaceError,  # "connection is closed", "pool is closing"
    asyncpg.exceptions.InternalClientError,  # a connection left mid-operation by a crash
)


def is_unstorable(error: BaseException) -> bool:
    """Whether ``error`` is PostgreSQL refusing a value (a NUL character in text, a number out
    of its column's range): the input was bad, not the server."""
    return isinstance(error, asyncpg.DataError)


def is_unavailable(error: BaseException) -> bool:
    """Whether ``error`` means the database cannot be used right now (worth retrying later),
    as opposed to a statement it refused."""
    return isinstance(error, _UNAVAILABLE)

#: Constraint name → the domain error it means. Unnamed constraints fall back by class.
_BY_CONSTRAINT: dict[str, tuple[type[Exception], str]] = {
    "users_email": (AlreadyExists, "a user with this email already exists"),
    "id_tags_key": (AlreadyExists, "this idTag is already registered"),
    "charge_points_pkey": (AlreadyExists, "a charge point with this id already exists"),
    "sites_pkey": (AlreadyExists, "this site already exists"),
}


@contextlib.contextmanager
def translated() -> Iterator[None]:
    """Run a store operation, turning constraint violations into :mod:`csms.errors` classes."""
    try:
        yield
    except asyncpg.UniqueViolationError as error:
        cls, message = _BY_CONSTRAINT.get(
            error.constraint_name or "", (AlreadyExists, "already exists")
        )
        raise cls(message) from error
    except asyncpg.ForeignKeyViolationError as error:
        raise NotFound(f"a referenced record does not exist ({error.constraint_name})") from error
    except asyncpg.CheckViolationError as error:
        raise ValidationFailed(f"value not allowed ({error.constraint_name})") from error
    except asyncpg.ExclusionViolationError as error:
        raise Conflict(f"overlaps an existing record ({error.constraint_name})") from error
