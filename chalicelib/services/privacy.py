"""The privacy rights the policy promises: access and portability (exports), deletion
(closing an account, then erasing it) and consent. Requests and support are in inbox.py."""

from __future__ import annotations

import json
import logging
import tempfile
import uuid
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pynamodb.exceptions import DeleteError, DoesNotExist, TransactWriteError, UpdateError

from chalicelib.adapters.mail import Mailer
from chalicelib.adapters.queue import MessageQueue
from chalicelib.adapters.storage import MediaStore
from chalicelib.errors import AccountGone, InvalidCredentials, InvalidInput, NotFound
from chalicelib.models import (
    AuditEntry,
    Checkout,
    DataExport,
    EmailClaim,
    LedgerEntry,
    LocalCheckout,
    OneTimeToken,
    Payment,
    PrivacyRequest,
    Session,
    Subscription,
    SupportInquiry,
    User,
    VideoJob,
)
from chalicelib.models.base import transaction, utcnow
from chalicelib.services import accounts, audit, credits, notices, passwords, sessions, throttling
from chalicelib.services.client_info import ClientInfo

log = logging.getLogger(__name__)

# The policy allows 30 days; the erasure sweep runs hourly, so this is the promise we make.
ERASURE_PROMISE = timedelta(hours=24)
EXPORT_LIFETIME = timedelta(days=7)

@dataclass(frozen=True)
class PrivacyDeps:
    mailer: Mailer
    store: MediaStore
    exports: MessageQueue
    download_url_seconds: int
    app_base_url: str
    # Stops a paid subscription at its provider when the account closes.
    cancel_subscription: Callable[[User], None]


def _mail(deps: PrivacyDeps, to: str, subject: str, text: str) -> None:
    try:
        deps.mailer.send(to, subject, text)
    except Exception as exc:
        # The class only: a mail service's error text can name the address.
        log.error("could not send a mail: %s", type(exc).__name__)


def send(deps: PrivacyDeps, to: str, notice: notices.Notice) -> None:
    _mail(deps, to, notice.subject, notice.text)


# --- consent --------------------------------------------------------------------------------


def set_consents(user_id: str, body: dict[str, Any], client: ClientInfo) -> dict[str, object]:
    """Withdrawing or giving consent (marketing, analytics) takes effect at once, with its time."""
    known = {"marketing", "analytics"}
    unknown = sorted(set(body) - known)
    if unknown or not body:
        field = unknown[0] if unknown else None
        raise InvalidInput("send marketing and/or analytics, each true or false", field=field)
    now = utcnow()
    actions = []
    for name, value in body.items():
        if not isinstance(value, bool):
            raise InvalidInput(f"{name} must be true or false", field=name)
        if name == "marketing":
            actions += [User.marketing_opt_in.set(value), User.marketing_choice_at.set(now)]
        else:
            actions += [User.analytics_consent.set(value), User.analytics_choice_at.set(now)]
    user = accounts.get_user(user_id)
    user.update(actions=actions)
    audit.record(user_id, "consent_changed", sorted(body), client)
    return accounts.profile(accounts.get_user(user_id))


def may_send_marketing(user: User) -> bool:
    """The one gate for marketing mail: consent given, account active."""
    return user.status == "active" and bool(user.marketing_opt_in)


# --- closing and erasing an account ---------------------------------------------------------


def close(user: User, erase_after: datetime, action: str, deps: PrivacyDeps) -> datetime:
    """Disables the account (active or suspended) at once and queues its erasure. A paid
    subscription is stopped at its provider first, whoever closes it; the email is freed at once."""
    deps.cancel_subscription(user)
    now = utcnow()
    due_by = max(erase_after, now) + ERASURE_PROMISE
    with transaction() as tx:
        tx.update(
            User(user.user_id),
            actions=[
                User.status.set("closed"),
                User.erasure_queue.set("pending"),
                User.erase_after.set(erase_after),
                User.erasure_due_by.set(due_by),
            ],
            condition=User.status.is_in("active", "suspended"),
        )
        tx.delete(EmailClaim(user.email), condition=EmailClaim.user_id == user.user_id)
    sessions.end_all(user.user_id)
    audit.record(user.user_id, action, ["status"])
    return due_by


def close_own_account(user_id: str, body: dict[str, Any], deps: PrivacyDeps) -> dict[str, str]:
    """DELETE /me: the password is asked again; a wrong one changes nothing."""
    user = accounts.get_user(user_id)
    password = body.get("password")
    # Counted before the hash, like every check of a signed-in account's password: a stolen
    # token must not become a fast way to guess it.
    throttling.take(throttling.PASSWORD_CHECK, user.user_id)
    if not isinstance(password, str) or not passwords.verify(user.password_hash, password):
        raise InvalidCredentials("The password is wrong; the account was not closed.", field="password")
    due_by = close(user, utcnow(), "account_closed", deps)
    _mail(deps, user.email, "Your AISora2 account is closed",
          f"Your account is closed and every device was signed out. Your personal data will be "
          f"erased by {due_by:%Y-%m-%d %H:%M} UTC; you will get one more message when it is done.\n\n"
          "-- \nAISora2")
    return {"status": "closed", "erasure_due_by": due_by.isoformat()}


def erase_due_accounts(deps: PrivacyDeps, now: datetime | None = None) -> int:
    now = now or utcnow()
    erased = 0
    for key in User.awaiting_erasure.query("pending", User.erase_after <= now):
        erased += erase_account(key.user_id, deps)
    return erased


def erase_account(user_id: str, deps: PrivacyDeps) -> int:
    """Removes every trace of the person, keeping only ledger rows, pseudonymised, for the
    7 years tax law asks. Safe to repeat after a crash: each step finds what is left."""
    try:
        user = User.get(user_id, consistent_read=True)
    except DoesNotExist:
        return 0
    email = user.email
    pending = user.pending_email
    for job in VideoJob.by_user.query(user_id):
        deps.store.delete(job.file_keys())
        VideoJob(job.job_id).delete()
    for prefix in (f"videos/{user_id}/", f"uploads/{user_id}/", f"references/{user_id}/",
                   f"exports/{user_id}/"):
        deps.store.delete_prefix(prefix)
    for export in DataExport.query(user_id):
        export.delete()
    for session in Session.by_user.query(user_id):
        Session(session.session_id).delete()
    for token in OneTimeToken.by_user.query(user_id):
        OneTimeToken(token.token_hash).delete()
    for entry in AuditEntry.query(user_id):
        entry.delete()
    for request in PrivacyRequest.by_user.query(user_id):
        PrivacyRequest(request.request_id).delete()
    for request in _requests_naming(user_id, {email, pending} - {None}):
        PrivacyRequest(request.request_id).delete()
    for address in {email, pending} - {None}:
        for inquiry in SupportInquiry.by_email.query(address):
            SupportInquiry(inquiry.inquiry_id).delete()
        _release_claim(address, user_id)
    for checkout in LocalCheckout.by_user.query(user_id):
        LocalCheckout(checkout.session_id).delete()
    for opened in Checkout.by_user.query(user_id):
        Checkout(opened.checkout_key).delete()
    for subscription in Subscription.by_user.query(user_id):
        Subscription(subscription.subscription_key).delete()
    pseudonym = f"erased-{uuid.uuid4().hex}"
    for row in LedgerEntry.query(user_id):
        _pseudonymise(row, pseudonym)
    for payment in Payment.by_user.query(user_id):
        Payment(payment.payment_key).update(actions=[Payment.user_id.set(pseudonym)])
    user.delete()
    _mail(deps, email, "Your AISora2 data has been erased",
          "Every piece of personal data we held about you has been erased. We keep only the "
          "record of payments and credits, without your name, email or account, for the 7 years "
          "tax law requires.\n\n-- \nAISora2")
    return 1


def _requests_naming(user_id: str, addresses: set[str]) -> Iterator[PrivacyRequest]:
    """Requests sent from the person's address without signing in, and child reports naming them.
    The table holds privacy requests only (a few a day), so one filtered scan per erased account
    costs less than an index for each of the three attributes."""
    return PrivacyRequest.scan(
        (PrivacyRequest.subject_user_id == user_id) | PrivacyRequest.contact_email.is_in(*addresses)
        | PrivacyRequest.subject_email.is_in(*addresses),
        attributes_to_get=["request_id"],
    )


def _release_claim(email: str, user_id: str) -> None:
    try:
        EmailClaim(email).delete(condition=EmailClaim.user_id == user_id)
    except DeleteError:
        return  # absent, or another account's since: not ours to delete


def _pseudonymise(row: LedgerEntry, pseudonym: str) -> None:
    copy = LedgerEntry.new(
        pseudonym, row.reference, kind=row.kind, amount=row.amount,
        balance_after=row.balance_after, created_at=row.created_at,
    )
    try:
        with transaction() as tx:
            tx.save(copy, condition=LedgerEntry.reference.does_not_exist())
            tx.delete(LedgerEntry(row.user_id, row.reference))
    except TransactWriteError:
        row.delete()  # a copy exists from an interrupted run


# --- access and portability -----------------------------------------------------------------


def start_export(user_id: str, deps: PrivacyDeps) -> dict[str, Any]:
    accounts.get_user(user_id)  # a closed account's token, still within its minutes, asks nothing
    now = utcnow()
    export = DataExport(user_id, uuid.uuid4().hex, created_at=now, expires_at=now + EXPORT_LIFETIME,
                        expiry_shard="exports")
    export.save()
    deps.exports.send({"user_id": user_id, "export_id": export.export_id})
    return _export_view(export, deps)


def _export_view(export: DataExport, deps: PrivacyDeps) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": export.export_id, "status": export.status, "created_at": export.created_at.isoformat(),
        "expires_at": export.expires_at.isoformat(), "url": None,
    }
    if export.status == "ready" and export.archive_key and export.expires_at > utcnow():
        left = int((export.expires_at - utcnow()).total_seconds())
        view["url"] = deps.store.presigned_get(
            export.archive_key, max(1, min(deps.download_url_seconds, left)), "aisora-export.zip"
        )
        view["size_bytes"] = int(export.size_bytes or 0)
    elif export.expires_at <= utcnow():
        view["status"] = "expired"
    return view


def export_status(user_id: str, export_id: str, deps: PrivacyDeps) -> dict[str, Any]:
    try:
        export = DataExport.get(user_id, export_id[:64])
    except DoesNotExist:
        raise NotFound("No export with this id.") from None
    return _export_view(export, deps)


def _collect(user: User) -> dict[str, Any]:
    user_id = user.user_id
    jobs = list(VideoJob.by_user.query(user_id))
    return {
        "account.json": {
            "profile": accounts.profile(user),
            "consents": {
                "privacy_policy": {"version": user.policy_version,
                                   "accepted_at": user.policy_accepted_at.isoformat()},
                "marketing": {"opted_in": user.marketing_opt_in,
                              "changed_at": user.marketing_choice_at.isoformat()},
                "analytics": {"consented": user.analytics_consent,
                              "changed_at": user.analytics_choice_at.isoformat()
                              if user.analytics_choice_at else None},
                "age_attested_at": user.age_attested_at.isoformat(),
            },
            "changes": audit.trail(user_id, limit=10_000),
        },
        "videos.json": [
            {"id": j.job_id, "status": j.status, "prompt": j.prompt, "model": j.model,
             "seconds": int(j.seconds), "size": j.size, "cost": int(j.cost),
             "created_at": j.created_at.isoformat(),
             "completed_at": j.completed_at.isoformat() if j.completed_at else None,
             "expires_at": j.expires_at.isoformat() if j.expires_at else None,
             "file": f"videos/{j.job_id}.mp4" if j.video_key and j.status == "completed" else None}
            for j in jobs
        ],
        "credits.json": {
            "balance": int(user.credits),
            "transactions": credits.history(user_id, limit=100_000),
        },
        "technical.json": sessions.technical_data(user_id),
        "privacy_requests.json": [
            {"id": r.request_id, "type": r.type, "status": r.status, "message": r.message,
             "received_at": r.received_at.isoformat(), "due_at": r.due_at.isoformat()}
            for key in PrivacyRequest.by_user.query(user_id)
            for r in [PrivacyRequest.get(key.request_id)]
        ],
        "_videos": [(j.job_id, j.video_key) for j in jobs if j.video_key and j.status == "completed"],
    }


def build_export(user_id: str, export_id: str, deps: PrivacyDeps) -> None:
    """The export worker: one zip of JSON files and the stored videos, then an email."""
    try:
        export = DataExport.get(user_id, export_id)
        user = accounts.get_user(user_id)
    except (DoesNotExist, NotFound, AccountGone):
        return  # closed since it was asked for: erasure takes what there is
    if export.status != "queued":
        return  # a redelivered message
    data = _collect(user)
    videos = data.pop("_videos")
    key = f"exports/{user_id}/{export_id}.zip"
    # Spooled: small archives stay in memory, large ones spill to /tmp while they stream.
    with tempfile.SpooledTemporaryFile(max_size=32 * 1024 * 1024) as archive:
        with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("README.txt", _README)
            for name, content in data.items():
                zf.writestr(name, json.dumps(content, indent=2, ensure_ascii=False))
            for job_id, video_key in videos:
                with zf.open(f"videos/{job_id}.mp4", "w") as out:
                    deps.store.download_to(video_key, out)
        size = archive.tell()
        archive.seek(0)
        deps.store.put(key, archive, "application/zip", {"kind": "export"})
    try:
        export.update(
            actions=[DataExport.status.set("ready"), DataExport.archive_key.set(key),
                     DataExport.size_bytes.set(size), DataExport.ready_at.set(utcnow())],
            condition=DataExport.status == "queued",
        )
    except UpdateError:
        return
    _mail(deps, user.email, "Your AISora2 data export is ready",
          f"The copy of your data you asked for is ready until {export.expires_at:%Y-%m-%d}. Download "
          f"it from your account page:\n\n{deps.app_base_url}/#/account\n\n-- \nAISora2")


_README = """AISora2 data export

account.json           your profile, preferences, consents and the history of account changes
videos.json            every video request: prompt, settings, status, dates
videos/                the videos still stored for you, as MP4 files
credits.json           your credit balance and every credit transaction
technical.json         what your current sessions record: address, country, browser, system, device
privacy_requests.json  the privacy requests you sent us

All times are UTC (ISO 8601). Questions: contact@aisora2.com
"""


def sweep_expired_exports(store: MediaStore, now: datetime | None = None) -> int:
    now = now or utcnow()
    deleted = 0
    for key in DataExport.expiring.query("exports", DataExport.expires_at <= now):
        try:
            export = DataExport.get(key.user_id, key.export_id)
        except DoesNotExist:
            continue
        if export.archive_key:
            store.delete([export.archive_key])
        export.delete()
        deleted += 1
    return deleted
