"""Background jobs that must run once per interval however many processes are running."""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from safespace.actions.base import transaction
from safespace.actions.invites import forget_old_invites
from safespace.actions.privacy import apply_retention, purge_expired_sessions
from safespace.actions.sessions import forget_old_acknowledgements
from safespace.actions.trending import refresh_trending
from safespace.db.models import JobRun
from safespace.services import Services

log = logging.getLogger(__name__)


async def claim(svc: Services, name: str, every: timedelta) -> bool:
    """True for exactly one process per interval. The claim is a conditional update in a
    write transaction: on PostgreSQL the row lock, on SQLite the single writer, make a
    second process see the first one's new time and back off."""
    now = svc.clock.now()
    try:
        async with transaction(svc) as tx:
            exists = await tx.session.scalar(select(JobRun.name).where(JobRun.name == name))
            if exists is None:
                tx.session.add(JobRun(name=name, last_run=now))
                return True
            result = await tx.session.execute(
                update(JobRun)
                .where(JobRun.name == name, JobRun.last_run <= now - every)
                .values(last_run=now)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]
    except IntegrityError:
        return False  # another process inserted the first row at the same moment


async def run_due_jobs(svc: Services) -> None:
    """Run each job whose interval has passed, on whichever process claims it first."""
    jobs = (
        ("trending", timedelta(minutes=5), refresh_trending),
        ("retention", timedelta(minutes=10), apply_retention),
        ("sessions", timedelta(minutes=10), purge_expired_sessions),
        ("session_acks", timedelta(hours=1), forget_old_acknowledgements),
        ("invites", timedelta(hours=1), forget_old_invites),
    )
    for name, every, run in jobs:
        try:
            if await claim(svc, name, every):
                await run(svc)
        except Exception:
            log.exception("background job %s failed", name)
