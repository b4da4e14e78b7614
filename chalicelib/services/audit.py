"""The account's audit trail: what changed and when, never the values themselves."""

from __future__ import annotations

import secrets

from chalicelib.models import AuditEntry
from chalicelib.models.base import utcnow
from chalicelib.services.client_info import ClientInfo


def record(user_id: str, action: str, fields: list[str], client: ClientInfo | None = None) -> None:
    now = utcnow()
    AuditEntry(
        user_id,
        f"{now.isoformat()}#{secrets.token_hex(4)}",
        action=action,
        fields=fields,
        client_ip=client.ip if client else None,
        created_at=now,
    ).save()


def trail(user_id: str, limit: int = 100) -> list[dict[str, object]]:
    return [
        {"action": e.action, "fields": list(e.fields), "at": e.created_at.isoformat()}
        for e in AuditEntry.query(user_id, scan_index_forward=False, limit=limit)
    ]
