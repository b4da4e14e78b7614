"""The OpenAPI 3 document, built from the app's own routing table so no route is left out.

What a route answers on success (status, content types it reads) comes from its declaration in
app.py; what its bodies hold is written here, from the same constants the services check.
`tests/test_openapi_conformance.py` holds the app to this document.
"""

from __future__ import annotations

import re
from typing import Any

from chalicelib.adapters import images
from chalicelib.services import accounts, admin, catalogue, generation, inbox, passwords, policy, reports

_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "field": {"type": "string"},
            },
        }
    },
}

_TOKENS = {
    "type": "object",
    "required": ["access_token", "refresh_token", "expires_in"],
    "properties": {
        "access_token": {"type": "string"},
        "refresh_token": {"type": "string"},
        "token_type": {"type": "string"},
        "expires_in": {"type": "integer"},
    },
}

_REFRESH = {
    "type": "object",
    "required": ["refresh_token"],
    "properties": {"refresh_token": {"type": "string"}},
}

_TIME = {"type": "string", "format": "date-time"}
_SIZES = sorted({s for m in catalogue.MODELS.values() for s in m.sizes})
_SECONDS = sorted({s for m in catalogue.MODELS.values() for s in m.seconds})

_VIDEO = {
    "type": "object",
    "required": ["id", "status", "progress", "prompt", "model", "seconds", "size", "cost",
                 "created_at", "expires_at"],
    "properties": {
        "id": {"type": "string"},
        "status": {"type": "string", "enum": ["queued", "in_progress", "completed", "failed", "expired"]},
        "progress": {"type": "integer", "minimum": 0, "maximum": 100},
        "prompt": {"type": "string"},
        "model": {"type": "string"},
        "seconds": {"type": "integer"},
        "size": {"type": "string"},
        "cost": {"type": "integer"},
        "created_at": _TIME,
        "completed_at": {**_TIME, "nullable": True},
        "expires_at": {**_TIME, "nullable": True},
        "error": {"type": "object", "nullable": True},
        "thumbnail_url": {"type": "string"},
    },
}

# An operator's decision on a child report: the request's new status is the outcome.
_DECISION = {
    "type": "object",
    "required": ["id", "status"],
    "properties": {
        "id": {"type": "string"},
        "status": {"type": "string", "enum": list(reports.OUTCOMES)},
        "erasure_due_by": _TIME,
    },
}

_RESPONSE_BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/auth/signup"): _TOKENS,
    ("POST", "/auth/login"): _TOKENS,
    ("POST", "/auth/refresh"): _TOKENS,
    ("POST", "/me/password"): _TOKENS,
    ("POST", "/auth/password-reset/confirm"): _TOKENS,
    ("POST", "/videos"): _VIDEO,
    ("GET", "/videos/{video_id}"): _VIDEO,
    ("GET", "/videos"): {
        "type": "object",
        "required": ["videos", "next_cursor"],
        "properties": {"videos": {"type": "array", "items": _VIDEO},
                       "next_cursor": {"type": "string", "nullable": True}},
    },
    ("GET", "/me/credits"): {
        "type": "object",
        "required": ["balance", "transactions"],
        "properties": {
            "balance": {"type": "integer"},
            "transactions": {"type": "array", "items": {
                "type": "object",
                "required": ["kind", "amount", "balance_after", "reference", "created_at"],
                "properties": {"kind": {"type": "string"}, "amount": {"type": "integer"},
                               "balance_after": {"type": "integer"}, "reference": {"type": "string"},
                               "created_at": _TIME},
            }},
        },
    },
    ("GET", "/me"): {
        "type": "object",
        "required": ["id", "email", "email_verified", "signup_credits_pending", "signup_credits",
                     "credits"],
        "properties": {
            "id": {"type": "string"}, "email": {"type": "string"},
            "email_verified": {"type": "boolean"},
            "signup_credits_pending": {
                "type": "boolean",
                "description": "The free signup credits wait for the email to be verified (or for a "
                               "day whose budget of them is not spent)."},
            "signup_credits": {"type": "integer", "description": "How many credits wait, 0 if none."},
            "pending_email": {"type": "string", "nullable": True},
            "credits": {"type": "integer"},
        },
    },
    ("GET", "/videos/{video_id}/download"): {
        "type": "object", "required": ["url"], "properties": {"url": {"type": "string"}}},
    **{("POST", f"/admin/privacy-requests/{{request_id}}/{action}"): _DECISION for action in reports.ACTIONS},
}

_EMAIL = {"type": "string", "format": "email", "maxLength": 254}
_PASSWORD = {"type": "string", "minLength": passwords.MIN_LENGTH, "maxLength": passwords.MAX_LENGTH}


def _text(most: int) -> dict[str, Any]:
    return {"type": "string", "minLength": 1, "maxLength": most}


def _object(required: list[str], properties: dict[str, Any], **extra: Any) -> dict[str, Any]:
    schema = {"type": "object", "properties": properties, **extra}
    if required:  # OpenAPI 3.0 allows no empty `required`
        schema["required"] = required
    return schema


_PREFERENCES = _object([], {
    "language": {"type": "string", "enum": list(accounts.LANGUAGES)},
    "default_model": {"type": "string", "enum": list(catalogue.MODELS)},
    "default_seconds": {"type": "integer", "enum": _SECONDS},
    "default_size": {"type": "string", "enum": _SIZES},
    "notifications": _object([], {"video_ready": {"type": "boolean"},
                                  "product_updates": {"type": "boolean"}},
                             minProperties=1, additionalProperties=False),
}, additionalProperties=False)

_REQUEST_BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/auth/signup"): _object(
        ["email", "password", "birth_date", "accept_policy_version"],
        {
            "email": _EMAIL,
            "password": _PASSWORD,
            "birth_date": {"type": "string", "format": "date"},
            "accept_policy_version": {"type": "string", "enum": [policy.in_force().version]},
            "marketing_opt_in": {"type": "boolean"},
        },
    ),
    ("POST", "/auth/login"): _object(["email", "password"],
                                     {"email": {"type": "string"}, "password": {"type": "string"}}),
    ("POST", "/auth/refresh"): _REFRESH,
    ("POST", "/auth/logout"): _REFRESH,
    ("POST", "/auth/verify-email"): _object(["token"], {"token": {"type": "string"}}),
    ("POST", "/auth/restore-email"): _object(["token"], {"token": {"type": "string"}}),
    ("POST", "/auth/password-reset"): _object(["email"], {"email": _EMAIL}),
    ("POST", "/auth/password-reset/confirm"): _object(
        ["token", "password"], {"token": {"type": "string"}, "password": _PASSWORD}),
    ("POST", "/me/password"): _object(
        ["current_password", "new_password"],
        {"current_password": {"type": "string"}, "new_password": _PASSWORD}),
    # `password` (the current one) is asked with `email`, and only then.
    ("PATCH", "/me"): _object([], {"email": _EMAIL, "password": {"type": "string"},
                                   "preferences": _PREFERENCES,
                                   "marketing_opt_in": {"type": "boolean"}},
                              minProperties=1, additionalProperties=False),
    ("DELETE", "/me"): _object(["password"], {"password": {"type": "string"}}),
    ("PATCH", "/me/consents"): _object([], {"marketing": {"type": "boolean"},
                                            "analytics": {"type": "boolean"}},
                                       minProperties=1, additionalProperties=False),
    ("POST", "/me/policy-acceptance"): _object(
        ["version"], {"version": {"type": "string", "enum": [policy.in_force().version]}}),
    ("POST", "/privacy/requests"): _object(["type"], {
        "type": {"type": "string", "enum": list(inbox.REQUEST_TYPES)},
        "message": {"type": "string", "maxLength": inbox.MAX_MESSAGE},
        "email": {**_EMAIL, "description": "Required without signing in; refused when signed in."},
        "child_email": {**_EMAIL, "description": "Required for a child_report; refused otherwise."},
    }),
    ("POST", "/support"): _object(["email", "subject", "message"], {
        "email": _EMAIL, "subject": _text(200), "message": _text(inbox.MAX_MESSAGE)}),
    ("POST", "/videos"): _object(["prompt"], {
        "prompt": _text(generation.MAX_PROMPT),
        "model": {"type": "string", "enum": list(catalogue.MODELS)},
        "seconds": {"type": "integer", "enum": _SECONDS},
        "size": {"type": "string", "enum": _SIZES},
        "audio": {"type": "boolean", "default": False,
                  "description": "Sound on; only for a model whose `audio` is true in GET /plans."},
        "negative_prompt": {"type": "string", "maxLength": generation.MAX_NEGATIVE_PROMPT,
                            "description": "What to keep out; where the model's `negative_prompt` is true."},
        "reference_upload_id": {"type": "string", "description": "The start image (`start_image` models)."},
        "reference_url": {"type": "string", "format": "uri"},
        "end_reference_upload_id": {"type": "string",
                                    "description": "The end image (`end_image` models), with a start image."},
        "end_reference_url": {"type": "string", "format": "uri"},
    }),
    ("POST", "/uploads"): _object(["content_type", "size"], {
        "content_type": {"type": "string", "enum": list(images.TYPES)},
        "size": {"type": "integer", "minimum": 1, "maximum": images.MAX_BYTES},
    }),
    ("POST", "/billing/checkout"): _object(["product_id"], {
        "product_id": {"type": "string",
                       "enum": [*catalogue.CREDIT_PACKS, *(p for p in catalogue.PLANS if p != "free")]},
        "provider": {"type": "string", "enum": ["stripe", "creem"]},
    }),
    ("POST", "/webhooks/stripe"): {"type": "object"},
    ("POST", "/webhooks/creem"): {"type": "object"},
    ("POST", "/webhooks/fal"): {"type": "object"},
    ("POST", "/webhooks/replicate"): {"type": "object"},
    ("POST", "/admin/credits"): _object(["user_id", "amount", "reason"], {
        "user_id": {"type": "string", "minLength": 1},
        "amount": {"type": "integer", "minimum": -admin.MAX_ADJUSTMENT, "maximum": admin.MAX_ADJUSTMENT,
                   "not": {"enum": [0]}},
        "reason": _text(500),
    }),
    ("POST", "/admin/policy/publish"): _object(["version"], {"version": {"type": "string"}}),
}

_QUERY: dict[tuple[str, str], list[dict[str, Any]]] = {
    # Our webhook address as given to fal with each job: it names the job's app (owner/alias).
    ("POST", "/webhooks/fal"): [{"name": "app", "in": "query", "schema": {"type": "string"}}],
    ("GET", "/videos"): [
        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100}},
        {"name": "cursor", "in": "query", "schema": {"type": "string"}},
    ],
}

# The signature headers each webhook is verified by; without them the answer is 400.
_HEADERS = {
    "/webhooks/stripe": ["Stripe-Signature"],
    "/webhooks/creem": ["creem-signature"],
    "/webhooks/fal": ["X-Fal-Webhook-Request-Id", "X-Fal-Webhook-User-Id", "X-Fal-Webhook-Timestamp",
                      "X-Fal-Webhook-Signature"],
    "/webhooks/replicate": ["webhook-id", "webhook-timestamp", "webhook-signature"],
}

# Routes that move credits, where a write that keeps losing its race answers 503 (busy).
_MAY_BE_BUSY = {("POST", "/videos"), ("POST", "/admin/credits"), ("POST", "/webhooks/stripe"),
                ("POST", "/webhooks/creem"),
                ("POST", "/billing/local-checkout/{session_id}/pay")}

_PUBLIC = {"/health", "/openapi.json", "/policy", "/plans", "/auth/signup", "/auth/login",
           "/auth/refresh", "/auth/logout", "/auth/verify-email", "/auth/restore-email",
           "/auth/password-reset", "/auth/password-reset/confirm",
           "/webhooks/stripe", "/webhooks/creem", "/webhooks/fal", "/webhooks/replicate",
           "/billing/local-checkout/{session_id}", "/billing/local-checkout/{session_id}/pay"}
# Signed in or not: a signed-in caller's request is tied to the account.
_OPTIONAL_AUTH = {"/privacy/requests", "/support"}


def _success(method: str, path: str, view: Any) -> tuple[str, dict[str, Any]]:
    status = int(getattr(view, "success_status", 200))
    success: dict[str, Any] = {"description": "Success"}
    if status == 303:
        success["headers"] = {"Location": {"required": True, "schema": {"type": "string"}}}
    elif status != 204:
        if path == "/billing/local-checkout/{session_id}":
            success["content"] = {"text/html": {"schema": {"type": "string"}}}
        else:
            schema = _RESPONSE_BODIES.get((method, path), {"type": "object"})
            success["content"] = {"application/json": {"schema": schema}}
    return str(status), success


def _operation(path: str, method: str, view: Any, limits: str) -> dict[str, Any]:
    status, success = _success(method, path, view)
    error = {"description": "Error", "content": {"application/json": {"schema": _ERROR}}}
    responses = {status: success, "4XX": error}
    if (method, path) in _MAY_BE_BUSY:
        responses["503"] = {**error, "description": "Busy: the balance kept changing; try again"}
    operation: dict[str, Any] = {
        "operationId": f"{view.__name__}",
        "summary": (view.__doc__ or view.__name__.replace("_", " ")).strip().splitlines()[0],
        "responses": responses,
    }
    params = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in re.findall(r"{(\w+)}", path)
    ]
    params += _QUERY.get((method, path), [])
    params += [{"name": name, "in": "header", "required": True, "schema": {"type": "string"}}
               for name in _HEADERS.get(path, [])]
    if params:
        operation["parameters"] = params
    body = _REQUEST_BODIES.get((method, path))
    if body:
        types = getattr(view, "content_types", ("application/json",))
        operation["requestBody"] = {
            "required": True,
            "description": limits,
            "content": {kind: {"schema": body} for kind in types},
        }
    if path in _OPTIONAL_AUTH:
        operation["security"] = [{"bearer": []}, {}]
    elif path not in _PUBLIC:
        operation["security"] = [{"bearer": []}]
    return operation


def document(app: Any, max_body_bytes: int, max_json_depth: int) -> dict[str, Any]:
    limits = (f"At most {max_body_bytes} bytes (413 body_too_large beyond), JSON nested at most "
              f"{max_json_depth} levels (400 too_deep beyond), sent with its Content-Type (415 otherwise).")
    paths: dict[str, dict[str, Any]] = {}
    for path, entries in sorted(app.routes.items()):
        for method, entry in sorted(entries.items()):
            paths.setdefault(path, {})[method.lower()] = _operation(path, method, entry.view_function, limits)
    return {
        "openapi": "3.0.3",
        "info": {"title": "AISora2 API", "version": policy.in_force().version,
                 "description": f"Request bodies: {limits}"},
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}
        },
    }
