"""The privacy policy: its versions, which is in force, and who must accept it again.

Every version is listed here with its effective date and whether it changes something
material. Signup accepts the version in force; a material change asks every user to accept
again at their next login, and every active user is told by email once (policy_notices).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date
from pathlib import Path

CONTACT = "contact@aisora2.com"
MINIMUM_AGE = 13
RESPONSE_DAYS = 30
ERASURE_DAYS = 30
TRANSACTION_RECORD_YEARS = 7

_DATA = Path(__file__).resolve().parent.parent / "data"


@dataclass(frozen=True)
class PolicyVersion:
    version: str
    effective_date: date
    last_updated: date
    material: bool
    summary: str
    text_file: str
    # The outside services the text names as processors of prompts and images; using any
    # other video provider is a material change that needs a new version first.
    video_processors: tuple[str, ...]

    @property
    def text(self) -> str:
        return _text(self.text_file)


VERSIONS: tuple[PolicyVersion, ...] = (
    PolicyVersion(
        version="2025-10-08",
        effective_date=date(2025, 10, 8),
        last_updated=date(2025, 10, 8),
        material=True,
        summary="The first privacy policy of AISora2.",
        text_file="privacy-policy.txt",
        video_processors=("openai",),
    ),
    PolicyVersion(
        version="2026-11-29",
        effective_date=date(2026, 11, 29),
        last_updated=date(2026, 11, 29),
        material=True,
        summary="OpenAI's Sora 2 API closed: videos are now made by fal.ai, Replicate or an "
                "OpenAI-compatible gateway, each named here.",
        text_file="privacy-policy-2026-11-29.txt",
        video_processors=("fal", "replicate", "openai"),
    ),
)

# How the policy's text names each video engine the catalogue can route to.
PROCESSOR_NAMES = {"fal": "fal.ai", "replicate": "Replicate", "openai": "OpenAI-compatible gateway"}


@functools.cache
def _text(name: str) -> str:
    return (_DATA / name).read_text(encoding="utf-8")


def in_force(today: date | None = None) -> PolicyVersion:
    today = today or date.today()
    return max((v for v in VERSIONS if v.effective_date <= today), key=lambda v: v.effective_date)


def by_version(version: str, versions: tuple[PolicyVersion, ...] = VERSIONS) -> PolicyVersion | None:
    return next((v for v in versions if v.version == version), None)


def needs_acceptance(
    accepted_version: str | None,
    today: date | None = None,
    versions: tuple[PolicyVersion, ...] = VERSIONS,
) -> bool:
    """True when a material change took effect after the version the user accepted."""
    today = today or date.today()
    material = [v for v in versions if v.material and v.effective_date <= today]
    accepted = by_version(accepted_version or "", versions)
    latest = max(material, key=lambda v: v.effective_date)
    return accepted is None or accepted.effective_date < latest.effective_date


def covers_provider(provider: str, today: date | None = None) -> bool:
    """Whether the policy in force names this video provider (the local renderer is ours)."""
    return provider == "local" or provider in in_force(today).video_processors


def unnamed_processors(engines: frozenset[str], today: date | None = None) -> set[str]:
    """The engines (other than our local renderer) that the policy in force does not name, in
    its list of processors and in its words: each must be named before it can be configured."""
    policy = in_force(today)
    return {engine for engine in engines - {"local"}
            if engine not in policy.video_processors or PROCESSOR_NAMES.get(engine, "\0") not in policy.text}


def current(today: date | None = None) -> dict[str, object]:
    policy = in_force(today)
    return {
        "version": policy.version,
        "effective_date": policy.effective_date.isoformat(),
        "last_updated": policy.last_updated.isoformat(),
        "material": policy.material,
        "summary": policy.summary,
        "contact": CONTACT,
        "minimum_age": MINIMUM_AGE,
        "request_response_days": RESPONSE_DAYS,
        "erasure_days": ERASURE_DAYS,
        "transaction_record_years": TRANSACTION_RECORD_YEARS,
        "versions": [
            {"version": v.version, "effective_date": v.effective_date.isoformat(), "material": v.material,
             "summary": v.summary}
            for v in VERSIONS
        ],
        "text": policy.text,
    }
