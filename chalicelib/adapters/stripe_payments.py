"""Stripe through its official SDK: Checkout Sessions, the customer portal, cancellation.

Imported only where a Stripe call is made: the SDK costs more to import than the API besides.
"""

from __future__ import annotations

from typing import Any

import stripe

# At most 20 s per call; the SDK retries network errors and 5xx itself.
_TIMEOUT = 20
_RETRIES = 2


class StripePayments:
    def __init__(self, api_key: str, http_client: Any | None = None) -> None:
        self._client = stripe.StripeClient(
            api_key,
            max_network_retries=_RETRIES,
            http_client=http_client or stripe.new_default_http_client(timeout=_TIMEOUT),
        )

    def open_checkout(
        self,
        *,
        user_id: str,
        email: str,
        product_id: str,
        name: str,
        price_cents: int,
        currency: str,
        subscription: bool,
        success_url: str,
        cancel_url: str,
        idempotency_key: str,
    ) -> tuple[str, str]:
        """Opens a Checkout Session: (its id, which its events name; its address)."""
        metadata = {"user_id": user_id, "product_id": product_id}
        price: dict[str, Any] = {
            "currency": currency,
            "unit_amount": price_cents,
            "product_data": {"name": f"AISora2 {name}"},
        }
        params: dict[str, Any] = {
            "mode": "subscription" if subscription else "payment",
            "line_items": [{"price_data": price, "quantity": 1}],
            "client_reference_id": user_id,
            "customer_email": email,
            "metadata": metadata,
            "success_url": success_url,
            "cancel_url": cancel_url,
        }
        if subscription:
            price["recurring"] = {"interval": "month"}
            # Copied onto the subscription, so its invoices and updates name user and plan.
            params["subscription_data"] = {"metadata": metadata}
        else:
            params["payment_intent_data"] = {"metadata": metadata}
        session = self._client.v1.checkout.sessions.create(
            params=params,  # type: ignore[arg-type]
            options={"idempotency_key": idempotency_key},
        )
        return str(session.id), str(session.url)

    def portal_url(self, customer_id: str, return_url: str) -> str:
        session = self._client.v1.billing_portal.sessions.create(
            params={"customer": customer_id, "return_url": return_url}
        )
        return str(session.url)

    def cancel_subscription(self, subscription_id: str) -> None:
        self._client.v1.subscriptions.cancel(subscription_id)
