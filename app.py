"""The routing table: every route, queue consumer and schedule of AISora2.

Each handler reads the event, calls one service function and shapes the answer. Domain
errors become HTTP errors here and nowhere else.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from datetime import date
from typing import Any

from chalice import Chalice, Rate, Response
from chalice.app import SQSEvent

from chalicelib import observability, openapi
from chalicelib.config import resource_name, settings
from chalicelib.errors import (
    AccountSuspended,
    AlreadyDecided,
    Busy,
    DomainError,
    EmailTaken,
    EmailUnverified,
    Expired,
    InsufficientCredits,
    InvalidCredentials,
    InvalidInput,
    InvalidToken,
    LimitReached,
    LinkInvalid,
    NotFound,
    NotReady,
    PromptRefused,
    Throttled,
    UnderMinimumAge,
    WebhookRejected,
)
from chalicelib.services import (
    accounts,
    addresses,
    admin,
    audit,
    billing,
    catalogue,
    credentials,
    credits,
    generation,
    inbox,
    local_checkout,
    payment_webhooks,
    policy,
    policy_notices,
    privacy,
    references,
    reports,
    retention,
    sessions,
    signup_credits,
)
from chalicelib.services.client_info import ClientInfo
from chalicelib.wiring import (
    WEBHOOK_VERIFIERS,
    account_dependencies,
    billing_dependencies,
    generation_dependencies,
    media_store,
    notice_dependencies,
    privacy_dependencies,
)

app = Chalice(app_name="aisora")
observability.install(app)  # JSON logs with request/job ids, access lines, EMF metrics

_STATUS: dict[type[DomainError], int] = {
    InvalidInput: 422,
    UnderMinimumAge: 422,
    PromptRefused: 422,
    LinkInvalid: 422,
    Throttled: 429,
    LimitReached: 429,
    WebhookRejected: 400,
    EmailTaken: 409,
    EmailUnverified: 403,
    NotReady: 409,
    InvalidCredentials: 401,
    InvalidToken: 401,
    AccountSuspended: 403,
    AlreadyDecided: 409,
    InsufficientCredits: 402,
    NotFound: 404,
    Expired: 410,
    Busy: 503,
}
_JSON = {"Content-Type": "application/json"}
# The largest request body any route reads (webhooks' events included), and the deepest JSON.
MAX_BODY_BYTES = 1024 * 1024
MAX_JSON_DEPTH = 32
_TOO_DEEP = f"The request body nests deeper than {MAX_JSON_DEPTH} levels."


def _error(status: int, code: str, message: str, field: str | None = None,
           headers: dict[str, str] | None = None) -> Response:
    error: dict[str, Any] = {"code": code, "message": message}
    if field:
        error["field"] = field
    all_headers = {**_JSON, **(headers or {})}
    if status == 401:
        all_headers["WWW-Authenticate"] = 'Bearer realm="aisora"'
    return Response(body={"error": error}, status_code=status, headers=all_headers)


def _status_of(error: DomainError) -> int:
    """The status of the error's class, or of the nearest class it derives from."""
    return next((_STATUS[cls] for cls in type(error).__mro__ if cls in _STATUS), 400)


class _MalformedBody(Exception):
    def __init__(self, message: str, code: str = "malformed_json") -> None:
        super().__init__(message)
        self.code = code


def _unreadable_body(content_types: tuple[str, ...]) -> Response | None:
    """413 for a body over the limit, 415 for one not labelled as a type the route reads."""
    request = app.current_request
    raw = request.raw_body
    if not raw:
        return None
    if len(raw) > MAX_BODY_BYTES:
        return _error(413, "body_too_large",
                      f"The request body has {len(raw)} bytes; the limit is {MAX_BODY_BYTES} bytes.")
    declared = request.headers.get("content-type", "")
    if declared.split(";", 1)[0].strip().lower() not in content_types:
        return _error(415, "unsupported_media_type",
                      f"Send the body as {' or '.join(content_types)}, with a Content-Type header "
                      f"saying so (got {declared or 'none'}).")
    return None


def api(
    path: str,
    methods: tuple[str, ...] = ("GET",),
    status: int = 200,
    content_types: tuple[str, ...] = ("application/json",),
) -> Callable[..., Any]:
    """`app.route` plus the one place where domain errors become HTTP answers."""

    def register(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def handle(*args: Any, **kwargs: Any) -> Response:
            refusal = _unreadable_body(content_types)
            if refusal is not None:
                return refusal
            try:
                result = view(*args, **kwargs)
            except _MalformedBody as exc:
                return _error(400, exc.code, str(exc))
            except Throttled as exc:
                return _error(429, exc.code, exc.message, headers={"Retry-After": str(exc.retry_after)})
            except DomainError as exc:
                return _error(_status_of(exc), exc.code, exc.message, exc.field)
            if result is None:
                return Response(body="", status_code=204)
            if isinstance(result, Response):
                return result
            return Response(body=result, status_code=status, headers=_JSON)

        # What the OpenAPI document says of the route (chalicelib/openapi.py).
        handle.success_status = status  # type: ignore[attr-defined]
        handle.content_types = content_types  # type: ignore[attr-defined]
        # Any type reaches `handle`, which refuses the others in the contract's error shape.
        return app.route(path, methods=list(methods), content_types=["*/*"])(handle)

    return register


def _body() -> dict[str, Any]:
    raw = app.current_request.raw_body
    if not raw:
        raise InvalidInput("a JSON object body is required")
    try:
        # UTF-8 only (RFC 8259), not the UTF-16 json.loads would guess; no NaN or Infinity.
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        body = json.loads(text, parse_constant=_not_json)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _MalformedBody(f"The request body is not valid JSON: {exc}") from None
    except RecursionError:  # far deeper than the limit
        raise _MalformedBody(_TOO_DEEP, "too_deep") from None
    _check_json_text(body)
    if not isinstance(body, dict):
        raise InvalidInput("the request body must be a JSON object")
    return body


def _not_json(constant: str) -> None:
    raise ValueError(f"{constant} is not a JSON value")


def _check_json_text(body: Any) -> None:
    """Refuses JSON nested deeper than MAX_JSON_DEPTH (what handles it would recurse as deep) and
    strings that are not Unicode text (an unpaired surrogate escape such as \\ud800)."""
    pending: list[tuple[Any, int]] = [(body, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, (dict, list)):
            if depth > MAX_JSON_DEPTH:
                raise _MalformedBody(_TOO_DEEP, "too_deep")
            items = [*value.keys(), *value.values()] if isinstance(value, dict) else value
            pending.extend((item, depth + 1) for item in items)
        elif isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise _MalformedBody("The request body is not valid JSON text: a string holds an "
                                     "unpaired surrogate (\\ud800-\\udfff).") from None


def _client() -> ClientInfo:
    request = app.current_request
    identity = (request.context or {}).get("identity") or {}
    return ClientInfo.from_request(identity.get("sourceIp"), dict(request.headers))


def _optional_user_id() -> str | None:
    """The caller's id when a token is sent (and valid); None for an anonymous caller."""
    if "authorization" not in app.current_request.headers:
        return None
    return _user_id()


def _caller() -> sessions.Caller:
    """The access token's caller, not yet checked for revocation: only for routes whose service
    reads the account first with accounts.get_user, which refuses a revoked token."""
    header = app.current_request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidToken("Sign in first: send 'Authorization: Bearer <access_token>'.")
    return sessions.caller_from_access_token(token.strip(), settings())


def _user_id() -> str:
    """The caller of a current token: for routes that do not read the account themselves, one
    small read of what revokes a token (the account's status, token generation, ended sessions)."""
    return accounts.require_current(_caller())


# --- public --------------------------------------------------------------------------------


@api("/health")
def health() -> dict[str, Any]:
    return {"status": "ok"}


@api("/openapi.json")
def openapi_document() -> dict[str, Any]:
    return openapi.document(app, MAX_BODY_BYTES, MAX_JSON_DEPTH)


@api("/policy")
def privacy_policy() -> dict[str, Any]:
    return policy.current()


@api("/plans")
def plans() -> dict[str, Any]:
    return catalogue.public_catalogue(settings().video_engines)


# --- accounts ------------------------------------------------------------------------------


@api("/auth/signup", methods=("POST",), status=201)
def signup() -> dict[str, Any]:
    form = accounts.parse_signup(_body(), date.today())
    return accounts.signup(form, account_dependencies(), _client()).as_dict()


@api("/auth/login", methods=("POST",))
def login() -> dict[str, Any]:
    body = _body()
    try:
        return credentials.login(body, account_dependencies(), _client()).as_dict()
    except InvalidCredentials:
        reports.refuse_suspended_sign_in(body)  # its owner is told why, not "wrong password"
        raise


def _refresh_token(body: dict[str, Any]) -> str:
    token = body.get("refresh_token")
    if not isinstance(token, str) or not token:
        raise InvalidInput("refresh_token is required", field="refresh_token")
    return token


@api("/auth/refresh", methods=("POST",))
def refresh() -> dict[str, Any]:
    return sessions.rotate(_refresh_token(_body()), settings()).as_dict()


@api("/auth/logout", methods=("POST",), status=204)
def logout() -> None:
    sessions.end(_refresh_token(_body()), settings())


@api("/auth/verify-email", methods=("POST",))
def verify_email() -> dict[str, Any]:
    """Confirms an email address with the token from the emailed link."""
    return addresses.verify_email(_body().get("token"), account_dependencies(), _client())


@api("/auth/verify-email/resend", methods=("POST",), status=202)
def resend_verification() -> dict[str, Any]:
    """Mails the verification link again (a handful of times an hour per address at most)."""
    addresses.resend_verification(_caller(), account_dependencies(), _client())
    return {"status": "sent"}


@api("/auth/restore-email", methods=("POST",))
def restore_email() -> dict[str, Any]:
    """Undoes an email change with the link mailed to the old address; every session ends."""
    return addresses.restore_email(_body().get("token"), account_dependencies(), _client())


@api("/auth/password-reset", methods=("POST",), status=202)
def request_password_reset() -> dict[str, Any]:
    """Mails a single-use reset link, valid 30 minutes, if the account exists."""
    credentials.request_password_reset(_body(), account_dependencies(), _client())
    return {"status": "sent", "message": "If an account uses this email, a reset link is on its way."}


@api("/auth/password-reset/confirm", methods=("POST",))
def confirm_password_reset() -> dict[str, Any]:
    """Sets a new password with the emailed token; every other session ends, this one starts."""
    pair = credentials.confirm_password_reset(_body(), account_dependencies(), _client())
    return {"status": "password_changed", **pair.as_dict()}


@api("/me/password", methods=("POST",))
def change_password() -> dict[str, Any]:
    """Changes the password (the current one is asked); other sessions end."""
    return credentials.change_password(_caller(), _body(), account_dependencies(), _client()).as_dict()


@api("/me")
def me() -> dict[str, Any]:
    """The account; `email_verified` and `signup_credits_pending` say if free credits wait."""
    return accounts.profile(accounts.get_user(_caller()))


@api("/me", methods=("PATCH",))
def update_me() -> dict[str, Any]:
    """Corrects the email (verified first), preferences and the marketing choice."""
    return accounts.update_profile(_caller(), _body(), account_dependencies(), _client())


@api("/me", methods=("DELETE",), status=202)
def close_account() -> dict[str, Any]:
    """Closes the account at once (the password is asked again); erasure follows within a day."""
    return privacy.close_own_account(_caller(), _body(), privacy_dependencies())


@api("/me/consents", methods=("PATCH",))
def update_consents() -> dict[str, Any]:
    """Gives or withdraws consent to marketing and to analytics, at once."""
    return privacy.set_consents(_caller(), _body(), _client())


@api("/me/export", methods=("POST",), status=202)
def start_export() -> dict[str, Any]:
    """Starts an archive of everything held about the caller; an email says when it is ready."""
    return privacy.start_export(_caller(), privacy_dependencies())


@api("/me/export/{export_id}")
def export_status(export_id: str) -> dict[str, Any]:
    return privacy.export_status(_user_id(), export_id, privacy_dependencies())


@api("/privacy/requests", methods=("POST",), status=201)
def privacy_request() -> dict[str, Any]:
    """Records a privacy request (signed in, or with an email); answered within 30 days."""
    return inbox.submit_request(_body(), _optional_user_id(), privacy_dependencies(), _client())


@api("/support", methods=("POST",), status=201)
def support_inquiry() -> dict[str, Any]:
    """Records a support message; answered within three business days."""
    return inbox.submit_support(_body(), _optional_user_id(), privacy_dependencies(), _client())


@api("/me/policy-acceptance", methods=("POST",))
def accept_policy() -> dict[str, Any]:
    """Accepts the privacy policy in force, as asked after a material change."""
    return accounts.accept_policy(_caller(), _body(), _client())


@api("/me/credits")
def my_credits() -> dict[str, Any]:
    user = accounts.get_user(_caller())
    return {"balance": int(user.credits), "transactions": credits.history(user.user_id)}


@api("/me/activity")
def my_activity() -> dict[str, Any]:
    """The account's audit trail and the technical data its sessions hold."""
    user_id = _user_id()
    return {"changes": audit.trail(user_id), "sessions": sessions.technical_data(user_id)}


# --- videos --------------------------------------------------------------------------------


@api("/videos", methods=("POST",), status=202)
def create_video() -> dict[str, Any]:
    """Asks for a video: 403 email_unverified until the address is verified (nothing charged)."""
    # Before a reference is fetched or a credit moves: a current token, a verified address. The
    # one consistent read serves the debit too, unless a waiting signup grant just changed it.
    user = accounts.get_user(_caller(), consistent=True)
    granted = signup_credits.ready_to_spend(user, settings())
    user_id = user.user_id
    body = _body()
    spec = generation.parse_request(body)
    deps = generation_dependencies()
    reference_key = generation.resolve_reference(user_id, body, deps)
    end_reference_key = generation.resolve_reference(user_id, body, deps, which="end")
    return generation.create_video(user_id, spec, deps, reference_key, end_reference_key,
                                   owner=None if granted else user)


@api("/uploads", methods=("POST",), status=201)
def create_upload() -> dict[str, Any]:
    """A presigned POST for a reference image (JPEG, PNG or WebP, at most 10 MiB)."""
    return references.create_upload(_user_id(), _body(), generation_dependencies().store)


@api("/videos")
def list_videos() -> dict[str, Any]:
    user_id = _user_id()
    query = app.current_request.query_params or {}
    limit = query.get("limit", "20")
    if not limit.isdigit() or not 1 <= int(limit) <= 100:
        raise InvalidInput("limit must be a whole number from 1 to 100", field="limit")
    return generation.list_videos(
        user_id, generation_dependencies(), query.get("cursor"), int(limit)
    )


@api("/videos/{video_id}")
def get_video(video_id: str) -> dict[str, Any]:
    return generation.get_video(_user_id(), video_id, generation_dependencies())


@api("/videos/{video_id}/download")
def download_video(video_id: str) -> dict[str, Any]:
    return generation.download_url(_user_id(), video_id, generation_dependencies())


@api("/videos/{video_id}", methods=("DELETE",), status=204)
def delete_video(video_id: str) -> None:
    generation.delete_video(_user_id(), video_id, generation_dependencies())


# --- billing -------------------------------------------------------------------------------


@api("/billing/checkout", methods=("POST",))
def start_checkout() -> dict[str, Any]:
    """Opens a checkout for a credit pack or a plan with Stripe or Creem."""
    return billing.checkout(_caller(), _body(), billing_dependencies())


@api("/billing/portal", methods=("POST",))
def billing_portal() -> dict[str, Any]:
    """A Stripe customer portal address, to change or cancel the subscription."""
    return billing.portal(_caller(), billing_dependencies())


@api("/billing/local-checkout/{session_id}")
def local_checkout_page(session_id: str) -> Response:
    """The local stand-in for the provider's checkout page (no provider key configured)."""
    page = local_checkout.page(session_id, billing_dependencies())
    return Response(body=page, status_code=200, headers={"Content-Type": "text/html; charset=utf-8"})


@api("/billing/local-checkout/{session_id}/pay", methods=("POST",), status=303,
     content_types=("application/x-www-form-urlencoded", "application/json"))
def local_checkout_pay(session_id: str) -> Response:
    success_url = local_checkout.pay(session_id, billing_dependencies())
    return Response(body="", status_code=303, headers={"Location": success_url})


def _raw_body() -> bytes:
    raw = app.current_request.raw_body
    return raw if isinstance(raw, bytes) else (raw or "").encode()


@api("/webhooks/stripe", methods=("POST",))
def stripe_webhook() -> dict[str, Any]:
    """Stripe events, verified on the raw body; each has its effect at most once."""
    signature = app.current_request.headers.get("stripe-signature")
    outcome = payment_webhooks.handle_stripe_webhook(_raw_body(), signature, billing_dependencies())
    return {"received": True, "outcome": outcome}


@api("/webhooks/creem", methods=("POST",))
def creem_webhook() -> dict[str, Any]:
    """Creem events, verified on the raw body; each has its effect at most once."""
    signature = app.current_request.headers.get("creem-signature")
    outcome = payment_webhooks.handle_creem_webhook(_raw_body(), signature, billing_dependencies())
    return {"received": True, "outcome": outcome}


def _engine_webhook(provider: str) -> dict[str, Any]:
    """A video engine's webhook: verified on the raw body by its adapter (imported only now),
    then a check of the job it names is queued; a forged one is 400 and changes nothing."""
    request = app.current_request
    raw, headers, query = _raw_body(), request.headers, request.query_params or {}
    verify = WEBHOOK_VERIFIERS[provider]
    outcome = generation.on_engine_webhook(provider, lambda: verify(raw, headers, query, settings()),
                                           generation_dependencies())
    return {"received": True, "outcome": outcome}


@api("/webhooks/fal", methods=("POST",))
def fal_webhook() -> dict[str, Any]:
    """fal.ai's completion events (Ed25519 over the request id, user id, time and body hash)."""
    return _engine_webhook("fal")


@api("/webhooks/replicate", methods=("POST",))
def replicate_webhook() -> dict[str, Any]:
    """Replicate's prediction events (Standard Webhooks: HMAC-SHA256 over id, time and body)."""
    return _engine_webhook("replicate")


# --- operators (the admin role comes from `python -m chalicelib.admin`, never from here) ---


@api("/admin/privacy-requests")
def admin_privacy_requests() -> dict[str, Any]:
    """Open privacy requests, soonest due first."""
    admin.require_admin(_user_id())
    return {"requests": inbox.open_requests()}


@api("/admin/privacy-requests/{request_id}/close", methods=("POST",))
def admin_close_privacy_request(request_id: str) -> dict[str, Any]:
    admin.close_request(_user_id(), request_id, _client())
    return {"id": request_id, "status": "closed"}


def _decide_report(request_id: str, action: str) -> dict[str, Any]:
    return admin.decide_report(_user_id(), request_id, action, privacy_dependencies(), _client())


@api("/admin/privacy-requests/{request_id}/suspend", methods=("POST",))
def admin_suspend_reported_account(request_id: str) -> dict[str, Any]:
    """Suspends the account a child report names while it is checked: signed out, no sign-in."""
    return _decide_report(request_id, reports.SUSPEND)


@api("/admin/privacy-requests/{request_id}/reinstate", methods=("POST",))
def admin_reinstate_reported_account(request_id: str) -> dict[str, Any]:
    """Gives a suspended account back to its owner; the report is closed as reinstated."""
    return _decide_report(request_id, reports.REINSTATE)


@api("/admin/privacy-requests/{request_id}/erase", methods=("POST",))
def admin_erase_reported_account(request_id: str) -> dict[str, Any]:
    """Closes a reported child's account as DELETE /me does (subscription cancelled), to be erased."""
    return _decide_report(request_id, reports.ERASE)


@api("/admin/privacy-requests/{request_id}/dismiss", methods=("POST",))
def admin_dismiss_child_report(request_id: str) -> dict[str, Any]:
    """Closes a child report that needs nothing done; the account was never touched."""
    return _decide_report(request_id, reports.DISMISS)


@api("/admin/support")
def admin_support_inquiries() -> dict[str, Any]:
    """Open support inquiries, soonest due first."""
    admin.require_admin(_user_id())
    return {"inquiries": inbox.open_inquiries()}


@api("/admin/videos/{video_id}")
def admin_video(video_id: str) -> dict[str, Any]:
    """A video with the engines tried for it (provider, outcome, time) and the one that took it."""
    return admin.video_job(_user_id(), video_id)


@api("/admin/credits", methods=("POST",))
def admin_adjust_credits() -> dict[str, Any]:
    """Adds or removes credits with a reason; recorded in the ledger and the audit trail."""
    return admin.adjust_credits(_user_id(), _body(), _client())


@api("/admin/policy/publish", methods=("POST",), status=202)
def admin_publish_policy() -> dict[str, Any]:
    """Emails every active user, once, about a material policy change."""
    return admin.publish_policy(_user_id(), _body(), notice_dependencies(), _client())


# --- events --------------------------------------------------------------------------------


@app.on_sqs_message(queue=resource_name("jobs"), batch_size=1)
def generate_video(event: SQSEvent) -> None:
    """Submits jobs to their model's engines in order and follows them to completion."""
    for record in event:
        generation.handle_message(json.loads(record.body), generation_dependencies())


@app.schedule(Rate(5, unit=Rate.MINUTES))
def fail_stuck_jobs(event: Any) -> dict[str, int]:
    """Fails and refunds every open job past its deadline."""
    return {"failed": generation.fail_overdue_jobs()}


@app.schedule(Rate(1, unit=Rate.HOURS))
def expire_videos(event: Any) -> dict[str, int]:
    """Deletes the files of videos past their plan's storage period; marks them expired."""
    return {"expired": retention.sweep_expired_videos(media_store())}


@app.schedule(Rate(1, unit=Rate.HOURS))
def purge_expired_sessions(event: Any) -> dict[str, int]:
    """Deletes sessions (and the technical data they hold) and emailed links past their life."""
    return retention.sweep_expired_sessions()


@app.on_sqs_message(queue=resource_name("exports"), batch_size=1)
def build_export(event: SQSEvent) -> None:
    """Writes a user's data export archive and mails them when it is ready."""
    for record in event:
        message = json.loads(record.body)
        privacy.build_export(message["user_id"], message["export_id"], privacy_dependencies())


@app.schedule(Rate(1, unit=Rate.HOURS))
def erase_closed_accounts(event: Any) -> dict[str, int]:
    """Erases the personal data of closed accounts (the policy allows 30 days; we take hours)."""
    return {"erased": privacy.erase_due_accounts(privacy_dependencies())}


@app.schedule(Rate(1, unit=Rate.HOURS))
def purge_expired_exports(event: Any) -> dict[str, int]:
    """Deletes data export archives past their 7 days."""
    return {"deleted": privacy.sweep_expired_exports(privacy_dependencies().store)}


@app.schedule(Rate(1, unit=Rate.DAYS))
def flag_due_privacy_requests(event: Any) -> dict[str, int]:
    """Tells the operators of privacy requests due within a week or overdue."""
    return {"flagged": inbox.flag_due_requests(privacy_dependencies())}


@app.on_sqs_message(queue=resource_name("notices"), batch_size=1)
def send_notices(event: SQSEvent) -> None:
    """Sends one page of a policy-change notice and queues the next page."""
    for record in event:
        message = json.loads(record.body)
        changed = policy.by_version(message["version"])
        if changed is not None:
            policy_notices.send_page(changed, message.get("start_key"), notice_dependencies())


@app.schedule(Rate(1, unit=Rate.DAYS))
def purge_old_ledger_rows(event: Any) -> dict[str, int]:
    """Deletes credit ledger rows past the 7 years the policy keeps transaction records."""
    return {"deleted": retention.sweep_old_ledger_rows()}


@app.schedule(Rate(1, unit=Rate.DAYS))
def reconcile_balances(event: Any) -> dict[str, int]:
    """Checks every balance against its ledger and reports any difference."""
    return {"differences": len(billing.reconcile_balances())}


@app.on_sqs_message(queue=resource_name("jobs-dlq"), batch_size=1)
def fail_dead_lettered_jobs(event: SQSEvent) -> None:
    """A generation message that failed 5 times: its job fails and is refunded, once."""
    for record in event:
        generation.fail_dead_lettered(json.loads(record.body))


@app.on_cw_event({"source": ["aws.s3"], "detail-type": ["Object Created"],
                  "detail": {"object": {"key": [{"prefix": "uploads/"}]}}})
def check_upload(event: Any) -> dict[str, str]:
    """A reference image arrived in the bucket: check it, keep a clean copy, drop the original."""
    store = media_store()
    if event.detail.get("bucket", {}).get("name") != store.bucket:
        return {"outcome": "other bucket"}
    return {"outcome": references.validate_upload(event.detail["object"]["key"], store)}
