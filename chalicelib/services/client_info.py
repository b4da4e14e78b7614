"""The technical information the privacy policy lists, read from a request: client address,
approximate country (from the edge's header), browser, operating system and device."""

from __future__ import annotations

import re
from dataclasses import dataclass

_BROWSERS = (
    ("Edge", re.compile(r"Edg(e|A|iOS)?/")),
    ("Opera", re.compile(r"OPR/|Opera")),
    ("Firefox", re.compile(r"Firefox/|FxiOS/")),
    ("Chrome", re.compile(r"Chrome/|CriOS/|Chromium/")),
    ("Safari", re.compile(r"Version/[\d.]+.*Safari/")),
    ("curl", re.compile(r"^curl/")),
)
_SYSTEMS = (
    ("Windows", re.compile(r"Windows NT")),
    ("Android", re.compile(r"Android")),
    ("iOS", re.compile(r"iPhone|iPad|iPod")),
    ("macOS", re.compile(r"Mac OS X|Macintosh")),
    ("ChromeOS", re.compile(r"CrOS")),
    ("Linux", re.compile(r"Linux")),
)
_COUNTRY = re.compile(r"^[A-Z]{2}$")


@dataclass(frozen=True)
class ClientInfo:
    ip: str | None = None
    country: str | None = None
    user_agent: str = ""

    @classmethod
    def from_request(cls, source_ip: str | None, headers: dict[str, str]) -> ClientInfo:
        country = (headers.get("cloudfront-viewer-country") or "").upper()
        return cls(
            ip=source_ip or None,
            country=country if _COUNTRY.match(country) else None,
            user_agent=(headers.get("user-agent") or "")[:512],
        )

    @property
    def browser(self) -> str:
        return next((name for name, rule in _BROWSERS if rule.search(self.user_agent)), "Other")

    @property
    def os(self) -> str:
        return next((name for name, rule in _SYSTEMS if rule.search(self.user_agent)), "Other")

    @property
    def device(self) -> str:
        agent = self.user_agent
        if re.search(r"bot|crawler|spider", agent, re.IGNORECASE):
            return "bot"
        if re.search(r"iPad|Tablet", agent):
            return "tablet"
        if re.search(r"Mobi|iPhone|Android", agent):
            return "mobile"
        return "desktop"
