"""Audit rows, written inside the acting transaction: the record and the change commit together."""

from __future__ import annotations

from typing import Any

from safespace.actions.base import Tx
from safespace.db.models import AuditEntry


def record(
    tx: Tx,
    actor_id: int | None,
    action: str,
    *,
    group_id: int | None = None,
    target_user_id: int | None = None,
    **detail: Any,
) -> None:
    tx.session.add(
        AuditEntry(
            group_id=group_id,
            actor_id=actor_id,
            action=action,
            target_user_id=target_user_id,
            detail=detail,
            created_at=tx.svc.clock.now(),
        )
    )
