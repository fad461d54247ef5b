"""The one error root of csms.

Every failure the system expects is a :class:`CsmsError`. The HTTP edge maps each class to a
status code and an ``error.code`` (see ``csms.api.errors``); the OCPP edge maps them to CALLERROR
codes. Nothing below the edges knows about either protocol.
"""

from __future__ import annotations


class CsmsError(Exception):
    """Root of all expected errors. ``code`` is the stable, machine-readable name."""

    code = "error"

    def __init__(self, message: str = "") -> None:
        super().__init__(message or self.__class__.__doc__ or self.code)

    @property
    def message(self) -> str:
        return str(self)


class ConfigurationError(CsmsError):
    """A setting is missing or invalid."""

    code = "configuration_error"


class ValidationFailed(CsmsError):
    """The input is well-formed but breaks a rule."""

    code = "validation_failed"


class NotFound(CsmsError):
    """The thing asked for does not exist (or is not visible to the caller)."""

    code = "not_found"


class AlreadyExists(CsmsError):
    """A thing with the same identity is already stored."""

    code = "already_exists"


class Conflict(CsmsError):
    """The request conflicts with the current state."""

    code = "conflict"


class Unauthenticated(CsmsError):
    """Credentials are missing, wrong or expired."""

    code = "unauthenticated"


class Forbidden(CsmsError):
    """The caller is known but may not do this."""

    code = "forbidden"


class RateLimited(CsmsError):
    """Too many requests of this kind; ``retry_after`` says in how many seconds to try again."""

    code = "rate_limited"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ChargePointNotConnected(CsmsError):
    """The charge point has no open connection to the CSMS."""

    code = "not_connected"


class ChargePointTimeout(CsmsError):
    """The charge point did not answer in time."""

    code = "charge_point_timeout"


class ChargePointCallError(CsmsError):
    """The charge point answered a call with a CALLERROR."""

    code = "charge_point_call_error"

    def __init__(self, error_code: str, description: str, details: object = None) -> None:
        super().__init__(f"{error_code}: {description}")
        self.error_code = error_code
        self.description = description
        self.details = details


class DatabaseUnavailable(CsmsError):
    """The database cannot be reached."""

    code = "database_unavailable"


class InUse(Conflict):
    """The thing is still needed by others (chargers, bookings, transactions): it stays."""

    code = "in_use"


class SiteInUse(InUse):
    """Charge points stand at the site: move or remove them first."""

    code = "site_in_use"


class TariffInUse(InUse):
    """Live bookings at the site were priced by its tariff."""

    code = "tariff_in_use"


class ChargePointInUse(InUse):
    """The charge point has a live booking or an open transaction."""

    code = "charge_point_in_use"


class ConnectorInUse(InUse):
    """The connector has a live booking or an open transaction."""

    code = "connector_in_use"
