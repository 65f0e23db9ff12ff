"""Background jobs' last runs: the row a process must win to run a job this time."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from safespace.db.base import Base, UTCDateTime


class JobRun(Base):
    __tablename__ = "job_runs"

    name: Mapped[str] = mapped_column(String(48), primary_key=True)
    last_run: Mapped[datetime] = mapped_column(UTCDateTime())
