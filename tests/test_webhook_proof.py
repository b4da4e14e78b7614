"""Signed payment events are trusted only for what our records back: a correctly signed event
that claims another price, currency, mode, product, account or subscription than the checkout we
opened grants nothing and cancels nothing, is recorded, and counts the WebhookMismatch metric
that an alarm watches. The honest event still grants exactly once."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import uuid
from dataclasses import replace
from typing import Any

import pytest
from conftest import get
from test_billing import (  # noqa: F401 - webhook_secrets is an autouse fixture
    CREEM_SECRET,
    RecordingStripeTransport,
    account,
    balance,
    cancelled,
    creem_pack_paid,
    open_checkout,
    pack_paid,
    plan_bought,
    price,
    send_creem,
    send_stripe,
    signed,
    stripe_event,
    subscription_event,
    webhook_secrets,
)

from chalicelib import observability
from chalicelib.config import Settings
from chalicelib.local.infra import load_template
from chalicelib.models import BillingEvent, User
from chalicelib.services import billing, catalogue, local_checkout
from chalicelib.services import payment_webhooks as webhooks


@pytest.fixture
def emf(capsys):
    """Metrics as Lambda publishes them (EMF lines on stdout): the WebhookMismatch documents."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    observability.configure_logging(json_lines=True)

    def mismatches(everything: bool = False) -> list[dict[str, Any]]:
        out = capsys.readouterr().out
        documents = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        return documents if everything else [d for d in documents if "WebhookMismatch" in d]

    yield mismatches
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in saved[0]:
        if not type(handler).__module__.startswith("_pytest"):
            root.addHandler(handler)
    root.setLevel(saved[1])
    observability.configure_logging(json_lines=False)


@pytest.fixture
def stripe_api():
    """Stripe's API at its transport, to see what the handling asks of it (cancellations)."""
    from chalicelib.adapters.stripe_payments import StripePayments
    from chalicelib.wiring import billing_dependencies

    transport = RecordingStripeTransport({"id": "sub_x", "object": "subscription", "status": "canceled"})
    payments = StripePayments("sk_test_123", http_client=transport)
    return transport, replace(billing_dependencies(), stripe=payments)


def recorded(provider: str, event: dict[str, Any]) -> str | None:
    return BillingEvent.get(f"{provider}:{event['id']}", consistent_read=True).mismatch


def plan(client, who) -> str:
    return get(client, "/me", who["access_token"]).json_body["plan"]


# --- a pack bought through Stripe and Creem ---------------------------------------------------------


def stripe_claims(client, who, other, claim: str) -> dict[str, Any]:
    event = pack_paid(client, who)
    session = event["data"]["object"]
    if claim == "amount":
        session["amount_total"] = 1  # paid a cent for 100 credits
    elif claim == "currency":
        session["currency"] = "jpy"  # 499 yen is about three dollars
    elif claim == "livemode":
        event["livemode"] = True  # a live event on the test stage
    elif claim == "product":
        session["metadata"]["product_id"] = "pack_9999"
    elif claim == "account":
        session["metadata"]["user_id"] = session["client_reference_id"] = other["id"]
    elif claim == "unknown_checkout":
        session["id"] = f"cs_{uuid.uuid4().hex}"  # a session we never opened
    return event


def creem_claims(client, who, other, claim: str) -> dict[str, Any]:
    event = creem_pack_paid(client, who, f"ord_{uuid.uuid4().hex}")
    checkout = event["object"]
    if claim == "amount":
        checkout["order"]["amount"] = 1
    elif claim == "currency":
        checkout["order"]["currency"] = "JPY"
    elif claim == "livemode":
        checkout["mode"] = "prod"
    elif claim == "product":
        checkout["metadata"]["product_id"] = "pack_9999"
    elif claim == "account":
        checkout["metadata"]["user_id"] = other["id"]
    elif claim == "unknown_checkout":
        checkout["id"] = f"ch_{uuid.uuid4().hex}"
    return event


CLAIMS = ["amount", "currency", "livemode", "product", "account", "unknown_checkout"]


@pytest.mark.parametrize("claim", CLAIMS)
@pytest.mark.parametrize("provider", ["stripe", "creem"])
def test_a_signed_pack_event_that_our_checkout_does_not_back_grants_nothing(client, emf, provider, claim):
    who, other = account(client), account(client)
    event = (stripe_claims if provider == "stripe" else creem_claims)(client, who, other, claim)
    send = send_stripe if provider == "stripe" else send_creem
    response = send(client, event)
    assert response.status_code == 200  # the provider must not redeliver it for days
    assert response.json_body["outcome"] == f"mismatch {claim}"
    assert (balance(client, who), balance(client, other)) == (40, 40)
    assert recorded(provider, event) == claim
    (document,) = emf()
    assert (document["WebhookMismatch"], document["provider"], document["reason"]) == (1, provider, claim)
    # A redelivery is the same event: recorded once, counted once.
    assert send(client, event).json_body["outcome"] == "duplicate"
    assert emf() == []


@pytest.mark.parametrize("provider", ["stripe", "creem"])
def test_the_honest_pack_event_grants_exactly_once_and_counts_no_mismatch(client, emf, provider):
    who, other = account(client), account(client)
    event = (stripe_claims if provider == "stripe" else creem_claims)(client, who, other, "none")
    send = send_stripe if provider == "stripe" else send_creem
    assert send(client, event).json_body["outcome"] == "granted"
    assert send(client, event).json_body["outcome"] == "duplicate"
    assert balance(client, who) == 140
    assert recorded(provider, event) is None
    assert emf() == []


def test_a_mismatch_is_logged_without_the_accounts_it_names(client, emf):
    who, other = account(client), account(client)
    event = stripe_claims(client, who, other, "account")
    emf()
    send_stripe(client, event)
    lines = emf(everything=True)
    (warning,) = [line for line in lines if line.get("level") == "WARNING"]
    assert warning["mismatch"] == "account" and warning["event_id"] == f"stripe:{event['id']}"
    for private in (who["id"], other["id"], who["email"], other["email"]):
        assert private not in json.dumps(lines)


def test_the_mismatch_alarm_watches_the_metric_and_tells_the_alarm_topic():
    alarm = load_template()["Resources"]["WebhookMismatchAlarm"]["Properties"]
    (stat,) = [query["MetricStat"] for query in alarm["Metrics"] if "MetricStat" in query]
    assert (stat["Metric"]["Namespace"], stat["Metric"]["MetricName"]) == (observability.NAMESPACE,
                                                                          "WebhookMismatch")
    assert stat["Metric"]["Dimensions"] == [{"Name": "stack", "Value": {"Ref": "AWS::StackName"}}]
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (1, "GreaterThanOrEqualToThreshold")
    assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]


# --- live and test mode ------------------------------------------------------------------------------


@pytest.mark.parametrize(("stage", "override", "live"), [
    ("prod", None, True), ("dev", None, False), ("prod", "false", False), ("staging", "true", True),
])
def test_payments_are_live_on_the_prod_stage_unless_configured(monkeypatch, stage, override, live):
    monkeypatch.setenv("STAGE", stage)
    monkeypatch.setenv("LOCAL_CHECKOUT", "false")  # refused on the prod stage
    if override is None:
        monkeypatch.delenv("PAYMENTS_LIVEMODE", raising=False)
    else:
        monkeypatch.setenv("PAYMENTS_LIVEMODE", override)
    assert Settings.from_environ().payments_livemode is live


@pytest.mark.parametrize("provider", ["stripe", "creem"])
def test_a_test_event_on_a_live_stage_grants_nothing_but_the_local_checkout_still_pays(client, provider):
    from chalicelib.wiring import billing_dependencies

    who = account(client)
    dev = billing_dependencies()
    live = replace(dev, settings=replace(dev.settings, payments_livemode=True))
    test_event = pack_paid(client, who) if provider == "stripe" else creem_pack_paid(
        client, who, f"ord_{uuid.uuid4().hex}")
    if provider == "stripe":
        outcome = webhooks.handle_stripe_webhook(*signed(test_event), live)
    else:
        raw = json.dumps(test_event).encode()
        signature = hmac.new(CREEM_SECRET.encode(), raw, hashlib.sha256).hexdigest()
        outcome = webhooks.handle_creem_webhook(raw, signature, live)
    assert outcome == "mismatch livemode"
    url = billing.checkout(who["id"], {"product_id": "pack_100", "provider": provider}, live)["checkout_url"]
    local_checkout.pay(url.rsplit("/", 1)[1], live)  # signs live events on a live stage
    assert balance(client, who) == 140


# --- subscriptions ------------------------------------------------------------------------------------


def test_a_subscription_event_for_another_accounts_subscription_changes_and_cancels_nothing(
        client, stripe_api, emf):
    transport, deps = stripe_api
    victim, attacker = account(client), account(client)
    theirs = f"sub_{uuid.uuid4().hex}"
    t = int(time.time())
    webhooks.handle_stripe_webhook(*signed(plan_bought(client, victim, "pro", theirs, t)), deps)
    emf()
    # The attacker's own paid checkout, claiming the victim's subscription as the one it started.
    attackers = plan_bought(client, attacker, "basic", theirs, t + 10)
    claimed = webhooks.handle_stripe_webhook(*signed(attackers), deps)
    # The victim's subscription, cancelled or moved to another plan in the attacker's name.
    events = [subscription_event(attacker, f"customer.subscription.{kind}", status, "pro", t + 20, theirs)
              for kind, status in (("deleted", "canceled"), ("updated", "active"))]
    outcomes = [webhooks.handle_stripe_webhook(*signed(event), deps) for event in events]
    assert (claimed, outcomes) == ("mismatch subscription_owner", ["mismatch account", "mismatch account"])
    assert (plan(client, victim), plan(client, attacker)) == ("pro", "free")
    assert cancelled(transport) == []
    assert [d["reason"] for d in emf()] == ["subscription_owner", "account", "account"]
    assert recorded("stripe", events[0]) == "account"


def test_a_plan_checkout_completed_in_another_accounts_name_cancels_nothing(client, stripe_api):
    # Were it applied, the victim's current plan would lose to it and be cancelled at Stripe.
    transport, deps = stripe_api
    victim, attacker = account(client), account(client)
    t = int(time.time())
    bought = plan_bought(client, victim, "basic", f"sub_{uuid.uuid4().hex}", t)
    webhooks.handle_stripe_webhook(*signed(bought), deps)
    forged = plan_bought(client, attacker, "pro", f"sub_{uuid.uuid4().hex}", t + 10)
    forged["data"]["object"]["metadata"]["user_id"] = victim["id"]
    assert webhooks.handle_stripe_webhook(*signed(forged), deps) == "mismatch account"
    assert plan(client, victim) == "basic" and cancelled(transport) == []


def test_a_replaced_subscription_is_cancelled_only_if_the_account_owns_it(client, stripe_api, emf):
    # An account whose row names another's subscription (as a forged event could leave it before
    # these checks): buying a plan replaces it, but the other account's subscription stands.
    transport, deps = stripe_api
    owner, other = account(client), account(client)
    theirs, mine = f"sub_{uuid.uuid4().hex}", f"sub_{uuid.uuid4().hex}"
    t = int(time.time())
    webhooks.handle_stripe_webhook(*signed(plan_bought(client, owner, "pro", theirs, t)), deps)
    User(other["id"]).update(actions=[User.subscription_id.set(theirs), User.plan.set("pro"),
                                      User.subscription_provider.set("stripe"),
                                      User.subscription_status.set("active")])
    emf()
    event = plan_bought(client, other, "basic", mine, t + 10, open_checkout_despite_plan(other))
    assert webhooks.handle_stripe_webhook(*signed(event), deps) == "plan basic"
    assert cancelled(transport) == []
    assert [d["reason"] for d in emf()] == ["cancel_other"]


def open_checkout_despite_plan(who) -> str:
    """A checkout recorded as POST /billing/checkout records it, for an account it would refuse."""
    from chalicelib.services import payment_proof

    checkout_id = f"cs_{uuid.uuid4().hex}"
    payment_proof.record_checkout("stripe", checkout_id, who["id"], "basic", price("basic"), "usd")
    return checkout_id


def invoice(who, subscription: str, product: str, **changes: Any) -> dict[str, Any]:
    return stripe_event("invoice.paid", {
        "id": f"in_{uuid.uuid4().hex}", "object": "invoice", "amount_paid": price(product), "currency": "usd",
        "parent": {"subscription_details": {"subscription": subscription, "metadata": {
            "user_id": who["id"], "product_id": product}}}, **changes})


def test_a_renewal_is_granted_only_at_the_plans_price_to_the_subscriptions_account(client, emf):
    who, other = account(client), account(client)
    sub = f"sub_{uuid.uuid4().hex}"
    send_stripe(client, plan_bought(client, who, "standard", sub, int(time.time())))
    emf()
    cheap = invoice(who, sub, "standard", amount_paid=price("basic"))
    theirs = invoice(other, sub, "standard")
    upgraded = invoice(who, sub, "pro", amount_paid=price("pro"))
    outcomes = [send_stripe(client, event).json_body["outcome"] for event in (cheap, theirs, upgraded)]
    assert outcomes == ["mismatch amount", "mismatch account", "mismatch product"]
    assert (balance(client, who), balance(client, other)) == (40, 40)
    assert len(emf()) == 3
    assert send_stripe(client, invoice(who, sub, "standard")).json_body["outcome"] == "granted"
    assert balance(client, who) == 40 + 1000


def test_a_renewal_before_its_checkout_is_delivered_again_and_then_granted_once(client):
    who = account(client)
    sub = f"sub_{uuid.uuid4().hex}"
    early = invoice(who, sub, "basic")
    response = send_stripe(client, early)
    assert response.status_code == 503 and balance(client, who) == 40  # Stripe delivers it again
    send_stripe(client, plan_bought(client, who, "basic", sub, int(time.time())))
    assert send_stripe(client, early).json_body["outcome"] == "granted"
    assert send_stripe(client, early).json_body["outcome"] == "duplicate"
    assert balance(client, who) == 40 + 400


def test_a_renewal_of_a_subscription_we_never_sold_is_a_mismatch_once_it_is_old(client):
    who = account(client)
    stale = invoice(who, f"sub_{uuid.uuid4().hex}", "pro")
    stale["created"] = int(time.time()) - 2 * 24 * 3600
    outcome = send_stripe(client, stale).json_body["outcome"]
    assert outcome == "mismatch unknown_subscription"
    assert balance(client, who) == 40


def creem_subscription_paid(who, subscription: str, product: str = "basic", **product_changes: Any):
    return {"id": f"evt_{uuid.uuid4().hex}", "eventType": "subscription.paid",
            "created_at": int(time.time() * 1000),
            "object": {"id": subscription, "status": "active", "mode": "test",
                       "last_transaction_id": f"tran_{uuid.uuid4().hex}",
                       "product": {"id": f"prod_local_{product}", "price": price(product), "currency": "USD",
                                   **product_changes},
                       "metadata": {"user_id": who["id"], "product_id": product}}}


def test_a_creem_renewal_of_another_accounts_subscription_grants_nothing(client, emf):
    who, other = account(client), account(client)
    url = get_checkout_url(client, who, "basic", "creem")
    client.http.post(url + "/pay", body=b"", headers={"Content-Type": "application/x-www-form-urlencoded"})
    sub = "sub_local_" + url.rsplit("/", 1)[1]
    assert balance(client, who) == 40 + 400 and plan(client, who) == "basic"
    emf()
    theirs = creem_subscription_paid(other, sub)
    cheap = creem_subscription_paid(who, sub, price=1)
    cancel = {"id": f"evt_{uuid.uuid4().hex}", "eventType": "subscription.canceled", "created_at": 1,
              "object": {"id": sub, "mode": "test",
                         "metadata": {"user_id": other["id"], "product_id": "basic"}}}
    outcomes = [send_creem(client, event).json_body["outcome"] for event in (theirs, cheap, cancel)]
    assert outcomes == ["mismatch account", "mismatch amount", "mismatch account"]
    assert (balance(client, who), balance(client, other), plan(client, who)) == (440, 40, "basic")
    assert [d["reason"] for d in emf()] == ["account", "amount", "account"]
    assert send_creem(client, creem_subscription_paid(who, sub)).json_body["outcome"] == "granted"
    assert balance(client, who) == 40 + 800


def get_checkout_url(client, who, product: str, provider: str) -> str:
    from conftest import post

    url = post(client, "/billing/checkout", {"product_id": product, "provider": provider},
               who["access_token"]).json_body["checkout_url"]
    return url.split("8000", 1)[1]


# --- refunds and disputes -----------------------------------------------------------------------------


def test_a_refund_claws_back_only_from_a_payment_we_recorded_in_its_currency(client, emf):
    who = account(client)
    intent = f"pi_{uuid.uuid4().hex}"
    send_stripe(client, pack_paid(client, who, "pack_100", intent))
    emf()
    unknown = stripe_event("charge.refunded", {"payment_intent": f"pi_{uuid.uuid4().hex}", "amount": 499,
                                               "amount_refunded": 499, "currency": "usd"})
    other_currency = stripe_event("charge.refunded", {"payment_intent": intent, "amount_refunded": 499,
                                                      "currency": "eur"})
    assert send_stripe(client, unknown).json_body["outcome"] == "recorded"
    assert send_stripe(client, other_currency).json_body["outcome"] == "mismatch currency"
    assert balance(client, who) == 140
    # The share refunded is measured against what we recorded as paid, not the event's amount.
    halved = stripe_event("charge.refunded", {"payment_intent": intent, "amount": 998,
                                              "amount_refunded": 499, "currency": "usd"})
    assert send_stripe(client, halved).json_body["outcome"] == "clawed back 100"
    assert balance(client, who) == 40


# --- prices change, records stay -----------------------------------------------------------------


def test_a_checkout_is_paid_at_the_price_it_was_opened_at_whatever_the_catalogue_says_since(
        client, monkeypatch):
    who = account(client)
    event = pack_paid(client, who)  # opened at $4.99
    at_new_price = json.loads(json.dumps(event))
    at_new_price.update(id=f"evt_{uuid.uuid4().hex}")
    at_new_price["data"]["object"]["amount_total"] = 599
    pack = catalogue.CREDIT_PACKS["pack_100"]
    monkeypatch.setitem(catalogue.CREDIT_PACKS, "pack_100", replace(pack, price_cents=599))
    assert send_stripe(client, at_new_price).json_body["outcome"] == "mismatch amount"
    assert send_stripe(client, event).json_body["outcome"] == "granted"
    assert balance(client, who) == 140


def test_a_subscription_bought_before_checkouts_were_recorded_still_renews(client):
    # Its account's row names it (only a completed checkout ever wrote that): that is the record.
    who, other = account(client), account(client)
    sub = f"sub_{uuid.uuid4().hex}"
    User(who["id"]).update(actions=[User.subscription_id.set(sub), User.plan.set("basic"),
                                    User.subscription_provider.set("stripe"),
                                    User.subscription_status.set("active")])
    assert send_stripe(client, invoice(other, sub, "basic")).status_code == 503  # not the other's row
    assert send_stripe(client, invoice(who, sub, "basic")).json_body["outcome"] == "granted"
    assert send_stripe(client, invoice(other, sub, "basic")).json_body["outcome"] == "mismatch account"
    assert (balance(client, who), balance(client, other)) == (440, 40)


# --- erasure -------------------------------------------------------------------------------------------


def test_erasing_an_account_erases_its_checkouts_and_subscriptions(client):
    from chalicelib.models import Checkout, Subscription

    who = account(client)
    for product in ("pack_100", "basic"):
        path = get_checkout_url(client, who, product, "stripe")
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        client.http.post(path + "/pay", body=b"", headers=form)
    assert plan(client, who) == "basic"
    owned = [m for m in (Checkout, Subscription) for row in m.scan() if row.user_id == who["id"]]
    assert owned == [Checkout, Checkout, Subscription]
    closed = client.http.request("DELETE", "/me", body=json.dumps({"password": who["password"]}), headers={
        "Content-Type": "application/json", "Authorization": f"Bearer {who['access_token']}"})
    assert closed.status_code == 202
    tick = client.events.generate_cw_event(source="aws.events", detail_type="Scheduled Event", detail={},
                                           resources=[])
    assert client.lambda_.invoke("erase_closed_accounts", tick).payload["erased"] >= 1
    assert [row for m in (Checkout, Subscription) for row in m.scan() if row.user_id == who["id"]] == []


def test_a_pack_checkout_completed_as_a_subscription_grants_nothing(client):
    who = account(client)
    event = pack_paid(client, who)
    event["data"]["object"].update(mode="subscription", subscription=f"sub_{uuid.uuid4().hex}")
    assert send_stripe(client, event).json_body["outcome"] == "mismatch mode"
    assert (balance(client, who), plan(client, who)) == (40, "free")
