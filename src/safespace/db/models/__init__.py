"""Every model, imported so that Base.metadata knows them all."""

from safespace.db.models.accounts import AuthSession, RecoveryCode, User
from safespace.db.models.audit import AuditEntry
from safespace.db.models.filters import Block, ConsentAnswer, UserFilters
from safespace.db.models.groups import Group, GroupRules, GroupTag, Membership, Room
from safespace.db.models.invites import Invite
from safespace.db.models.jobs import JobRun
from safespace.db.models.messages import Message
from safespace.db.models.moderation import JoinRequest, Sanction
from safespace.db.models.safety import Flag, Presence
from safespace.db.models.sessions import GroupSession, SessionAck, SessionRun

__all__ = [
    "AuditEntry",
    "AuthSession",
    "Block",
    "ConsentAnswer",
    "Group",
    "GroupRules",
    "GroupSession",
    "Flag",
    "GroupTag",
    "Invite",
    "JobRun",
    "JoinRequest",
    "Membership",
    "Message",
    "Presence",
    "RecoveryCode",
    "Sanction",
    "SessionAck",
    "SessionRun",
    "Room",
    "User",
    "UserFilters",
]
