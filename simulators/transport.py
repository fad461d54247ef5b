"""Where and how the charger connects, for the security profile in force (SEC security profiles).

* Profiles 0 and 1 use the URL given (``--url``); profiles 2 and 3 use TLS: the URL itself when
  it is ``wss://``, else ``--tls-url``, else the given URL with ``ws://`` turned into ``wss://``.
* HTTP Basic auth (username = charger id, password = AuthorizationKey) goes with every handshake
  while an AuthorizationKey is set (profiles 1 and 2; with 3 too, for central systems that keep
  checking a stored key).
* TLS ≥ 1.2, the server verified with ``--ca-file`` (else the system's CAs) plus every installed
  CentralSystemRootCertificate; with profile 3 the client certificate from CertificateSigned,
  else the one given with ``--client-cert/--client-key``.

A profile is chosen when nothing says otherwise (:func:`initial_profile`): 3 for ``wss://``
with a client certificate, 2 for ``wss://``, 1 with a key, else 0.
"""

from __future__ import annotations

import base64
import dataclasses
import ssl
import tempfile
import urllib.parse
from pathlib import Path

from websockets.exceptions import InvalidStatus

from simulators.model import ChargePointModel


@dataclasses.dataclass(frozen=True, slots=True)
class Target:
    url: str
    ssl: ssl.SSLContext | None
    headers: dict[str, str]


def initial_profile(url: str, key: str | None, cert_file: str | None) -> int:
    """The SecurityProfile the options given amount to."""
    if url.startswith("wss://"):
        return 3 if cert_file else 2
    return 1 if key else 0


def tls_url_of(url: str) -> str:
    """``ws://host/path`` → ``wss://host/path`` (the same host and port)."""
    return "wss://" + url[len("ws://"):] if url.startswith("ws://") else url


class Transport:
    """Builds each connection attempt's URL, TLS context and headers from the model's state."""

    __slots__ = ("_cached", "ca_file", "cert_file", "cp_id", "key_file", "tls_url", "url")

    def __init__(self, url: str, cp_id: str, *, tls_url: str | None = None,
                 ca_file: str | None = None, cert_file: str | None = None,
                 key_file: str | None = None) -> None:
        self.url = url.rstrip("/")
        self.tls_url = (tls_url or tls_url_of(self.url)).rstrip("/")
        self.cp_id = cp_id
        self.ca_file, self.cert_file, self.key_file = ca_file, cert_file, key_file
        self._cached: tuple[tuple[int, int], ssl.SSLContext] | None = None

    def base_for(self, profile: int) -> str:
        if profile >= 2 and not self.url.startswith("wss://"):
            return self.tls_url
        return self.url

    def target(self, model: ChargePointModel) -> Target:
        """Where to connect now (raises OSError / ssl.SSLError for unusable TLS files)."""
        profile = model.config.get_int("SecurityProfile")
        base = self.base_for(profile)
        url = f"{base}/{urllib.parse.quote(self.cp_id, safe='')}"
        headers = {}
        key = model.config.get("AuthorizationKey")
        if key:
            token = base64.b64encode(f"{self.cp_id}:{key}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        context = self._context(model, profile) if base.startswith("wss://") else None
        return Target(url, context, headers)

    def _context(self, model: ChargePointModel, profile: int) -> ssl.SSLContext:
        """A TLS context for ``profile``, rebuilt only when the certificates changed."""
        version = (profile, model.certs.version)
        if self._cached is not None and self._cached[0] == version:
            return self._cached[1]
        context = self.verifying_context(model)
        if profile == 3:
            self._load_client_certificate(model, context)
        self._cached = (version, context)
        return context

    def verifying_context(self, model: ChargePointModel) -> ssl.SSLContext:
        """TLS ≥ 1.2 trusting ``--ca-file`` (or the system) and the installed
        CentralSystemRootCertificates; also used for HTTPS file transfers."""
        context = ssl.create_default_context(cafile=self.ca_file)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        roots = model.certs.trusted_pem("CentralSystemRootCertificate")
        if roots:
            context.load_verify_locations(cadata=roots)
        return context

    def _load_client_certificate(self, model: ChargePointModel, context: ssl.SSLContext) -> None:
        pems = model.certs.client_pems()
        if pems is None:
            if self.cert_file:
                context.load_cert_chain(self.cert_file, self.key_file)
            return
        # ssl loads certificate chains from files only: a private directory, gone at once.
        with tempfile.TemporaryDirectory(prefix="csms-sim-") as directory:
            chain, key = Path(directory, "chain.pem"), Path(directory, "key.pem")
            chain.write_bytes(pems[0])
            key.touch(mode=0o600)
            key.write_bytes(pems[1])
            context.load_cert_chain(str(chain), str(key))


def describe_failure(exc: BaseException) -> str:
    """A failed connection attempt in a few words (``HTTP 404``, ``timed out``, …)."""
    if isinstance(exc, InvalidStatus):
        return f"HTTP {exc.response.status_code}"
    if isinstance(exc, TimeoutError):
        return "timed out"
    return str(exc) or type(exc).__name__


def failure_kind(exc: BaseException) -> str:
    """What a failed handshake means for the security events (SEC Appendix 1)."""
    if isinstance(exc, InvalidStatus) and exc.response.status_code in (401, 403):
        return "auth"  # the CSMS refused our AuthorizationKey
    if isinstance(exc, ssl.SSLCertVerificationError):
        return "certificate"  # the CSMS's certificate did not verify
    return "tls" if isinstance(exc, ssl.SSLError) else "network"
