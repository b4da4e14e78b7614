"""The OpenAPI 3 document, built from the app's own routing table so no route is left out."""

from __future__ import annotations

import re
from typing import Any

from chalicelib.services import catalogue, policy

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

_REQUEST_BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/auth/signup"): {
        "type": "object",
        "required": ["email", "password", "birth_date", "accept_policy_version"],
        "properties": {
            "email": {"type": "string", "format": "email", "maxLength": 254},
            "password": {"type": "string", "minLength": 8, "maxLength": 1024},
            "birth_date": {"type": "string", "format": "date"},
            "accept_policy_version": {"type": "string", "enum": [policy.in_force().version]},
            "marketing_opt_in": {"type": "boolean"},
        },
    },
    ("POST", "/auth/login"): {
        "type": "object",
        "required": ["email", "password"],
        "properties": {"email": {"type": "string"}, "password": {"type": "string"}},
    },
    ("POST", "/auth/refresh"): _REFRESH,
    ("POST", "/auth/logout"): _REFRESH,
    ("POST", "/videos"): {
        "type": "object",
        "required": ["prompt"],
        "properties": {
            "prompt": {"type": "string", "minLength": 1, "maxLength": 2000},
            "model": {"type": "string", "enum": list(catalogue.MODELS)},
            "seconds": {"type": "integer", "enum": [4, 8, 12]},
            "size": {
                "type": "string",
                "enum": sorted({s for m in catalogue.MODELS.values() for s in m.sizes}),
            },
        },
    },
}

_SUCCESS: dict[tuple[str, str], tuple[str, dict[str, Any] | None]] = {
    ("POST", "/auth/signup"): ("201", _TOKENS),
    ("POST", "/auth/login"): ("200", _TOKENS),
    ("POST", "/auth/refresh"): ("200", _TOKENS),
    ("POST", "/auth/logout"): ("204", None),
    ("POST", "/videos"): ("202", None),
    ("DELETE", "/videos/{video_id}"): ("204", None),
}

_PUBLIC = {"/health", "/openapi.json", "/policy", "/plans", "/auth/signup", "/auth/login",
           "/auth/refresh", "/auth/logout"}


def _operation(path: str, method: str, view: Any) -> dict[str, Any]:
    status, schema = _SUCCESS.get((method, path), ("200", {"type": "object"}))
    success: dict[str, Any] = {"description": "Success"}
    if schema is not None:
        success["content"] = {"application/json": {"schema": schema}}
    error = {"description": "Error", "content": {"application/json": {"schema": _ERROR}}}
    operation: dict[str, Any] = {
        "operationId": f"{view.__name__}",
        "summary": (view.__doc__ or view.__name__.replace("_", " ")).strip().splitlines()[0],
        "responses": {status: success, "4XX": error},
    }
    params = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in re.findall(r"{(\w+)}", path)
    ]
    if params:
        operation["parameters"] = params
    body = _REQUEST_BODIES.get((method, path))
    if body:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": body}},
        }
    if path not in _PUBLIC:
        operation["security"] = [{"bearer": []}]
    return operation


def document(app: Any) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for path, entries in sorted(app.routes.items()):
        for method, entry in sorted(entries.items()):
            paths.setdefault(path, {})[method.lower()] = _operation(path, method, entry.view_function)
    return {
        "openapi": "3.0.3",
        "info": {"title": "AISora2 API", "version": policy.in_force().version},
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}
        },
    }
