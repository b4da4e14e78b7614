"""The privacy policy in force. Its version is what signup must accept."""

from __future__ import annotations

import functools
from pathlib import Path

VERSION = "2025-10-08"
EFFECTIVE_DATE = "2025-10-08"
LAST_UPDATED = "2025-10-08"
CONTACT = "contact@aisora2.com"
MINIMUM_AGE = 13
RESPONSE_DAYS = 30
ERASURE_DAYS = 30
TRANSACTION_RECORD_YEARS = 7

_TEXT = Path(__file__).resolve().parent.parent / "data" / "privacy-policy.txt"


@functools.cache
def current() -> dict[str, object]:
    return {
        "version": VERSION,
        "effective_date": EFFECTIVE_DATE,
        "last_updated": LAST_UPDATED,
        "contact": CONTACT,
        "minimum_age": MINIMUM_AGE,
        "request_response_days": RESPONSE_DAYS,
        "erasure_days": ERASURE_DAYS,
        "transaction_record_years": TRANSACTION_RECORD_YEARS,
        "text": _TEXT.read_text(encoding="utf-8"),
    }
