"""Downloading an engine's finished video without letting its answer point us anywhere.

A result URL comes from the engine's JSON, so it is treated as untrusted: it is fetched only
from the configured API host (which is loopback under `make run` and in tests) or from one of
the engine's documented media hosts (and their subdomains), over https on 443, and only when
every address that name resolves to is public (the connection goes to the checked address,
as in `safe_fetch`). It streams into a spooled temporary file within a size bound; an answer
shorter than its Content-Length is a retryable `ProviderUnavailable`.
"""

from __future__ import annotations

import http.client
import tempfile
import time
from typing import BinaryIO
from urllib.parse import urljoin, urlsplit

from chalicelib.adapters.safe_fetch import FetchRefused, PinnedHTTPS, Resolver, is_public, system_resolver
from chalicelib.adapters.video import ProviderRefused, ProviderUnavailable

MAX_VIDEO_BYTES = 400 * 1024 * 1024  # well within Lambda's /tmp
SPOOL_BYTES = 8 * 1024 * 1024  # kept in memory up to this, then spilled to /tmp
READ_SECONDS = 30.0  # for each read; the whole download gets TOTAL_SECONDS
TOTAL_SECONDS = 240.0
MAX_REDIRECTS = 3
_CHUNK = 256 * 1024
_DEFAULT_PORTS = {"http": 80, "https": 443}


class MediaHosts:
    def __init__(self, engine: str, api_base: str, domains: tuple[str, ...],
                 resolve: Resolver = system_resolver) -> None:
        api = urlsplit(api_base)
        self._engine = engine
        self._api = (api.scheme, (api.hostname or "").lower(), api.port or _DEFAULT_PORTS.get(api.scheme))
        self._domains = domains
        self._resolve = resolve

    def _target(self, url: str) -> tuple[str, str, int, str]:
        """(scheme, host, port, address) to fetch `url` from; ProviderRefused if it may not be."""
        parts = urlsplit(url)
        scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
        try:
            port = parts.port or _DEFAULT_PORTS.get(scheme)
        except ValueError:
            port = None
        if scheme not in _DEFAULT_PORTS or not host or port is None or parts.username or parts.password:
            raise ProviderRefused(f"{self._engine}'s result address is not a plain http(s) address")
        if (scheme, host, port) == self._api:
            # The host we are configured to talk to; under make run that is loopback.
            addresses = self._addresses(host, port)
        elif any(host == domain or host.endswith("." + domain) for domain in self._domains):
            if (scheme, port) != ("https", 443):
                raise ProviderRefused(f"{self._engine}'s result is not on https: {host}")
            addresses = self._addresses(host, port)
            if not all(is_public(address) for address in addresses):
                raise ProviderRefused(f"{self._engine}'s result host {host} leads to a private address")
        else:
            raise ProviderRefused(f"{self._engine}'s result is on {host}, which is not one of its hosts")
        return scheme, host, port, addresses[0]

    def _addresses(self, host: str, port: int) -> list[str]:
        try:
            addresses = self._resolve(host, port)
        except FetchRefused as error:
            raise ProviderUnavailable(str(error)) from None
        if not addresses:
            raise ProviderUnavailable(f"The address {host} could not be found.")
        return addresses

    def open(self, url: str, max_bytes: int = MAX_VIDEO_BYTES) -> BinaryIO:
        deadline = time.monotonic() + TOTAL_SECONDS
        for _ in range(MAX_REDIRECTS + 1):
            scheme, host, port, address = self._target(url)
            if scheme == "https":
                connection: http.client.HTTPConnection = PinnedHTTPS(address, host, port, READ_SECONDS)
            else:
                connection = http.client.HTTPConnection(address, port, timeout=READ_SECONDS)
            try:
                parts = urlsplit(url)
                path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
                netloc = host if port == _DEFAULT_PORTS[scheme] else f"{host}:{port}"
                connection.request("GET", path, headers={"Host": netloc, "Accept": "video/mp4"})
                response = connection.getresponse()
                if response.status in (301, 302, 303, 307, 308) and response.getheader("Location"):
                    url = urljoin(url, response.getheader("Location") or "")
                    continue
                return self._stream(response, max_bytes, deadline)
            except (OSError, http.client.HTTPException) as error:
                raise ProviderUnavailable(
                    f"{self._engine}'s result could not be downloaded: {error.__class__.__name__}"
                ) from None
            finally:
                connection.close()
        raise ProviderRefused(f"{self._engine}'s result redirects more than {MAX_REDIRECTS} times")

    def _stream(self, response: http.client.HTTPResponse, max_bytes: int, deadline: float) -> BinaryIO:
        if response.status in (404, 410):
            raise ProviderRefused(f"{self._engine}'s result is gone (HTTP {response.status})")
        if response.status != 200:
            raise ProviderUnavailable(f"{self._engine}'s result answered HTTP {response.status}")
        declared = response.getheader("Content-Length")
        expected = int(declared) if declared and declared.isdigit() else None
        if expected is not None and expected > max_bytes:
            raise ProviderRefused(f"{self._engine}'s result is larger than {max_bytes // 2**20} MiB")
        spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 - the caller closes it
        received = 0
        try:
            while chunk := response.read1(_CHUNK):  # one receive at a time, so the deadline holds
                received += len(chunk)
                if received > max_bytes:
                    raise ProviderRefused(f"{self._engine}'s result is larger than {max_bytes // 2**20} MiB")
                if time.monotonic() > deadline:
                    raise ProviderUnavailable(f"{self._engine}'s result took over {TOTAL_SECONDS:.0f} s")
                spool.write(chunk)
            if expected is not None and received < expected:
                raise ProviderUnavailable(
                    f"{self._engine}'s result was cut short: {received} of {expected} bytes"
                )
        except BaseException:
            spool.close()
            raise
        spool.seek(0)
        return spool  # type: ignore[return-value]
