"""Settings, read once from the environment (prefix ``CSMS_``).

:meth:`Settings.from_env` is the only place in csms that reads ``os.environ``; everything else
receives a :class:`Settings` (or the single values it needs).
"""

from __future__ import annotations

import dataclasses
import os
import socket
import urllib.parse
from collections.abc import Mapping
from pathlib import Path

from csms.domain.security_profiles import ServedSecurity
from csms.domain.terms import BookingTerms
from csms.errors import ConfigurationError

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


@dataclasses.dataclass(frozen=True, slots=True)
class Settings:
    """Everything a deployment can set. Field ``x`` is read from ``CSMS_X``."""

    #: PostgreSQL URL; ``None`` starts an embedded PostgreSQL in :attr:`data_dir`.
    database_url: str | None = None
    #: Where the embedded PostgreSQL keeps its data (and other local state).
    data_dir: Path = Path(".csms")
    host: str = "127.0.0.1"
    #: HTTP API and web pages.
    http_port: int = 8080
    #: OCPP WebSocket endpoint ``ws://host:ocpp_port/ocpp/{id}``; may equal :attr:`http_port`.
    ocpp_port: int = 9000
    #: Admit unknown charge point ids as ``pending`` instead of refusing them with 404.
    auto_register: bool = False
    #: TLS for the OCPP port (security profile 2); both or neither.
    tls_cert: Path | None = None
    tls_key: Path | None = None
    #: CA bundle to verify charger client certificates (security profile 3).
    tls_client_ca: Path | None = None
    #: With TLS on the OCPP port, also serve plain WebSocket here (profile 0/1 chargers; 0: no).
    ocpp_plain_port: int = 0
    #: The CA that signs chargers' certificate requests (SignCertificate, security extension
    #: A02/A03): its PEM certificate (certificates after the first are sent along as its chain)
    #: and its unencrypted PEM key; both or neither. Unset: every request is Rejected.
    csr_ca_cert: Path | None = None
    csr_ca_key: Path | None = None
    #: Days a certificate signed for a charger is valid (never beyond the CA's own end).
    csr_validity_days: int = 365
    #: The operator's name: when set, a request's subject must carry it as organizationName
    #: (the white paper's O = CPO name; chargers take it from their CpoName key).
    csr_organization: str | None = None
    #: Heartbeat interval (seconds) given to chargers in BootNotification.conf.
    heartbeat_interval: int = 300
    #: How long a CSMS-initiated call waits for the charger's answer (seconds).
    call_timeout: float = 30.0
    #: How often batched live state (last seen, connector status) is written (seconds).
    live_state_flush_interval: float = 0.25
    db_pool_min: int = 2
    db_pool_max: int = 10
    #: Identifies this process among several CSMS nodes sharing one database.
    node_id: str = dataclasses.field(
        default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}"
    )
    #: ``csms serve`` processes sharing the ports on this machine (Linux; csms.serve_processes):
    #: above 1, a supervising parent runs this many workers, node ``<node_id>-w<k>`` each.
    workers: int = 1
    #: Largest accepted HTTP request body and OCPP frame (bytes).
    max_body_bytes: int = 65536
    #: Lifetime of API bearer tokens (seconds).
    token_ttl: int = 86400
    #: Abuse limits on the HTTP API, per node and in memory (see csms.domain.rate_limits):
    #: sign-in attempts per client address per minute, each counted before any password hashing;
    sign_in_per_minute: int = 10
    #: failed sign-ins per account from one address per hour (successes do not count);
    sign_in_failures_per_hour: int = 10
    #: failed sign-ins per account per hour from addresses it was not signed in from in 30 days —
    #: more than the above, so that a guesser at one address cannot lock the owner out;
    sign_in_account_failures_per_hour: int = 50
    #: sign-ups per client address per hour (also bounds probing which emails are registered);
    sign_up_per_hour: int = 10
    #: booking attempts (POST /api/v1/reservations) per user per hour;
    bookings_per_hour: int = 30
    #: event streams (GET /api/v1/events) open at once per token (a browser opens 6 per host).
    streams_per_token: int = 6
    log_level: str = "INFO"
    #: ``text`` (readable lines) or ``json`` (one object per line: csms.logs).
    log_format: str = "text"
    #: Booking windows: shortest and longest (minutes), and how far ahead (days).
    booking_min_minutes: int = 15
    booking_max_minutes: int = 720
    booking_max_days_ahead: int = 30
    #: ReserveNow goes out this long before a window starts (seconds; 0 = at the start).
    reserve_lead_seconds: int = 0
    #: Wait between attempts to put a booking on a charger that is offline or busy (seconds).
    dispatch_retry_seconds: float = 30.0
    #: The scheduler looks for due work at least this often (it is also woken by NOTIFY).
    scheduler_poll_seconds: float = 1.0
    #: Wrong codes at one charger within the window that lock its keypad for codes.
    wrong_code_limit: int = 5
    wrong_code_window_seconds: int = 300
    #: Cards (idTags) a driver may register for themselves.
    max_cards_per_driver: int = 10
    #: Connections: seconds to complete the WebSocket upgrade (or send a first HTTP request);
    #: seconds between WebSocket pings (a missing pong closes the socket); heartbeat intervals
    #: of silence after which a charger is closed and marked offline; connections per source
    #: address that have not completed the upgrade yet.
    handshake_timeout: float = 10.0
    ws_ping_interval: float = 60.0
    idle_heartbeats: int = 3
    max_pending_per_address: int = 100
    #: At start, how long to keep trying to reach a configured database (seconds).
    db_start_patience: float = 60.0
    #: Local authorization lists (S 3.5): kept in step with the id tags on every charger that
    #: manages one; how often chargers whose list fell behind are looked for, and how long
    #: after a charger connects its list is checked (it boots first).
    local_lists: bool = True
    local_list_sync_seconds: float = 30.0
    local_list_settle_seconds: float = 5.0
    #: At sites with ``codes_on_local_list``, how long before its window a booking's code is
    #: put on its charger's list (seconds): offline, the charger accepts it from then on.
    local_list_code_lead_seconds: int = 900
    #: Firmware images and diagnostics uploads (S 5.9, 5.19), kept under ``data_dir/files``:
    #: the largest file csms accepts (bytes), and the base URL chargers reach csms's file
    #: locations at (``/ocpp-files/…`` on the OCPP port). Unset: derived from :attr:`host` and
    #: :attr:`ocpp_port` (https with TLS) — set it to the public address behind NAT or a proxy.
    max_file_bytes: int = 256 * 1024 * 1024
    files_base_url: str | None = None
    #: The OCPP message log (every frame in and out, per charger): on or off, how many days
    #: it is kept (whole days are dropped), and how often it is written in a batch (seconds).
    message_log: bool = True
    message_log_retention_days: int = 7
    message_log_flush_interval: float = 0.5
    #: Notifications (csms.workers.notifications): a ``reminder`` this many minutes before a
    #: booking's window (0: none); webhook attempts before an event is dead-lettered, the wait
    #: before the first retry (seconds, doubling up to an hour, with jitter), and how long one
    #: POST may take (seconds); the email transport: ``off``, ``log`` or ``file:PATH``.
    reminder_minutes: int = 30
    webhook_max_attempts: int = 8
    webhook_retry_seconds: float = 10.0
    webhook_timeout: float = 10.0
    email: str = "log"

    def idle_after(self) -> float | None:
        """Seconds of silence after which a charger is closed (None: never).

        A charger sends something at least every heartbeat interval (S 4.6); a margin of one
        handshake covers a charger that was busy reconnecting.
        """
        if self.idle_heartbeats <= 0:
            return None
        return self.idle_heartbeats * self.heartbeat_interval + self.handshake_timeout

    def served_security(self) -> ServedSecurity:
        """What chargers can use here: TLS, client certificates (security profiles 2 and 3)."""
        return ServedSecurity(self.tls_cert is not None, self.tls_client_ca is not None)

    def files_base(self) -> str:
        """The base URL of csms's file locations as chargers reach it (no trailing slash)."""
        if self.files_base_url:
            return self.files_base_url.rstrip("/")
        scheme = "https" if self.tls_cert is not None else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.ocpp_port}"

    def booking_terms(self) -> BookingTerms:
        """The terms of a site that sets none of its own."""
        return BookingTerms(
            min_booking_minutes=self.booking_min_minutes,
            max_booking_minutes=self.booking_max_minutes,
            max_days_ahead=self.booking_max_days_ahead,
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Build settings from ``CSMS_*`` variables; ``overrides`` (e.g. CLI flags) win."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for field in dataclasses.fields(cls):
            raw = env.get(f"CSMS_{field.name.upper()}")
            if raw is not None:
                values[field.name] = _convert(field.name, str(field.type), raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        settings = cls(**values)  # type: ignore[arg-type]
        settings.check()
        return settings

    def check(self) -> None:
        """Raise :class:`ConfigurationError` for combinations that cannot work."""
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ConfigurationError("CSMS_TLS_CERT and CSMS_TLS_KEY must be set together")
        if self.tls_client_ca is not None and self.tls_cert is None:
            raise ConfigurationError("CSMS_TLS_CLIENT_CA needs CSMS_TLS_CERT and CSMS_TLS_KEY")
        if (self.csr_ca_cert is None) != (self.csr_ca_key is None):
            raise ConfigurationError("CSMS_CSR_CA_CERT and CSMS_CSR_CA_KEY must be set together")
        if self.csr_validity_days < 1:
            raise ConfigurationError("CSMS_CSR_VALIDITY_DAYS must be at least 1")
        if not 0 <= self.local_list_code_lead_seconds <= 86400:
            raise ConfigurationError("CSMS_LOCAL_LIST_CODE_LEAD_SECONDS must be 0 to 86400")
        if self.ocpp_plain_port and self.tls_cert is None:
            raise ConfigurationError("CSMS_OCPP_PLAIN_PORT is for TLS deployments; use OCPP_PORT")
        for name in ("http_port", "ocpp_port", "ocpp_plain_port"):
            port = getattr(self, name)
            if not 0 <= port <= 65535:
                raise ConfigurationError(f"CSMS_{name.upper()} must be a port number, not {port}")
        if not 1 <= self.booking_min_minutes <= self.booking_max_minutes:
            raise ConfigurationError(
                "need 1 <= CSMS_BOOKING_MIN_MINUTES <= CSMS_BOOKING_MAX_MINUTES"
            )
        if self.log_format not in ("text", "json"):
            raise ConfigurationError(
                f"CSMS_LOG_FORMAT must be text or json, not {self.log_format!r}"
            )
        if self.workers < 1:
            raise ConfigurationError(f"CSMS_WORKERS must be at least 1, not {self.workers}")
        if self.db_pool_min < 1 or self.db_pool_max < self.db_pool_min:
            raise ConfigurationError("need 1 <= CSMS_DB_POOL_MIN <= CSMS_DB_POOL_MAX")
        if not 1 <= self.message_log_retention_days <= 3660:
            raise ConfigurationError("CSMS_MESSAGE_LOG_RETENTION_DAYS must be 1 to 3660")
        if not 0 <= self.reminder_minutes <= 10080:
            raise ConfigurationError("CSMS_REMINDER_MINUTES must be 0 to 10080 (a week)")
        if not 1 <= self.webhook_max_attempts <= 100:
            raise ConfigurationError("CSMS_WEBHOOK_MAX_ATTEMPTS must be 1 to 100")
        if self.webhook_retry_seconds <= 0 or self.webhook_timeout <= 0:
            raise ConfigurationError("CSMS_WEBHOOK_RETRY_SECONDS and _TIMEOUT must be above 0")
        to_file = self.email.startswith("file:") and len(self.email) > len("file:")
        if self.email not in ("off", "log") and not to_file:
            raise ConfigurationError(f"CSMS_EMAIL must be off, log or file:PATH: {self.email!r}")
        if self.max_file_bytes < 1:
            raise ConfigurationError("CSMS_MAX_FILE_BYTES must be at least 1")
        if self.files_base_url is not None and not _is_base_url(self.files_base_url):
            raise ConfigurationError(
                "CSMS_FILES_BASE_URL must be an http:// or https:// URL with a host, "
                "without query or fragment"
            )


def _is_base_url(url: str) -> bool:
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return False
    plain = not (parts.query or parts.fragment)
    return parts.scheme in ("http", "https") and bool(parts.hostname) and plain


def _convert(name: str, annotation: str, raw: str) -> object:
    try:
        if annotation.startswith("bool"):
            lowered = raw.strip().lower()
            if lowered not in _TRUE | _FALSE:
                raise ValueError(raw)
            return lowered in _TRUE
        if annotation.startswith("int"):
            return int(raw)
        if annotation.startswith("float"):
            return float(raw)
        if "Path" in annotation:
            return Path(raw) if raw else None
        if annotation.startswith("str | None"):
            return raw or None
        return raw
    except ValueError:
        raise ConfigurationError(
            f"CSMS_{name.upper()}={raw!r} is not a valid {annotation}"
        ) from None
