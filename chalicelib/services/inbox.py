"""Privacy requests and the support inbox: received (limited, since each mails an address someone
typed), acknowledged in fixed words, and listed for operators by when they are due. A child
report is a privacy request like the others; what operators decide on it is in reports.py."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from pynamodb.exceptions import UpdateError

from chalicelib.errors import InvalidInput, NotFound
from chalicelib.models import PrivacyRequest, SupportInquiry
from chalicelib.models.base import utcnow
from chalicelib.services import accounts, notices, policy, throttling
from chalicelib.services.client_info import ClientInfo
from chalicelib.services.notices import Notice
from chalicelib.services.privacy import PrivacyDeps, send
from chalicelib.services.throttling import Limit

REQUEST_TYPES = ("access", "correction", "deletion", "objection", "withdrawal", "child_report", "other")
SUPPORT_BUSINESS_DAYS = 3
OPERATORS = "contact@aisora2.com"
MAX_MESSAGE = 5000

# Requests, support messages and child reports need no account and each sends mail to an address
# the sender typed: without limits, a way to flood anyone's inbox from our name (and to get our
# sending paused). A handful of acknowledgements an hour reach one address, whichever route.
TO_ONE_RECIPIENT = Limit("ack:recipient", allowed=5, window_seconds=3600,
                         message="Too many messages to this email address.")
REQUESTS_PER_ADDRESS = Limit("privacy-request:address", allowed=10, window_seconds=3600,
                             message="Too many privacy requests from your network.")
SUPPORT_PER_ADDRESS = Limit("support:address", allowed=10, window_seconds=3600,
                            message="Too many support messages from your network.")
# A report mails the account's owner and queues work for an operator: few a day per reporter's
# address and per reported address.
REPORTS_PER_ADDRESS = Limit("child-report:address", allowed=5, window_seconds=24 * 3600,
                            message="Too many reports from your network.")
REPORTS_PER_SUBJECT = Limit("child-report:subject", allowed=3, window_seconds=24 * 3600,
                            message="This account was reported several times today; we review it.")


def _text(body: dict[str, Any], field: str, limit: int, required: bool = True) -> str:
    value = body.get(field, "")
    if not isinstance(value, str) or (required and not value.strip()):
        raise InvalidInput(f"{field} is required", field=field)
    if len(value) > limit:
        raise InvalidInput(f"{field} must have at most {limit} characters", field=field)
    return value.strip()


def submit_request(
    body: dict[str, Any], user_id: str | None, deps: PrivacyDeps, client: ClientInfo,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Records a request for an operator and acknowledges it in fixed words. A child report only
    opens a request (and tells the account's owner, not who reported): an operator decides."""
    now = now or utcnow()
    kind = body.get("type")
    if kind not in REQUEST_TYPES:
        raise InvalidInput(f"type must be one of {', '.join(REQUEST_TYPES)}", field="type")
    message = _text(body, "message", MAX_MESSAGE, required=False)
    # A field that does not apply is refused, not silently dropped.
    if user_id is not None and "email" in body:
        raise InvalidInput("email is for requests made without signing in; we answer yours at "
                           "your account's address", field="email")
    if kind != "child_report" and "child_email" in body:
        raise InvalidInput("child_email is only for a child_report", field="child_email")
    contact = None
    if user_id is None:
        contact = accounts.normalise_email(body.get("email"))
    subject_email = None
    if kind == "child_report":
        subject_email = accounts.normalise_email(body.get("child_email"), field="child_email")
    reply_to = accounts.get_user(user_id).email if user_id else str(contact)
    uses = [(REQUESTS_PER_ADDRESS, client.ip), (TO_ONE_RECIPIENT, reply_to)]
    if subject_email:
        uses += [(REPORTS_PER_ADDRESS, client.ip), (REPORTS_PER_SUBJECT, subject_email)]
    throttling.take_each(uses)
    # Bound to the account that uses the address now: a later change of address moves nothing.
    reported = accounts.user_by_email(subject_email) if subject_email else None
    request = PrivacyRequest(
        uuid.uuid4().hex, type=kind, user_id=user_id, contact_email=contact,
        subject_email=subject_email, subject_user_id=reported.user_id if reported else None,
        message=message, received_at=now, due_at=now + timedelta(days=policy.RESPONSE_DAYS),
        is_open="open",
    )
    request.save()
    if reported is not None and reported.status == "active":
        send(deps, reported.email, notices.child_reported())
    send(deps, reply_to, notices.request_received(kind, now, request.due_at, request.request_id))
    return {"id": request.request_id, "type": kind, "received_at": now.isoformat(),
            "due_at": request.due_at.isoformat(), "status": "open"}


def open_requests() -> list[dict[str, Any]]:
    """What operators must answer, soonest due first."""
    return [
        {"id": r.request_id, "type": r.type, "status": r.status, "received_at": r.received_at.isoformat(),
         "due_at": r.due_at.isoformat(), "flagged": r.flagged_at is not None}
        for r in PrivacyRequest.open_by_due.query("open")
    ]


def flag_due_requests(
    deps: PrivacyDeps, now: datetime | None = None, warn: timedelta = timedelta(days=7)
) -> int:
    """Flags open requests due within `warn` (or overdue) and tells the operators, once each."""
    now = now or utcnow()
    flagged = []
    for request in PrivacyRequest.open_by_due.query("open", PrivacyRequest.due_at <= now + warn):
        if request.flagged_at is not None:
            continue
        request.update(actions=[PrivacyRequest.flagged_at.set(now)])
        flagged.append(request)
    if flagged:
        lines = [f"{r.request_id}  {r.type:13}  due {r.due_at:%Y-%m-%d}" for r in flagged]
        send(deps, OPERATORS, Notice(f"{len(flagged)} privacy request(s) near or past due", "\n".join(lines)))
    return len(flagged)


def close_request(request_id: str) -> None:
    """Closes an answered request. Not a child report: closing one could leave its account
    suspended with nothing left to reinstate it by; it is decided (reports.py) instead."""
    try:
        PrivacyRequest(request_id).update(
            actions=[PrivacyRequest.status.set("closed"), PrivacyRequest.is_open.remove()],
            condition=PrivacyRequest.request_id.exists() & (PrivacyRequest.type != "child_report"),
        )
    except UpdateError:
        try:
            PrivacyRequest.get(request_id[:64])
        except PrivacyRequest.DoesNotExist:
            raise NotFound("No privacy request with this id.") from None
        raise InvalidInput("a child_report is closed by deciding it: suspend, reinstate, erase or "
                           "dismiss", field="request_id") from None


def business_days_after(start: datetime, days: int) -> datetime:
    moment = start
    while days:
        moment += timedelta(days=1)
        if moment.weekday() < 5:
            days -= 1
    return moment


def submit_support(
    body: dict[str, Any], user_id: str | None, deps: PrivacyDeps, client: ClientInfo,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Records a message for the support inbox; the acknowledgement quotes none of it."""
    now = now or utcnow()
    email = accounts.normalise_email(body.get("email"))
    subject = _text(body, "subject", 200)
    message = _text(body, "message", MAX_MESSAGE)
    throttling.take_each([(SUPPORT_PER_ADDRESS, client.ip), (TO_ONE_RECIPIENT, email)])
    inquiry = SupportInquiry(
        uuid.uuid4().hex, email=email, user_id=user_id, subject=subject, message=message,
        received_at=now, due_at=business_days_after(now, SUPPORT_BUSINESS_DAYS), is_open="open",
    )
    inquiry.save()
    send(deps, email, notices.support_received(inquiry.due_at, inquiry.inquiry_id))
    return {
        "id": inquiry.inquiry_id,
        "received_at": now.isoformat(),
        "respond_by": inquiry.due_at.isoformat(),
    }


def open_inquiries() -> list[dict[str, Any]]:
    return [
        {"id": i.inquiry_id, "subject": i.subject, "received_at": i.received_at.isoformat(),
         "respond_by": i.due_at.isoformat()}
        for i in SupportInquiry.open_by_due.query("open")
    ]
