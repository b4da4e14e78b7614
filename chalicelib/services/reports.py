"""Child reports after they arrive: what an operator decides, and what a suspended account may do.

A report changes nothing by itself (inbox.submit_request). An operator then suspends the
account while checking (sessions ended, no sign-in, no videos, nothing erased), reinstates it,
erases it (the same closure as DELETE /me), or dismisses the report. Each decision is one
conditional write of the request's status with the account's, so two operators acting at once
cannot both win; the request's status is the outcome.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pynamodb.exceptions import DoesNotExist, TransactWriteError, UpdateError

from chalicelib.errors import AccountSuspended, AlreadyDecided, InvalidInput, NotFound
from chalicelib.models import PrivacyRequest, User
from chalicelib.models.base import transaction, utcnow
from chalicelib.services import accounts, audit, notices, passwords, privacy, sessions

# What each decision needs the report to be, and the status it leaves it in.
SUSPEND, REINSTATE, ERASE, DISMISS = "suspend", "reinstate", "erase", "dismiss"
_FROM: dict[str, tuple[str, ...]] = {
    SUSPEND: ("open",),
    REINSTATE: ("suspended",),
    ERASE: ("open", "suspended"),
    DISMISS: ("open",),
}
_TO = {SUSPEND: "suspended", REINSTATE: "reinstated", ERASE: "erased", DISMISS: "dismissed"}
ACTIONS = tuple(_TO)
OUTCOMES = tuple(_TO.values())


@dataclass(frozen=True)
class Decision:
    request_id: str
    status: str
    user_id: str | None
    erasure_due_by: str | None = None

    def as_dict(self) -> dict[str, Any]:
        answer: dict[str, Any] = {"id": self.request_id, "status": self.status}
        if self.erasure_due_by:
            answer["erasure_due_by"] = self.erasure_due_by
        return answer


def _report(request_id: str, action: str) -> PrivacyRequest:
    try:
        request = PrivacyRequest.get(request_id[:64], consistent_read=True)
    except DoesNotExist:
        raise NotFound("No privacy request with this id.") from None
    if request.type != "child_report":
        raise InvalidInput("only a child_report is suspended, reinstated, erased or dismissed; "
                           "close other requests once answered", field="request_id")
    if request.status not in _FROM[action]:
        raise AlreadyDecided(f"This report is {request.status}; {action} needs it "
                             f"{' or '.join(_FROM[action])}.")
    return request


def _account(request: PrivacyRequest) -> User:
    if not request.subject_user_id:
        raise InvalidInput("no account used the reported address when the report arrived; "
                           "dismiss the report", field="request_id")
    try:
        return User.get(request.subject_user_id, consistent_read=True)
    except DoesNotExist:
        raise AlreadyDecided("The reported account is erased already; dismiss the report.") from None


def _mark(request: PrivacyRequest, action: str) -> list[Any]:
    actions = [PrivacyRequest.status.set(_TO[action]), PrivacyRequest.decided_at.set(utcnow())]
    if action != SUSPEND:
        actions.append(PrivacyRequest.is_open.remove())  # decided: off the operators' queue
    return actions


def _decide_with_account(request: PrivacyRequest, action: str, user: User, before: str, after: str) -> None:
    """The report's status and the account's, together, each only from the state it was read in."""
    try:
        with transaction() as tx:
            tx.update(PrivacyRequest(request.request_id), actions=_mark(request, action),
                      condition=PrivacyRequest.status == request.status)
            tx.update(User(user.user_id), actions=[User.status.set(after)],
                      condition=User.status == before)
    except TransactWriteError:
        raise AlreadyDecided(f"The report or the account changed meanwhile (the account is "
                             f"{user.status}); look at the report again.") from None


def decide(request_id: str, action: str, deps: privacy.PrivacyDeps) -> Decision:
    """Carries out an operator's decision on a child report; see the module's docstring."""
    if action not in _TO:
        raise InvalidInput(f"action must be one of {', '.join(ACTIONS)}", field="action")
    request = _report(request_id, action)
    if action == DISMISS:
        try:
            request.update(actions=_mark(request, action), condition=PrivacyRequest.status == "open")
        except UpdateError:
            raise AlreadyDecided("This report was decided meanwhile; look at it again.") from None
        return Decision(request.request_id, _TO[action], request.subject_user_id)
    user = _account(request)
    if action == SUSPEND:
        _decide_with_account(request, action, user, "active", "suspended")
        sessions.end_all(user.user_id)
        audit.record(user.user_id, "account_suspended", ["status"])
        privacy.send(deps, user.email, notices.account_suspended())
    elif action == REINSTATE:
        _decide_with_account(request, action, user, "suspended", "active")
        audit.record(user.user_id, "account_reinstated", ["status"])
        privacy.send(deps, user.email, notices.account_reinstated())
    else:
        if user.status not in ("active", "suspended"):
            raise AlreadyDecided(f"The reported account is {user.status} already; dismiss the report.")
        try:
            due_by = privacy.close(user, utcnow(), "closed_on_child_report", deps)
        except TransactWriteError:
            raise AlreadyDecided("The account was closed meanwhile; its erasure is under way.") from None
        request.update(actions=_mark(request, action))  # the closure is the fact; this records it
        privacy.send(deps, user.email, notices.account_closed_on_review(due_by))
        return Decision(request.request_id, _TO[action], user.user_id, due_by.isoformat())
    return Decision(request.request_id, _TO[action], user.user_id)


def refuse_suspended_sign_in(body: dict[str, Any]) -> None:
    """After a refused sign-in: the owner of a suspended account, with its right password, is told
    why (AccountSuspended). Anyone else keeps the usual answer, which says nothing of a suspension."""
    email, password = body.get("email"), body.get("password")
    if not isinstance(email, str) or not isinstance(password, str) or len(password) > passwords.MAX_LENGTH:
        return
    try:
        user = accounts.user_by_email(accounts.normalise_email(email))
    except InvalidInput:
        return
    if user is not None and user.status == "suspended" and passwords.verify(user.password_hash, password):
        raise AccountSuspended()
