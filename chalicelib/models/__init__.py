"""One pynamodb model per table; tests and the local stack create tables from these."""

from chalicelib.models.jobs import VideoJob
from chalicelib.models.ledger import LedgerEntry
from chalicelib.models.sessions import Session
from chalicelib.models.users import EmailClaim, User

ALL_MODELS = (User, EmailClaim, Session, LedgerEntry, VideoJob)

__all__ = ["ALL_MODELS", "EmailClaim", "LedgerEntry", "Session", "User", "VideoJob"]
