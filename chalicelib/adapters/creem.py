"""Creem's REST API (`POST /v1/checkouts` with an `x-api-key`), over the standard library's
HTTP client so the Lambda package carries nothing more for it."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

_TIMEOUT = 20


class CreemError(Exception):
    """Raised when Creem refuses a call or cannot be reached."""


class CreemPayments:
    def __init__(self, api_key: str, base_url: str = "https://api.creem.io") -> None:
        self._api_key = api_key
        self._base_url = base_url.rstrip("/")

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        request = urllib.request.Request(  # noqa: S310 - the configured https base address
            f"{self._base_url}{path}",
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"x-api-key": self._api_key, "Content-Type": "application/json",
                     "Accept": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=_TIMEOUT) as response:  # noqa: S310
                return dict(json.loads(response.read() or b"{}"))
        except urllib.error.HTTPError as error:
            raise CreemError(f"Creem answered {error.code} to {method} {path}") from error
        except (urllib.error.URLError, TimeoutError, ValueError) as error:
            raise CreemError(f"Creem could not be reached: {error}") from error

    def open_checkout(self, *, creem_product_id: str, request_id: str, email: str,
                      metadata: dict[str, str], success_url: str) -> tuple[str, str]:
        """Opens a checkout: (its id, which its events name; its address)."""
        answer = self._call("POST", "/v1/checkouts", {
            "product_id": creem_product_id,
            "request_id": request_id,
            "customer": {"email": email},
            "metadata": metadata,
            "success_url": success_url,
        })
        checkout_id, url = answer.get("id"), answer.get("checkout_url")
        if not isinstance(checkout_id, str) or not isinstance(url, str):
            raise CreemError("Creem's answer had no id or checkout_url")
        return checkout_id, url

    def cancel_subscription(self, subscription_id: str) -> None:
        self._call("POST", f"/v1/subscriptions/{subscription_id}/cancel", {})
