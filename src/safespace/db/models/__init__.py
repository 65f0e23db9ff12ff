"""Every model, imported so that Base.metadata knows them all."""

from safespace.db.models.accounts import AuthSession, RecoveryCode, User
from safespace.db.models.audit import AuditEntry
from safespace.db.models.groups import Group, GroupRules, GroupTag, Membership, Room
from safespace.db.models.jobs import JobRun
from safespace.db.models.messages import Message

__all__ = [
    "AuditEntry",
    "AuthSession",
    "Group",
    "GroupRules",
    "GroupTag",
    "JobRun",
    "Membership",
    "Message",
    "RecoveryCode",
    "Room",
    "User",
]
