"""One pynamodb model per table; tests and the local stack create tables from these."""

from chalicelib.models.audit import AuditEntry
from chalicelib.models.billing import BillingEvent, Checkout, LocalCheckout, Payment, Subscription
from chalicelib.models.jobs import VideoJob
from chalicelib.models.ledger import LedgerEntry
from chalicelib.models.privacy import DataExport, PrivacyRequest, SupportInquiry
from chalicelib.models.sessions import Session
from chalicelib.models.throttles import Throttle
from chalicelib.models.tokens import OneTimeToken
from chalicelib.models.users import EmailClaim, User

ALL_MODELS = (
    User,
    EmailClaim,
    Session,
    OneTimeToken,
    AuditEntry,
    Throttle,
    LedgerEntry,
    VideoJob,
    DataExport,
    PrivacyRequest,
    SupportInquiry,
    BillingEvent,
    Checkout,
    Subscription,
    Payment,
    LocalCheckout,
)

__all__ = [
    "ALL_MODELS",
    "AuditEntry",
    "BillingEvent",
    "Checkout",
    "DataExport",
    "EmailClaim",
    "LedgerEntry",
    "LocalCheckout",
    "OneTimeToken",
    "Payment",
    "PrivacyRequest",
    "Session",
    "Subscription",
    "SupportInquiry",
    "Throttle",
    "User",
    "VideoJob",
]
