"""A stateful property test of the ledger: random purchases, spends, refunds, disputes, replays
and reorderings, after each of which the balance equals the ledger, each payment counts once,
and the balance goes below zero only through a clawback."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import time
import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from chalicelib.errors import InsufficientCredits
from chalicelib.models import LedgerEntry, User
from chalicelib.services import catalogue, credits, payment_proof
from chalicelib.services import payment_webhooks as webhooks

SECRET = "whsec_property_test"


def signed(event: dict) -> tuple[bytes, str]:
    raw = json.dumps(event).encode()
    stamp = int(time.time())
    mac = hmac.new(SECRET.encode(), f"{stamp}.".encode() + raw, hashlib.sha256).hexdigest()
    return raw, f"t={stamp},v1={mac}"


class Ledger(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        from chalicelib.wiring import billing_dependencies

        self.deps = billing_dependencies()
        self.user_id = f"prop-{uuid.uuid4().hex}"
        now = datetime.now(UTC)
        User(self.user_id, email=f"{self.user_id}@example.com", password_hash="-", credits=0,
             age_attested_at=now, policy_version="v", policy_accepted_at=now, marketing_choice_at=now).save()
        self.sent: list[tuple[bytes, str]] = []
        self.intents: list[str] = []
        self.paid: dict[str, int] = {}  # payment intent -> its price

    def deliver(self, event: dict) -> None:
        delivery = signed(event)
        self.sent.append(delivery)
        webhooks.handle_stripe_webhook(*delivery, self.deps)

    @rule(pack=st.sampled_from(["pack_100", "pack_500"]))
    def purchase(self, pack: str) -> None:
        intent, session = f"pi_{uuid.uuid4().hex}", f"cs_{uuid.uuid4().hex}"
        price = catalogue.CREDIT_PACKS[pack].price_cents
        payment_proof.record_checkout("stripe", session, self.user_id, pack, price, "usd")  # as opened
        self.intents.append(intent)
        self.paid[intent] = price
        self.deliver({"id": f"evt_{uuid.uuid4().hex}", "type": "checkout.session.completed",
                      "created": int(time.time()), "data": {"object": {
                          "id": session, "mode": "payment", "payment_status": "paid",
                          "payment_intent": intent, "amount_total": price, "currency": "usd",
                          "metadata": {"user_id": self.user_id, "product_id": pack}}}})

    @rule(videos=st.integers(1, 4))
    def spend(self, videos: int) -> None:
        with contextlib.suppress(InsufficientCredits):
            credits.apply(self.user_id, -40 * videos, "debit", f"job:{uuid.uuid4().hex}:debit")

    @precondition(lambda self: self.intents)
    @rule(data=st.data(), share=st.sampled_from([0.25, 0.5, 1.0]), dispute=st.booleans())
    def take_back(self, data: st.DataObject, share: float, dispute: bool) -> None:
        intent = data.draw(st.sampled_from(self.intents))
        kind = "charge.dispute.created" if dispute else "charge.refunded"
        self.deliver({"id": f"evt_{uuid.uuid4().hex}", "type": kind, "created": int(time.time()),
                      "data": {"object": {"payment_intent": intent, "amount": self.paid[intent],
                                          "amount_refunded": int(self.paid[intent] * share)}}})

    @precondition(lambda self: self.sent)
    @rule(data=st.data())
    def replay(self, data: st.DataObject) -> None:
        raw, header = data.draw(st.sampled_from(self.sent))
        webhooks.handle_stripe_webhook(raw, header, self.deps)

    @invariant()
    def balance_is_the_ledger(self) -> None:
        rows = sorted(LedgerEntry.query(self.user_id, consistent_read=True), key=lambda r: r.created_at)
        balance = int(User.get(self.user_id, consistent_read=True).credits)
        assert balance == sum(int(r.amount) for r in rows)
        assert balance == (int(rows[-1].balance_after) if rows else 0)
        purchases = [r for r in rows if r.kind == "purchase"]
        assert len(purchases) == len({r.reference for r in purchases}) == len(self.intents)
        for row in rows:
            if int(row.balance_after) < 0 and int(row.amount) < 0:
                assert row.kind == "clawback", row.kind


@pytest.fixture
def stripe_secret(monkeypatch):
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", SECRET)


def test_the_ledger_holds_under_any_sequence_of_payments(world, stripe_secret):
    runner = Ledger.TestCase
    runner.settings = settings(max_examples=20, stateful_step_count=12, deadline=None,
                               suppress_health_check=list(HealthCheck))
    runner().runTest()
