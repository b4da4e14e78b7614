"""Fetching a user-given URL without letting it reach anything private.

Only http and https on ports 80 and 443; every address the name resolves to must be globally
routable (IPv4-mapped IPv6 unwrapped; loopback, private, link-local, shared 100.64.0.0/10,
metadata and reserved ranges refused); the connection goes to the address that was checked,
so a DNS answer that changes between check and use changes nothing; at most 3 redirects,
each checked again; 3 s to connect, 10 s in all; at most 10 MiB.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

CONNECT_SECONDS = 3.0
TOTAL_SECONDS = 10.0
MAX_REDIRECTS = 3
MAX_BYTES = 10 * 1024 * 1024
_PORTS = {"http": 80, "https": 443}
_SHARED = ipaddress.ip_network("100.64.0.0/10")

Resolver = Callable[[str, int], list[str]]


class FetchRefused(Exception):
    """Raised with a reason a person can act on; nothing was fetched from a refused address."""


def system_resolver(host: str, port: int) -> list[str]:
    try:
        answers = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except socket.gaierror:
        raise FetchRefused(f"The address {host} could not be found.") from None
    return sorted({str(a[4][0]) for a in answers})


def is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if isinstance(ip, ipaddress.IPv4Address) and ip in _SHARED:
        return False
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_unspecified)


@dataclass(frozen=True)
class Fetched:
    url: str
    content_type: str
    data: bytes


class PinnedHTTPS(http.client.HTTPSConnection):
    """HTTPS to a checked address, with the certificate checked against the host name."""

    def __init__(self, address: str, host: str, port: int, timeout: float) -> None:
        super().__init__(address, port, timeout=timeout, context=ssl.create_default_context())
        self._server_name = host

    def connect(self) -> None:
        raw = socket.create_connection((self.host, self.port), timeout=CONNECT_SECONDS)
        raw.settimeout(self.timeout)
        self.sock = self._context.wrap_socket(raw, server_hostname=self._server_name)  # type: ignore[attr-defined]


class SafeFetcher:
    def __init__(self, resolve: Resolver = system_resolver,
                 allowed: Callable[[str], bool] = is_public,
                 ports: dict[str, int] | None = None) -> None:
        # Tests stand a server on loopback with its own port; production keeps all three.
        self._resolve = resolve
        self._allowed = allowed
        self._ports = ports or _PORTS

    def _target(self, url: str) -> tuple[str, str, int, str, str]:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in self._ports:
            raise FetchRefused("Only http and https addresses can be fetched.")
        if parts.username or parts.password:
            raise FetchRefused("Addresses with a user name or password are not fetched.")
        host = parts.hostname
        if not host:
            raise FetchRefused("The address has no host.")
        try:
            port = parts.port or _PORTS[scheme]
        except ValueError:
            raise FetchRefused("The address has an invalid port.") from None
        if port != self._ports[scheme]:
            raise FetchRefused(f"Only port {self._ports[scheme]} is fetched for {scheme} addresses.")
        addresses = self._resolve(host, port)
        if not addresses:
            raise FetchRefused(f"The address {host} could not be found.")
        refused = [a for a in addresses if not self._allowed(a)]
        if refused:
            raise FetchRefused(
                f"{host} leads to a private or reserved address; only public ones are fetched."
            )
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        return scheme, host, port, addresses[0], path

    def fetch(self, url: str) -> Fetched:
        deadline = time.monotonic() + TOTAL_SECONDS
        for _ in range(MAX_REDIRECTS + 1):
            scheme, host, port, address, path = self._target(url)
            left = deadline - time.monotonic()
            if left <= 0:
                raise FetchRefused("The image took longer than 10 seconds to fetch.")
            if scheme == "https":
                connection: http.client.HTTPConnection = PinnedHTTPS(address, host, port, left)
            else:
                connection = http.client.HTTPConnection(address, port, timeout=min(left, CONNECT_SECONDS))
            try:
                # Only default ports are fetched, so the Host header is the bare name.
                connection.request("GET", path, headers={
                    "Host": host,
                    "User-Agent": "AISora2-reference-fetcher",
                    "Accept": "image/jpeg, image/png, image/webp",
                })
                if connection.sock is not None:
                    connection.sock.settimeout(max(0.1, deadline - time.monotonic()))
                response = connection.getresponse()
                if response.status in (301, 302, 303, 307, 308):
                    location = response.getheader("Location")
                    if not location:
                        raise FetchRefused("The address redirects nowhere.")
                    url = urljoin(url, location)
                    continue
                if response.status != 200:
                    raise FetchRefused(f"The address answered {response.status}, not an image.")
                declared = int(response.getheader("Content-Length") or 0)
                if declared > MAX_BYTES:
                    raise FetchRefused("The image is larger than 10 MiB.")
                body = bytearray()
                while chunk := response.read(64 * 1024):
                    body += chunk
                    if len(body) > MAX_BYTES:
                        raise FetchRefused("The image is larger than 10 MiB.")
                    if time.monotonic() > deadline:
                        raise FetchRefused("The image took longer than 10 seconds to fetch.")
                return Fetched(url, response.getheader("Content-Type") or "", bytes(body))
            except (OSError, http.client.HTTPException) as error:
                raise FetchRefused(f"The image could not be fetched: {error.__class__.__name__}.") from None
            finally:
                connection.close()
        raise FetchRefused(f"The address redirects more than {MAX_REDIRECTS} times.")
