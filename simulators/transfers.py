"""HTTP(S) file transfers of the charger: firmware downloads, diagnostics and log uploads.

S 5.9 / 5.19 leave the protocol to the location's scheme (FTP in most chargers); csms-sim speaks
HTTP and HTTPS: a GET for firmware, a PUT of ``location/fileName`` for diagnostics and logs (or,
under the multipart-upload quirk, a multipart/form-data POST to ``location`` with the file in the
field ``file``, as some chargers do). Anything else fails as a charger's transfer would. Proxies
in the environment are ignored: a charger talks to the servers it is told about. ``aiohttp`` is
imported on the first transfer only: most chargers (a fleet) never make one.
"""

from __future__ import annotations

import ssl
import urllib.parse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import aiohttp

#: A firmware image larger than this is refused (the simulator keeps it in memory).
MAX_DOWNLOAD_BYTES = 64 * 1024 * 1024


class TransferError(Exception):
    """The transfer failed; the message says why, for the event line."""


def _check_scheme(url: str) -> None:
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme not in ("http", "https"):
        raise TransferError(f"cannot transfer over {scheme or 'no scheme'}:// (HTTP(S) only)")


def upload_url(location: str, file_name: str) -> str:
    """Where a PUT goes: the file inside the location (a directory, S 5.9)."""
    return f"{location.rstrip('/')}/{urllib.parse.quote(file_name)}"


async def download(url: str, context: ssl.SSLContext | None, timeout: float) -> bytes:
    """GET ``url``; raise :class:`TransferError` unless it answers 2xx with a body we can hold."""
    import aiohttp

    _check_scheme(url)
    try:
        async with _session(timeout) as session, session.get(url, ssl=_tls(url, context)) as r:
            if r.status >= 300:
                raise TransferError(f"HTTP {r.status}")
            data = await r.content.read(MAX_DOWNLOAD_BYTES + 1)
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        raise TransferError(_describe(exc)) from None
    if len(data) > MAX_DOWNLOAD_BYTES:
        raise TransferError(f"larger than {MAX_DOWNLOAD_BYTES} bytes")
    return data


async def upload(
    location: str, file_name: str, data: bytes, *, multipart: bool,
    context: ssl.SSLContext | None, timeout: float,
) -> None:
    """PUT ``data`` to ``location/file_name`` (or POST it as multipart form data to
    ``location``); raise :class:`TransferError` unless the server answers 2xx."""
    import aiohttp

    _check_scheme(location)
    try:
        async with _session(timeout) as session:
            if multipart:
                form = aiohttp.FormData()
                form.add_field("file", data, filename=file_name,
                               content_type="text/plain")
                request = session.post(location, data=form, ssl=_tls(location, context))
            else:
                url = upload_url(location, file_name)
                request = session.put(url, data=data, ssl=_tls(url, context),
                                      headers={"Content-Type": "text/plain"})
            async with request as response:
                if response.status >= 300:
                    raise TransferError(f"HTTP {response.status}")
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        raise TransferError(_describe(exc)) from None


def _session(timeout: float) -> aiohttp.ClientSession:
    import aiohttp

    return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout), trust_env=False)


def _tls(url: str, context: ssl.SSLContext | None) -> ssl.SSLContext | bool:
    return context if context is not None and url.lower().startswith("https:") else True


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    return str(exc) or type(exc).__name__
