"""Who may do what: every route of the app, walked as seven people.

The routes are read from the app itself (tests/web_walk.py), so a route added without a
line in these tables fails test_every_route_is_classified, and the walk then covers it.
Each person makes a request that would succeed for someone allowed to make it (a valid
body, an existing target), with a session of their own, so the only thing that differs
between them is who they are:

- anonymous: no credentials at all;
- member: in the group (its main room included);
- non_member: signed in, not in the group;
- facilitator: the group's facilitator (its creator);
- other_facilitator: a facilitator of another group, not in this one;
- guest: a friend or family member another member brought into the group (guests
  allowed, read-only);
- admin: an administrator, not in the group. Administrators manage roles and any group's
  rules, retention and deletion, but never read a room they are not in: private
  conversation stays with the people in it.

API requests carry a bearer token; page requests the session cookie with the page's CSRF
token, as a browser sends them. Refusals are the JSON error of docs/protocol.md (API) and
private pages send anonymous visitors to /login.
"""

from __future__ import annotations

import re
import uuid
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from helpers import LiveServer, assert_error, db_scalar, join, open_ws, unique_name
from web_walk import (
    ACTORS,
    API_CALLS,
    ELEVATED_TEXT,
    PAGE_CALLS,
    Call,
    Session,
    World,
    app_routes,
    build_world,
    send,
)

Expected = int | tuple[int, str]  # a status, or a redirect status and a pattern for Location


def each(
    anonymous: Expected,
    member: Expected,
    non_member: Expected,
    facilitator: Expected,
    other_facilitator: Expected,
    admin: Expected,
) -> dict[str, Expected]:
    return dict(
        zip(
            ("anonymous", "member", "non_member", "facilitator", "other_facilitator", "admin"),
            (anonymous, member, non_member, facilitator, other_facilitator, admin),
            strict=True,
        )
    )


def everyone(status: Expected) -> dict[str, Expected]:
    return {**each(status, status, status, status, status, status), "guest": status}


def signed_in(status: Expected) -> dict[str, Expected]:
    """401 for anonymous; `status` for anyone signed in (their own account's business)."""
    return {**each(401, status, status, status, status, status), "guest": status}


# --------------------------------------------------------------------------- the API

API_EXPECT: dict[tuple[str, str], dict[str, Expected]] = {
    ("GET", "/api/v1/openapi.json"): everyone(200),
    # accounts: open doors, then each person's own account
    ("POST", "/api/v1/auth/signup"): everyone(201),
    ("POST", "/api/v1/auth/login"): everyone(200),
    ("POST", "/api/v1/auth/recover"): everyone(200),
    ("POST", "/api/v1/auth/logout"): signed_in(204),
    ("GET", "/api/v1/auth/me"): signed_in(200),
    ("GET", "/api/v1/auth/sessions"): signed_in(200),
    # the target is a session of the member's: nobody else can end it, or learn it exists
    ("DELETE", "/api/v1/auth/sessions/{session_id}"): each(401, 204, 404, 404, 404, 404),
    ("POST", "/api/v1/auth/password"): signed_in(204),
    ("POST", "/api/v1/auth/recovery-codes"): signed_in(200),
    ("GET", "/api/v1/me/groups"): signed_in(200),
    ("GET", "/api/v1/me/export"): signed_in(200),
    ("POST", "/api/v1/me/erase"): signed_in(204),
    # groups: the directory is public; anyone signed in may join
    ("GET", "/api/v1/groups"): everyone(200),
    ("POST", "/api/v1/groups"): each(401, 403, 403, 201, 201, 201),
    ("GET", "/api/v1/groups/{slug}"): everyone(200),
    ("POST", "/api/v1/groups/{slug}/join"): signed_in(200),
    ("POST", "/api/v1/groups/{slug}/accept-rules"): each(401, 200, 403, 200, 403, 403),
    ("PUT", "/api/v1/groups/{slug}/alias"): each(401, 200, 403, 200, 403, 403),
    ("POST", "/api/v1/groups/{slug}/leave"): each(401, 204, 404, 204, 404, 404),
    # managing a group: its facilitators and administrators
    ("PUT", "/api/v1/groups/{slug}/rules"): each(401, 403, 403, 200, 403, 200),
    ("PUT", "/api/v1/groups/{slug}/retention"): each(401, 403, 403, 200, 403, 200),
    ("DELETE", "/api/v1/groups/{slug}"): each(401, 403, 403, 204, 403, 204),
    # the room: its members only; anyone else can't tell it from a room that doesn't exist
    ("GET", "/api/v1/rooms/{room_id}/messages"): each(401, 200, 404, 200, 404, 404),
    ("POST", "/api/v1/rooms/{room_id}/messages"): each(401, 201, 404, 201, 404, 404),
    # roles: administrators only
    ("PUT", "/api/v1/admin/users/{username}/role"): each(401, 403, 403, 403, 403, 200),
    # safety. One message in full ("Show" on a warned one), and "I'm worried" about its
    # author: the room's members only, like the room itself.
    ("GET", "/api/v1/rooms/{room_id}/messages/{seq}"): each(401, 200, 404, 200, 404, 404),
    ("POST", "/api/v1/rooms/{room_id}/messages/{seq}/worried"): each(401, 202, 404, 202, 404, 404),
    # The queue: anyone signed in may ask, and sees the flags of the groups they run (a
    # member or a stranger: none; an admin: every group's). See
    # test_the_flags_queue_shows_each_person_only_the_groups_they_run.
    ("GET", "/api/v1/flags"): signed_in(200),
    # A flag: the group's facilitators and admins; for anyone else it doesn't exist.
    ("POST", "/api/v1/flags/{flag_id}"): each(401, 404, 404, 200, 404, 200),
    # The private line to the facilitators: a member's own; the facilitators answer it
    # from their queue, and nobody outside the group can open one.
    ("POST", "/api/v1/groups/{slug}/support-room"): each(401, 200, 403, 403, 403, 403),
    # A break from a group's rooms: anyone in the group, facilitators included.
    ("POST", "/api/v1/groups/{slug}/break"): each(401, 200, 403, 200, 403, 403),
    # content warnings, consent and filters. The categories are public, like the rules.
    ("GET", "/api/v1/content-warnings"): everyone(200),
    # Asking the room first, and answering (a third member's request): the room's members.
    ("POST", "/api/v1/rooms/{room_id}/consent"): each(401, 201, 404, 201, 404, 404),
    ("POST", "/api/v1/rooms/{room_id}/consent/{seq}/answer"): each(401, 200, 404, 200, 404, 404),
    # Each person's own filters.
    ("GET", "/api/v1/me/filters"): signed_in(200),
    ("PUT", "/api/v1/me/filters"): signed_in(200),
    # Blocking the author of a message you can see (a third member's): the room's members;
    # for anyone else the message doesn't exist. A block is its maker's alone to lift.
    ("POST", "/api/v1/me/blocks"): each(401, 201, 404, 201, 404, 404),
    ("DELETE", "/api/v1/me/blocks/{block_id}"): each(401, 204, 404, 404, 404, 404),
    # A group's topic rules: its facilitators and administrators, like its ground rules.
    ("PUT", "/api/v1/groups/{slug}/topics"): each(401, 403, 403, 200, 403, 200),
    # Running a group and moderation (issue 6; docs/protocol.md). A report gets the same
    # answer from anyone signed in, in the room or not, so it can't tell who is there.
    ("POST", "/api/v1/rooms/{room_id}/reports"): signed_in(202),
    # Sanctions (about a plain member who walks nothing) and lifting a mute: the group's
    # facilitators and administrators; 403 for anyone else, like the group's other tools.
    ("POST", "/api/v1/groups/{slug}/sanctions"): each(401, 403, 403, 201, 403, 201),
    ("POST", "/api/v1/groups/{slug}/sanctions/{sanction_id}/lift"): each(
        401, 403, 403, 204, 403, 204
    ),
    # The audit log: members read its public part, facilitators and admins all of it;
    # for anyone else the group's log isn't there.
    ("GET", "/api/v1/groups/{slug}/audit"): each(401, 200, 404, 200, 404, 200),
    ("GET", "/api/v1/me/sanctions"): signed_in(200),
    # Handing a flag on: like the flag itself, it doesn't exist for anyone else.
    ("POST", "/api/v1/flags/{flag_id}/assign"): each(401, 404, 404, 200, 404, 200),
    # Suspending an account (a throwaway one, not a walker): administrators only.
    ("PUT", "/api/v1/admin/users/{username}/suspended"): each(401, 403, 403, 403, 403, 200),
    # Co-facilitators: the group's owner (the facilitator, who made it) and admins.
    ("PUT", "/api/v1/groups/{slug}/facilitators/{alias}"): each(401, 403, 403, 200, 403, 200),
    ("DELETE", "/api/v1/groups/{slug}/facilitators/{alias}"): each(401, 403, 403, 200, 403, 200),
    # Settings and join requests (of a group that approves newcomers): its facilitators
    # and administrators.
    ("PATCH", "/api/v1/groups/{slug}/settings"): each(401, 403, 403, 200, 403, 200),
    ("GET", "/api/v1/groups/{slug}/requests"): each(401, 403, 403, 200, 403, 200),
    ("POST", "/api/v1/groups/{slug}/requests/{request_id}"): each(401, 403, 403, 204, 403, 204),
    # The whisper channel is a room: the group's facilitators only. An administrator who
    # isn't in the group doesn't read its rooms, this one included.
    ("POST", "/api/v1/groups/{slug}/whisper"): each(401, 403, 403, 200, 403, 403),
    # Sessions: the schedule and its calendar files are for the group's members (and
    # admins); for anyone else the group's schedule isn't there. Scheduling and
    # cancelling: facilitators and admins.
    ("GET", "/api/v1/groups/{slug}/sessions"): each(401, 200, 404, 200, 404, 200),
    ("POST", "/api/v1/groups/{slug}/sessions"): each(401, 403, 403, 201, 403, 201),
    ("DELETE", "/api/v1/groups/{slug}/sessions/{session_id}"): each(401, 403, 403, 204, 403, 204),
    ("GET", "/api/v1/groups/{slug}/sessions/{session_id}/calendar.ics"): each(
        401, 200, 404, 200, 404, 200
    ),
    # Guests and invitations: any member brings a guest (the group allows them); a guest
    # can't bring another, and admins aren't members. Opening a link and accepting one
    # (a facilitator's member link) are for anyone signed in; someone already in the
    # group is told so.
    ("POST", "/api/v1/groups/{slug}/invites"): each(401, 201, 403, 201, 403, 403),
    ("GET", "/api/v1/invites/{token}"): signed_in(200),
    ("POST", "/api/v1/invites/{token}/accept"): each(401, 409, 200, 409, 200, 200),
    # The live session: the room's members read it and acknowledge its rules; opening and
    # closing one are the group's facilitators' (and admins').
    ("GET", "/api/v1/rooms/{room_id}/session"): each(401, 200, 404, 200, 404, 404),
    ("POST", "/api/v1/rooms/{room_id}/session/acknowledge"): each(401, 204, 404, 204, 404, 404),
    ("POST", "/api/v1/groups/{slug}/session/open"): each(401, 403, 403, 201, 403, 201),
    ("POST", "/api/v1/groups/{slug}/session/close"): each(401, 403, 403, 204, 403, 204),
}

# --------------------------------------------------------------------------- pages

LOGIN = (303, r"^/login\?next=/")  # private pages send anonymous visitors to sign in
JOIN_FIRST = (303, r"^/g/[^/?#]+#join$")
TO_ROOM = (303, r"^/g/[^/?#]+/room$")
NOT_MEMBER_ERROR = (303, r"^/g/[^/?#]+\?error=(not_member|rules_not_accepted)#")
TO_GROUP = (303, r"^/g/[^/?#]+$")
POSTED = (303, r"^/g/[^/?#]+/room#composer$")
WORRIED = (303, r"^/rooms/\d+\?notice=worried#m-\d+$")
REPORTED = (303, r"^/rooms/\d+\?notice=reported#m-\d+$")
FLAG_SAVED = (303, r"^/facilitate\?notice=saved$")
ACTED = (303, r"^/facilitate\?notice=acted$")
HANDED = (303, r"^/facilitate\?notice=handed$")
BLOCKED = (303, r"^/rooms/\d+\?notice=blocked#m-\d+$")
ASKED = (303, r"^/rooms/\d+#m-\d+$")
ANSWERED = (303, r"^/rooms/\d+\?notice=answered#m-\d+$")
SETTINGS_SAVED = (303, r"^/g/[^/?#]+/settings\?notice=saved$")
FACILITATOR_ADDED = (303, r"^/g/[^/?#]+/settings\?notice=facilitator-added#facilitators$")
FACILITATOR_REMOVED = (303, r"^/g/[^/?#]+/settings\?notice=facilitator-removed#facilitators$")
TO_WHISPER = (303, r"^/rooms/\d+$")
DECLINED = (303, r"^/facilitate\?notice=declined#requests$")
SCHEDULED = (303, r"^/g/[^/?#]+/sessions\?notice=scheduled$")
CANCELLED = (303, r"^/g/[^/?#]+/sessions\?notice=cancelled$")
LIFTED = (303, r"^/g/[^/?#]+/log\?notice=lifted#sanctions$")
INVITE_REFUSED = (303, r"^/g/[^/?#]+\?invite_error=forbidden#invite$")
ALREADY_IN = (303, r"^/invite/[^/?#]+\?error=already_member$")
TO_CARD = (303, r"^/g/[^/?#]+/room#session-card$")


def page_for_anyone_signed_in(status: Expected) -> dict[str, Expected]:
    return {**each(LOGIN, status, status, status, status, status), "guest": status}


PAGE_EXPECT: dict[tuple[str, str], dict[str, Expected]] = {
    # Running a group, as the API answers the same things (group_admin.py). Settings, join
    # requests, sessions and lifting: the group's facilitators and admins. Choosing
    # co-facilitators: the owner (the facilitator, who made it) and admins. The whisper
    # channel is a room: its facilitators only. The schedule is for members (and admins):
    # anyone else is asked to join first, as the room does. The log: members read its
    # public part; for anyone else it isn't there. Your own sanctions: anyone signed in.
    ("GET", "/g/{slug}/settings"): each(LOGIN, 403, 403, 200, 403, 200),
    ("POST", "/g/{slug}/settings"): each(LOGIN, 403, 403, SETTINGS_SAVED, 403, SETTINGS_SAVED),
    ("POST", "/g/{slug}/facilitators/add"): each(
        LOGIN, 403, 403, FACILITATOR_ADDED, 403, FACILITATOR_ADDED
    ),
    ("POST", "/g/{slug}/facilitators/remove"): each(
        LOGIN, 403, 403, FACILITATOR_REMOVED, 403, FACILITATOR_REMOVED
    ),
    ("POST", "/g/{slug}/whisper"): each(LOGIN, 403, 403, TO_WHISPER, 403, 403),
    ("POST", "/g/{slug}/requests/{request_id}"): each(LOGIN, 403, 403, DECLINED, 403, DECLINED),
    ("GET", "/g/{slug}/sessions"): each(LOGIN, 200, JOIN_FIRST, 200, JOIN_FIRST, 200),
    ("POST", "/g/{slug}/sessions"): each(LOGIN, 403, 403, SCHEDULED, 403, SCHEDULED),
    ("POST", "/g/{slug}/sessions/{session_id}/cancel"): each(
        LOGIN, 403, 403, CANCELLED, 403, CANCELLED
    ),
    ("GET", "/g/{slug}/log"): each(LOGIN, 200, 404, 200, 404, 200),
    ("POST", "/g/{slug}/sanctions/{sanction_id}/lift"): each(LOGIN, 403, 403, LIFTED, 403, LIFTED),
    ("GET", "/settings/sanctions"): page_for_anyone_signed_in(200),
    ("GET", "/healthz"): everyone(200),
    ("GET", "/"): everyone(200),
    ("GET", "/faq"): everyone(200),
    ("GET", "/guidelines"): everyone(200),
    ("GET", "/groups"): everyone(200),
    ("GET", "/g/{slug}"): everyone(200),
    ("GET", "/signup"): everyone(200),
    ("POST", "/signup"): everyone(200),
    ("GET", "/login"): everyone(200),
    ("POST", "/login"): everyone((303, r"^/groups$")),
    ("GET", "/recover"): everyone(200),
    ("POST", "/recover"): everyone((303, r"^/settings\?notice=password-reset$")),
    ("POST", "/logout"): everyone((303, r"^/$")),
    ("GET", "/settings"): page_for_anyone_signed_in(200),
    ("POST", "/settings/sessions/{session_id}/end"): each(
        LOGIN, (303, r"^/settings\?notice=session-ended$"), 404, 404, 404, 404
    ),
    ("POST", "/settings/password"): page_for_anyone_signed_in(
        (303, r"^/settings\?notice=password-changed$")
    ),
    ("POST", "/settings/recovery-codes"): page_for_anyone_signed_in(200),
    ("GET", "/settings/export"): page_for_anyone_signed_in(200),
    ("POST", "/settings/erase"): page_for_anyone_signed_in(200),
    ("GET", "/groups/new"): each(LOGIN, 403, 403, 200, 200, 200),
    ("POST", "/groups/new"): each(LOGIN, 403, 403, TO_GROUP, TO_GROUP, TO_GROUP),
    ("POST", "/g/{slug}/join"): page_for_anyone_signed_in(TO_ROOM),
    ("POST", "/g/{slug}/accept"): each(
        LOGIN, TO_ROOM, NOT_MEMBER_ERROR, TO_ROOM, NOT_MEMBER_ERROR, NOT_MEMBER_ERROR
    ),
    ("POST", "/g/{slug}/alias"): each(
        LOGIN,
        (303, r"^/g/[^/?#]+#alias$"),
        NOT_MEMBER_ERROR,
        (303, r"^/g/[^/?#]+#alias$"),
        NOT_MEMBER_ERROR,
        NOT_MEMBER_ERROR,
    ),
    ("POST", "/g/{slug}/leave"): each(LOGIN, TO_GROUP, 404, TO_GROUP, 404, 404),
    ("GET", "/g/{slug}/rules/edit"): each(LOGIN, 403, 403, 200, 403, 200),
    ("POST", "/g/{slug}/rules"): each(LOGIN, 403, 403, TO_GROUP, 403, TO_GROUP),
    ("POST", "/g/{slug}/retention"): each(
        LOGIN,
        403,
        403,
        (303, r"^/g/[^/?#]+\?saved=retention#manage$"),
        403,
        (303, r"^/g/[^/?#]+\?saved=retention#manage$"),
    ),
    ("POST", "/g/{slug}/delete"): each(
        LOGIN, 403, 403, (303, r"^/groups$"), 403, (303, r"^/groups$")
    ),
    ("GET", "/g/{slug}/room"): each(LOGIN, 200, JOIN_FIRST, 200, JOIN_FIRST, JOIN_FIRST),
    # Not a member: nothing is posted, and the room then sends them to its group page.
    ("POST", "/g/{slug}/room/send"): each(
        LOGIN, POSTED, JOIN_FIRST, POSTED, JOIN_FIRST, JOIN_FIRST
    ),
    ("GET", "/admin"): each(LOGIN, 403, 403, 403, 403, 200),
    ("POST", "/admin/role"): each(LOGIN, 403, 403, 403, 403, (303, r"^/admin\?notice=")),
    # safety: help is for everyone, signed in or not
    ("GET", "/support"): everyone(200),
    ("GET", "/break"): everyone(200),
    # a room by id (the private line, say): its members only, like /g/{slug}/room
    ("GET", "/rooms/{room_id}"): each(LOGIN, 200, 404, 200, 404, 404),
    ("POST", "/g/{slug}/support-room"): each(
        LOGIN, (303, r"^/rooms/\d+\?notice=support-opened$"), 403, 403, 403, 403
    ),
    ("POST", "/g/{slug}/break"): each(LOGIN, TO_ROOM, 403, TO_ROOM, 403, 403),
    ("POST", "/rooms/{room_id}/worried/{seq}"): each(LOGIN, WORRIED, 404, WORRIED, 404, 404),
    # Reporting without JavaScript: the form is for the room's members; sending it answers
    # everyone signed in alike, as the API does (a room you're not in then shows its 404).
    ("GET", "/rooms/{room_id}/report/{seq}"): each(LOGIN, 200, 404, 200, 404, 404),
    ("POST", "/rooms/{room_id}/report/{seq}"): page_for_anyone_signed_in(REPORTED),
    # the queue: facilitators (of any group: it shows their own) and admins
    ("GET", "/facilitate"): each(LOGIN, 403, 403, 200, 200, 200),
    ("POST", "/facilitate/flags/{flag_id}"): each(LOGIN, 404, 404, FLAG_SAVED, 404, FLAG_SAVED),
    # Acting on an item (a sanction) and handing it on, as the API answers them.
    ("POST", "/facilitate/sanction"): each(LOGIN, 403, 403, ACTED, 403, ACTED),
    ("POST", "/facilitate/flags/{flag_id}/assign"): each(LOGIN, 404, 404, HANDED, 404, HANDED),
    # content warnings, consent, filters and blocks, as the API answers them: each
    # person's own filters; a block is its maker's own; the room's members only
    ("GET", "/settings/filters"): page_for_anyone_signed_in(200),
    ("POST", "/settings/filters"): page_for_anyone_signed_in(
        (303, r"^/settings/filters\?notice=saved$")
    ),
    ("POST", "/settings/blocks/{block_id}/remove"): each(
        LOGIN, (303, r"^/settings/filters\?notice=unblocked#blocked-title$"), 404, 404, 404, 404
    ),
    ("POST", "/g/{slug}/topics"): each(
        LOGIN,
        403,
        403,
        (303, r"^/g/[^/?#]+\?saved=topics#topics$"),
        403,
        (303, r"^/g/[^/?#]+\?saved=topics#topics$"),
    ),
    ("POST", "/rooms/{room_id}/block/{seq}"): each(LOGIN, BLOCKED, 404, BLOCKED, 404, 404),
    ("POST", "/rooms/{room_id}/consent"): each(LOGIN, ASKED, 404, ASKED, 404, 404),
    ("POST", "/rooms/{room_id}/consent/{seq}/answer"): each(
        LOGIN, ANSWERED, 404, ANSWERED, 404, 404
    ),
    # Guests, invitations and live sessions, as the API answers them.
    ("POST", "/g/{slug}/invites"): each(
        LOGIN, 200, INVITE_REFUSED, 200, INVITE_REFUSED, INVITE_REFUSED
    ),
    ("GET", "/invite/{token}"): everyone(200),
    ("POST", "/invite/{token}"): each(LOGIN, ALREADY_IN, TO_ROOM, ALREADY_IN, TO_ROOM, TO_ROOM),
    ("GET", "/rooms/{room_id}/session-card"): each(LOGIN, 200, 404, 200, 404, 404),
    ("POST", "/rooms/{room_id}/session/acknowledge"): each(LOGIN, TO_CARD, 404, TO_CARD, 404, 404),
    ("POST", "/g/{slug}/session/open"): each(LOGIN, 403, 403, TO_CARD, 403, TO_CARD),
    ("POST", "/g/{slug}/session/close"): each(LOGIN, 403, 403, TO_CARD, 403, TO_CARD),
}

# The guest: a friend or family member a member brought into the group (guests allowed,
# read-only, the group's default). A guest reads the room, the schedule and the public log
# like a member, can always reach a facilitator privately, take a break, report, say
# they're worried and block; they can't write in the room (403 `guest_read_only`), ask the
# room, bring a guest of their own, or do anything a facilitator does. Routes whose row
# above is the same for everyone signed in already say what a guest gets.
GUEST_API: dict[tuple[str, str], Expected] = {
    ("DELETE", "/api/v1/auth/sessions/{session_id}"): 404,  # the member's session
    ("DELETE", "/api/v1/groups/{slug}"): 403,
    ("DELETE", "/api/v1/groups/{slug}/facilitators/{alias}"): 403,
    ("DELETE", "/api/v1/groups/{slug}/sessions/{session_id}"): 403,
    ("DELETE", "/api/v1/me/blocks/{block_id}"): 404,  # the member's block
    ("GET", "/api/v1/groups/{slug}/audit"): 200,  # the public part
    ("GET", "/api/v1/groups/{slug}/requests"): 403,
    ("GET", "/api/v1/groups/{slug}/sessions"): 200,
    ("GET", "/api/v1/groups/{slug}/sessions/{session_id}/calendar.ics"): 200,
    ("GET", "/api/v1/rooms/{room_id}/messages"): 200,
    ("GET", "/api/v1/rooms/{room_id}/messages/{seq}"): 200,
    ("PATCH", "/api/v1/groups/{slug}/settings"): 403,
    ("POST", "/api/v1/flags/{flag_id}"): 404,
    ("POST", "/api/v1/flags/{flag_id}/assign"): 404,
    ("POST", "/api/v1/groups"): 403,
    ("POST", "/api/v1/groups/{slug}/accept-rules"): 200,
    ("POST", "/api/v1/groups/{slug}/break"): 200,
    ("POST", "/api/v1/groups/{slug}/leave"): 404,  # a fresh group they aren't in
    ("POST", "/api/v1/groups/{slug}/requests/{request_id}"): 403,
    ("POST", "/api/v1/groups/{slug}/sanctions"): 403,
    ("POST", "/api/v1/groups/{slug}/sanctions/{sanction_id}/lift"): 403,
    ("POST", "/api/v1/groups/{slug}/sessions"): 403,
    ("POST", "/api/v1/groups/{slug}/support-room"): 200,
    ("POST", "/api/v1/groups/{slug}/whisper"): 403,
    ("POST", "/api/v1/me/blocks"): 201,
    ("POST", "/api/v1/rooms/{room_id}/consent"): 403,
    ("POST", "/api/v1/rooms/{room_id}/consent/{seq}/answer"): 200,
    ("POST", "/api/v1/rooms/{room_id}/messages"): 403,
    ("POST", "/api/v1/rooms/{room_id}/messages/{seq}/worried"): 202,
    ("PUT", "/api/v1/admin/users/{username}/role"): 403,
    ("PUT", "/api/v1/admin/users/{username}/suspended"): 403,
    ("PUT", "/api/v1/groups/{slug}/alias"): 200,
    ("PUT", "/api/v1/groups/{slug}/facilitators/{alias}"): 403,
    ("PUT", "/api/v1/groups/{slug}/retention"): 403,
    ("PUT", "/api/v1/groups/{slug}/rules"): 403,
    ("PUT", "/api/v1/groups/{slug}/topics"): 403,
    ("POST", "/api/v1/groups/{slug}/invites"): 403,
    ("POST", "/api/v1/invites/{token}/accept"): 409,
    ("GET", "/api/v1/rooms/{room_id}/session"): 200,
    ("POST", "/api/v1/rooms/{room_id}/session/acknowledge"): 204,
    ("POST", "/api/v1/groups/{slug}/session/open"): 403,
    ("POST", "/api/v1/groups/{slug}/session/close"): 403,
}
GUEST_PAGES: dict[tuple[str, str], Expected] = {
    ("GET", "/admin"): 403,
    ("GET", "/facilitate"): 403,
    ("GET", "/g/{slug}/log"): 200,
    ("GET", "/g/{slug}/room"): 200,
    ("GET", "/g/{slug}/rules/edit"): 403,
    ("GET", "/g/{slug}/sessions"): 200,
    ("GET", "/g/{slug}/settings"): 403,
    ("GET", "/groups/new"): 403,
    ("GET", "/rooms/{room_id}"): 200,
    ("GET", "/rooms/{room_id}/report/{seq}"): 200,
    ("POST", "/admin/role"): 403,
    ("POST", "/facilitate/flags/{flag_id}"): 404,
    ("POST", "/facilitate/flags/{flag_id}/assign"): 404,
    ("POST", "/facilitate/sanction"): 403,
    ("POST", "/g/{slug}/accept"): TO_ROOM,
    ("POST", "/g/{slug}/alias"): (303, r"^/g/[^/?#]+#alias$"),
    ("POST", "/g/{slug}/break"): TO_ROOM,
    ("POST", "/g/{slug}/delete"): 403,
    ("POST", "/g/{slug}/facilitators/add"): 403,
    ("POST", "/g/{slug}/facilitators/remove"): 403,
    ("POST", "/g/{slug}/leave"): 404,
    ("POST", "/g/{slug}/requests/{request_id}"): 403,
    ("POST", "/g/{slug}/retention"): 403,
    ("POST", "/g/{slug}/room/send"): 403,
    ("POST", "/g/{slug}/rules"): 403,
    ("POST", "/g/{slug}/sanctions/{sanction_id}/lift"): 403,
    ("POST", "/g/{slug}/sessions"): 403,
    ("POST", "/g/{slug}/sessions/{session_id}/cancel"): 403,
    ("POST", "/g/{slug}/settings"): 403,
    ("POST", "/g/{slug}/support-room"): (303, r"^/rooms/\d+\?notice=support-opened$"),
    ("POST", "/g/{slug}/topics"): 403,
    ("POST", "/g/{slug}/whisper"): 403,
    ("POST", "/groups/new"): 403,
    ("POST", "/rooms/{room_id}/block/{seq}"): BLOCKED,
    ("POST", "/rooms/{room_id}/consent"): 403,
    ("POST", "/rooms/{room_id}/consent/{seq}/answer"): ANSWERED,
    ("POST", "/rooms/{room_id}/worried/{seq}"): WORRIED,
    ("POST", "/settings/blocks/{block_id}/remove"): 404,
    ("POST", "/settings/sessions/{session_id}/end"): 404,
    ("POST", "/g/{slug}/invites"): INVITE_REFUSED,
    ("POST", "/invite/{token}"): ALREADY_IN,
    ("GET", "/rooms/{room_id}/session-card"): 200,
    ("POST", "/rooms/{room_id}/session/acknowledge"): TO_CARD,
    ("POST", "/g/{slug}/session/open"): 403,
    ("POST", "/g/{slug}/session/close"): 403,
}
for _table, _guest in ((API_EXPECT, GUEST_API), (PAGE_EXPECT, GUEST_PAGES)):
    for _key, _row in _table.items():
        if _key in _guest:
            assert "guest" not in _row, f"{_key}: the guest is given twice"
            _row["guest"] = _guest[_key]

WEBSOCKETS = {"/api/v1/ws"}  # walked by test_the_websocket_answers_each_person_as_expected
MOUNTS = {"/static"}  # static files: public, covered by test_security_headers.py


def _label(key: tuple[str, str]) -> str:
    return f"{key[0]} {key[1]}"


def _unclassified(found: set[tuple[str, str]], table: dict[tuple[str, str], Any]) -> str:
    missing = sorted(found - set(table))
    stale = sorted(set(table) - found)
    return (
        f"routes nobody classified (add them to this file's tables and to "
        f"tests/web_walk.py): {missing}; entries for routes that no longer exist: {stale}"
    )


async def test_every_route_is_classified(server: LiveServer) -> None:
    assert server.app is not None
    routes = app_routes(server.app)
    api = {r.key for r in routes if r.kind == "api"}
    pages = {r.key for r in routes if r.kind == "page"}
    assert api == set(API_EXPECT), _unclassified(api, API_EXPECT)
    every = set(ACTORS)
    unset = [k for k, row in {**API_EXPECT, **PAGE_EXPECT}.items() if set(row) != every]
    assert not unset, f"routes without an answer for each person (the guest?): {unset}"
    assert api == set(API_CALLS), _unclassified(api, API_CALLS)
    assert pages == set(PAGE_EXPECT), _unclassified(pages, PAGE_EXPECT)
    assert pages == set(PAGE_CALLS), _unclassified(pages, PAGE_CALLS)
    assert {r.path for r in routes if r.kind == "websocket"} == WEBSOCKETS
    assert {r.path for r in routes if r.kind == "mount"} == MOUNTS
    # Every documented API operation is one of the walked routes, and nothing else.
    schema = server.app.openapi()
    documented = {(method.upper(), path) for path, ops in schema["paths"].items() for method in ops}
    assert documented == api - {("GET", "/api/v1/openapi.json")}


def _matches(response: httpx.Response, expected: Expected) -> bool:
    if isinstance(expected, int):
        return response.status_code == expected
    status, location = expected
    return response.status_code == status and bool(
        re.search(location, response.headers.get("location", ""))
    )


def _seen(response: httpx.Response) -> Expected:
    if 300 <= response.status_code < 400:
        return (response.status_code, response.headers.get("location", ""))
    return response.status_code


@pytest.mark.parametrize("key", sorted(API_EXPECT), ids=_label)
async def test_api_route_answers_each_person_as_expected(
    key: tuple[str, str], server: LiveServer, client: httpx.AsyncClient
) -> None:
    world = await build_world(server, client)
    method = key[0]
    got: dict[str, Expected] = {}
    for actor in ACTORS:
        call = await API_CALLS[key](world, actor)
        session = await world.session(actor)
        r = await send(client, method, call, bearer=session)
        got[actor] = r.status_code
        if r.status_code >= 400:
            assert_error(r, r.status_code)  # the protocol's JSON error, whoever is refused
    assert got == API_EXPECT[key], f"{_label(key)}: expected {API_EXPECT[key]}, got {got}"


async def _anonymous_csrf(client: httpx.AsyncClient) -> tuple[str, dict[str, str]]:
    """The pre-sign-in CSRF token a browser gets with any page, and its cookie."""
    client.cookies.clear()
    r = await client.get("/login", headers={"Accept": "text/html"})
    token = r.cookies.get("ss_csrf")
    assert token, r.headers
    client.cookies.clear()
    return token, {"Cookie": f"ss_csrf={token}"}


async def _as_browser(
    world: World, actor: str, method: str, call: Call
) -> tuple[httpx.Response, Session | None]:
    client = world.client
    session = await world.session(actor)
    html = {"Accept": "text/html,application/xhtml+xml"}
    if session is None:
        token, cookie = await _anonymous_csrf(client)
        r = await send(client, method, call, csrf=token, headers={**html, **cookie})
    else:
        r = await send(client, method, call, cookie=session, csrf=session.csrf, headers=html)
    return r, session


@pytest.mark.parametrize("key", sorted(PAGE_EXPECT), ids=_label)
async def test_page_route_answers_each_person_as_expected(
    key: tuple[str, str], server: LiveServer, client: httpx.AsyncClient
) -> None:
    world = await build_world(server, client)
    method = key[0]
    expected = PAGE_EXPECT[key]
    got: dict[str, Expected] = {}
    wrong = []
    for actor in ACTORS:
        call = await PAGE_CALLS[key](world, actor)
        r, _ = await _as_browser(world, actor, method, call)
        got[actor] = _seen(r)
        if not _matches(r, expected[actor]):
            wrong.append(actor)
        elif expected[actor] == LOGIN:  # and back to where they were going afterwards
            assert r.headers["location"] == "/login?next=" + quote(call.path), r.headers
    assert not wrong, f"{_label(key)}: wrong for {wrong}; expected {expected}, got {got}"


async def test_the_websocket_answers_each_person_as_expected(
    server: LiveServer, client: httpx.AsyncClient
) -> None:
    world = await build_world(server, client)
    room = world.group["room_id"]

    ws = await open_ws(server, hello=False)
    await ws.send({"type": "hello", "resume": {str(room): 0}})
    frame = await ws.expect("error")
    assert frame["code"] == "unauthenticated", frame
    assert await ws.wait_closed() == 4401

    in_room = {"member", "guest", "facilitator"}
    for actor in ACTORS[1:]:
        session = await world.session(actor)
        assert session is not None
        ws = await open_ws(server, session.token)
        try:
            assert ws.ready is not None
            assert (room in ws.ready["rooms"]) == (actor in in_room), (actor, ws.ready)
            if actor == "guest":  # in the room, reading, but this group's guests don't write
                await ws.send({"type": "send", "room_id": room, "client_id": "g-1", "body": "Hi"})
                frame = await ws.expect("error")
                assert (frame["code"], frame.get("client_id")) == ("guest_read_only", "g-1")
                continue
            if actor in in_room:
                message = await ws.send_message(room, f"Hello from the {actor}.")
                assert message["room_id"] == room
                continue
            await ws.send(
                {"type": "send", "room_id": room, "client_id": "c-1", "body": "Let me in?"}
            )
            frame = await ws.expect("error")
            assert (frame["code"], frame.get("client_id")) == ("not_found", "c-1"), frame
        finally:
            await ws.close()


async def test_the_flags_queue_shows_each_person_only_the_groups_they_run(
    server: LiveServer, client: httpx.AsyncClient
) -> None:
    """GET /api/v1/flags answers everyone signed in, with the flags of the groups they
    facilitate: nothing for a member (not even a flag about someone in their own group) or
    a stranger, their own group's for each facilitator, every group's for an admin."""
    world = await build_world(server, client)
    mine = await world.flag_id()
    author = await world.spare()
    await join(client, author, world.other_group, alias=unique_name("alias"))
    r = await client.post(
        f"/api/v1/rooms/{world.other_group['room_id']}/messages",
        json={"client_id": uuid.uuid4().hex, "body": ELEVATED_TEXT},
        headers=author.headers,
    )
    assert r.status_code == 201 and r.json()["check_in"] == "elevated", r.text
    theirs = await db_scalar(
        server, "SELECT id FROM flags WHERE room_id = :r", r=world.other_group["room_id"]
    )
    expected = {
        "member": set(),
        "guest": set(),
        "non_member": set(),
        "facilitator": {mine},
        "other_facilitator": {theirs},
        "admin": {mine, theirs},
    }
    for actor, ids in expected.items():
        session = await world.session(actor)
        r = await send(client, "GET", Call("/api/v1/flags"), bearer=session)
        assert r.status_code == 200, (actor, r.text)
        got = {f["id"] for f in r.json()["flags"]}
        assert got == ids, (actor, got, ids)
        for flag in r.json()["flags"]:
            assert "raised_by" not in flag and "subject_user_id" not in flag, flag
