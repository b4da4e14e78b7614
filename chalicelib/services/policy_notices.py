"""Telling every active user of a material policy change, once each, in batches.

The publish step sends one message; each message handles one page of users and sends the
next page's message itself, so a big user base is spread over many short invocations and a
failure resumes from its page. A conditional write per user makes the notice at-most-once
per user and version, even when a message is delivered twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from pynamodb.exceptions import UpdateError

from chalicelib.adapters.mail import Mailer
from chalicelib.adapters.queue import MessageQueue
from chalicelib.errors import InvalidInput
from chalicelib.models import User
from chalicelib.services import notices, policy

log = logging.getLogger(__name__)
PAGE = 100


@dataclass(frozen=True)
class NoticeDeps:
    mailer: Mailer
    queue: MessageQueue
    app_base_url: str


def publish(version: str, deps: NoticeDeps) -> dict[str, Any]:
    found = policy.by_version(version)
    if found is None or not found.material:
        raise InvalidInput("version must name a material change listed in policy.VERSIONS", field="version")
    deps.queue.send({"kind": "policy_notice", "version": version, "start_key": None})
    return {"version": version, "status": "sending"}


def send_page(
    changed: policy.PolicyVersion, start_key: dict[str, Any] | None, deps: NoticeDeps
) -> int:
    """One page of users; queues the next page. Returns how many were told by this call."""
    version = changed.version
    notice = notices.policy_changed(
        deps.app_base_url, version, changed.summary, changed.effective_date.isoformat()
    )
    # A scan is right here: the notice goes to every account, so every row is read once.
    page = User.scan(limit=PAGE, page_size=PAGE, last_evaluated_key=start_key)
    sent = 0
    for user in page:
        if user.status != "active":
            continue
        try:
            user.update(
                actions=[User.policy_notice_version.set(version)],
                condition=(User.status == "active")
                & (User.policy_notice_version.does_not_exist() | (User.policy_notice_version != version)),
            )
        except UpdateError:
            continue  # told already, or closed meanwhile
        try:
            deps.mailer.send(user.email, notice.subject, notice.text)
        except Exception:
            # Give the claim back, so that the message's retry sends it.
            user.update(actions=[User.policy_notice_version.remove()])
            raise
        sent += 1
    if page.last_evaluated_key:
        deps.queue.send({"kind": "policy_notice", "version": version, "start_key": page.last_evaluated_key})
    return sent
