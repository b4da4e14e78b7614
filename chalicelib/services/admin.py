"""What operators may do, and the one check that they may: the `admin` role on their account,
granted only by the management command (`python -m chalicelib.admin`), never by the API.
Every action is audited in the operators' own trail, naming the operator."""

from __future__ import annotations

import uuid
from typing import Any

from chalicelib.errors import InvalidInput, NotFound
from chalicelib.models import EmailClaim, User, VideoJob
from chalicelib.services import accounts, audit, credits, inbox, policy_notices, privacy, reports, routing
from chalicelib.services.client_info import ClientInfo

MAX_ADJUSTMENT = 100_000
# The audit partition of operators' actions. Not the operator's account's own trail: erasing an
# operator's account erases that, and must not erase the record of what they did.
OPERATORS_TRAIL = "operators"


def _record(admin_id: str, action: str, fields: list[str], client: ClientInfo | None) -> None:
    audit.record(OPERATORS_TRAIL, action, [admin_id, *fields], client)


def operator_actions(limit: int = 100) -> list[dict[str, object]]:
    """The newest operators' actions: each with the operator's account id as its first field."""
    return audit.trail(OPERATORS_TRAIL, limit)


def require_admin(user_id: str) -> User:
    """The operator's account; anyone else gets the same 404 as for a route that isn't there."""
    user = accounts.get_user(user_id)
    if user.role != "admin":
        raise NotFound("No such resource.")
    return user


def video_job(admin_id: str, job_id: str) -> dict[str, Any]:
    """A video as operators see it: which engines were tried, how each answered, which took it.
    Never shown to the video's owner (engine names and ids are ours to route by)."""
    require_admin(admin_id)
    try:
        job = VideoJob.get(job_id) if len(job_id) <= 64 else None
    except VideoJob.DoesNotExist:
        job = None
    if job is None:
        raise NotFound("No video with this id.")
    return {
        "id": job.job_id,
        "user_id": job.user_id,
        "status": job.status,
        "model": job.model,
        "cost": int(job.cost),
        "provider": job.provider,
        "provider_job_id": job.provider_job_id,
        "attempts": routing.attempts_view(job),
        "error": {"code": job.error_code, "message": job.error_message} if job.error_code else None,
    }


def _account_id(email: str) -> str:
    try:
        return EmailClaim.get(accounts.normalise_email(email)).user_id
    except EmailClaim.DoesNotExist:
        raise NotFound(f"no account uses {email}") from None


def operator_id(email: str) -> str:
    """For the management command: the operator acting, by their account's email (an admin's)."""
    user_id = _account_id(email)
    require_admin(user_id)
    return user_id


def set_role(email: str, role: str | None) -> str:
    """For the management command only."""
    user_id = _account_id(email)
    user = accounts.get_user(user_id)
    user.update(actions=[User.role.set(role)] if role else [User.role.remove()])
    audit.record(user_id, "role_granted" if role else "role_revoked", ["role"])
    return user_id


def close_request(admin_id: str, request_id: str, client: ClientInfo) -> None:
    require_admin(admin_id)
    inbox.close_request(request_id)
    _record(admin_id, "admin_closed_privacy_request", [request_id], client)


_DECISION_AUDIT = {
    reports.SUSPEND: "admin_suspended_reported_account",
    reports.REINSTATE: "admin_reinstated_reported_account",
    reports.ERASE: "admin_erased_reported_account",
    reports.DISMISS: "admin_dismissed_child_report",
}


def decide_report(admin_id: str, request_id: str, action: str, deps: privacy.PrivacyDeps,
                  client: ClientInfo | None = None) -> dict[str, Any]:
    """Suspends, reinstates or erases a reported account, or dismisses the report; audited with
    the operator, the request and the account it acted on."""
    require_admin(admin_id)
    decision = reports.decide(request_id, action, deps)
    _record(admin_id, _DECISION_AUDIT[action], [decision.request_id, decision.user_id or "-"], client)
    return decision.as_dict()


def adjust_credits(admin_id: str, body: dict[str, Any], client: ClientInfo) -> dict[str, Any]:
    require_admin(admin_id)
    user_id, amount, reason = body.get("user_id"), body.get("amount"), body.get("reason")
    if not isinstance(user_id, str) or not user_id:
        raise InvalidInput("user_id is required", field="user_id")
    if not isinstance(amount, int) or isinstance(amount, bool) or amount == 0 or abs(amount) > MAX_ADJUSTMENT:
        raise InvalidInput(f"amount must be a non-zero whole number within ±{MAX_ADJUSTMENT}", field="amount")
    if not isinstance(reason, str) or not reason.strip() or len(reason) > 500:
        raise InvalidInput("reason is required (at most 500 characters)", field="reason")
    balance = credits.apply(user_id, amount, "adjustment", f"adjustment:{uuid.uuid4().hex}")
    _record(admin_id, "admin_adjusted_credits", [user_id, str(amount)], client)
    return {"user_id": user_id, "balance": balance}


def publish_policy(admin_id: str, body: dict[str, Any], deps: policy_notices.NoticeDeps,
                   client: ClientInfo) -> dict[str, Any]:
    require_admin(admin_id)
    version = body.get("version")
    result = policy_notices.publish(version if isinstance(version, str) else "", deps)
    _record(admin_id, "admin_published_policy", [str(version)], client)
    return result
