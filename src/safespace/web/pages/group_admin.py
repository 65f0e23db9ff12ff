"""Running a group, as pages (no JavaScript needed): its settings and co-facilitators, join
requests, the whisper channel, its sessions, its audit log, and a member's own list of
sanctions. Thin: the rules live in actions/ (groups, sessions, moderation) and queries/."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from safespace.actions import groups as group_actions
from safespace.actions import moderation
from safespace.actions import sessions as session_actions
from safespace.errors import AppError, forbidden, invalid, not_found
from safespace.queries import groups as group_queries
from safespace.queries import moderation as moderation_queries
from safespace.queries import sessions as session_queries
from safespace.queries.accounts import Principal
from safespace.web.deps import services
from safespace.web.pages.routes import _form, _redirect, _signed_in, render

group_admin_router = APIRouter(include_in_schema=False)

SLOW_MODE_WORDS = {
    0: "Off",
    10: "10 seconds",
    30: "30 seconds",
    60: "1 minute",
    120: "2 minutes",
    300: "5 minutes",
}
JOIN_POLICY_WORDS = {
    "open": ("Open", "Anyone who accepts the ground rules can join."),
    "approval": ("With approval", "People ask to join, and a facilitator welcomes each one."),
    "invite": ("By invitation", "Only people with an invitation link from a facilitator."),
}

# The time zones offered when scheduling, by region: the places most people live, each
# following its own daylight saving. A zone already used by the group is always offered.
_ZONES = (
    "UTC",
    "Europe/London",
    "Europe/Dublin",
    "Europe/Lisbon",
    "Europe/Madrid",
    "Europe/Paris",
    "Europe/Amsterdam",
    "Europe/Berlin",
    "Europe/Rome",
    "Europe/Stockholm",
    "Europe/Warsaw",
    "Europe/Athens",
    "Europe/Helsinki",
    "Europe/Kyiv",
    "Europe/Istanbul",
    "Europe/Moscow",
    "Africa/Lagos",
    "Africa/Cairo",
    "Africa/Johannesburg",
    "Africa/Nairobi",
    "Asia/Dubai",
    "Asia/Karachi",
    "Asia/Kolkata",
    "Asia/Dhaka",
    "Asia/Bangkok",
    "Asia/Jakarta",
    "Asia/Singapore",
    "Asia/Manila",
    "Asia/Hong_Kong",
    "Asia/Shanghai",
    "Asia/Seoul",
    "Asia/Tokyo",
    "Australia/Perth",
    "Australia/Adelaide",
    "Australia/Brisbane",
    "Australia/Sydney",
    "Pacific/Auckland",
    "Pacific/Honolulu",
    "America/Anchorage",
    "America/Vancouver",
    "America/Los_Angeles",
    "America/Phoenix",
    "America/Denver",
    "America/Mexico_City",
    "America/Chicago",
    "America/Toronto",
    "America/New_York",
    "America/Halifax",
    "America/St_Johns",
    "America/Sao_Paulo",
    "America/Argentina/Buenos_Aires",
)
_REGIONS = ("Europe", "Africa", "Asia", "Australia", "Pacific", "America")
_REGION_WORDS = {"America": "Americas"}


def zone_choices(extra: list[str]) -> list[tuple[str, list[tuple[str, str]]]]:
    """(region, [(zone id, city)]) for a select with an optgroup per region."""
    known = available_timezones() | {"UTC"}
    zones = [z for z in dict.fromkeys([*_ZONES, *extra]) if z in known]
    out: list[tuple[str, list[tuple[str, str]]]] = [("", [("UTC", "UTC (no daylight saving)")])]
    regions = [*_REGIONS, *sorted({z.split("/")[0] for z in zones if "/" in z} - set(_REGIONS))]
    for region in regions:
        cities = [  # "London (Europe)": the place, and where it is once the list is closed
            (z, f"{z.split('/')[-1].replace('_', ' ')} ({_REGION_WORDS.get(region, region)})")
            for z in zones
            if z.startswith(region + "/")
        ]
        if cities:
            out.append((_REGION_WORDS.get(region, region), sorted(cities, key=lambda c: c[1])))
    return out


def _int(value: str | None) -> int | None:
    return int(value) if value and value.strip().isdigit() and len(value) < 10 else None


def _when(moment: datetime | str | None) -> str:
    """A moment for a page, in UTC: "3 Mar 2026, 19:04 UTC"."""
    if moment is None:
        return ""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    moment = moment.astimezone(ZoneInfo("UTC"))
    return f"{moment.day} {moment:%b %Y, %H:%M} UTC"


def _iso(moment: datetime | None) -> str:
    return moment.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%MZ") if moment else ""


async def _group_and_role(
    request: Request, me: Principal, slug: str
) -> tuple[dict[str, Any], str | None, str | None]:
    """The group; the viewer's standing ("admin" for an administrator, else their role in
    the group or None); and their role as a member of it, admin or not."""
    async with services(request).db.read() as session:
        group = await group_queries.group_detail(session, slug)
        m = await group_queries.membership(session, me.user, group["id"])
    member_role = m.role if m else None
    return group, "admin" if me.user.role == "admin" else member_role, member_role


def _id(value: int) -> int:
    """A row id from a path: one the database can hold, or "not found"."""
    if not 1 <= value <= 2**31 - 1:
        raise not_found("That")
    return value


# ----------------------------------------------------------------------- settings

NOTICES = {
    "saved": "Saved. The group runs this way from now on.",
    "facilitator-added": "Done. They're a co-facilitator now, and see flags and alerts at once.",
    "facilitator-removed": "Done. They're a member again, and no longer see flags or alerts.",
    "welcomed": "Welcomed. The group is in their list now.",
    "declined": "Declined. Nothing was added, and it's in the group's log.",
}


def _settings_form(group: dict[str, Any]) -> dict[str, Any]:
    """What the settings form shows: the group as it is."""
    s = group["settings"]
    return {
        "description": group["description"],
        "tags": ", ".join(group["tags"]),
        "listed": s["listed"],
        "join_policy": s["join_policy"],
        "max_members": s["max_members"] or "",
        "slow_mode_seconds": s["slow_mode_seconds"],
        "guests_allowed": s.get("guests_allowed", False),
        "guests_can_post": s.get("guests_can_post", False),
        "read_only_outside_sessions": s.get("read_only_outside_sessions", False),
    }


async def _settings_page(
    request: Request, me: Principal, slug: str, status: int = 200, **ctx: Any
) -> HTMLResponse:
    group, role, member_role = await _group_and_role(request, me, slug)
    if role not in ("facilitator", "admin"):
        raise forbidden("Only this group's facilitators can open its settings.")
    async with services(request).db.read() as session:
        facilitators = await group_queries.facilitators_of(session, group["id"])
        owner = await group_queries.group_owner(session, group["id"])
        requests = await group_queries.pending_join_requests(session, [group["id"]])
    for r in requests:
        r["since"] = _when(r["created_at"])
    for f in facilitators:
        f["you"] = f.pop("user_id") == me.user.id
    ctx.setdefault("form", _settings_form(group))
    return render(
        request,
        "group_settings.html",
        status=status,
        group=group,
        facilitators=facilitators,
        # Who chooses co-facilitators: the one who started the group, or an admin.
        can_choose=me.user.role == "admin" or owner == me.user.id,
        # The whisper channel is a room: its facilitators only, not an admin outside it.
        can_whisper=member_role == "facilitator",
        requests=requests,
        join_policies=[(p, *JOIN_POLICY_WORDS[p]) for p in group_actions.JOIN_POLICIES],
        slow_choices=[
            (c, SLOW_MODE_WORDS.get(c, f"{c} seconds")) for c in group_actions.SLOW_MODE_CHOICES
        ],
        notice=NOTICES.get(request.query_params.get("notice", "")),
        title=f"Settings · {group['name']} · SafeSpace",
        **ctx,
    )


@group_admin_router.get("/g/{slug}/settings", response_class=HTMLResponse)
async def settings_page(request: Request, slug: str) -> Response:
    me = await _signed_in(request)
    return await _settings_page(request, me, slug)


def _yes(form: Mapping[str, str], key: str) -> bool:
    return form.get(key) == "yes"


@group_admin_router.post("/g/{slug}/settings", response_class=HTMLResponse)
async def save_settings(request: Request, slug: str) -> Response:
    me = await _signed_in(request)
    form = await _form(request)
    slow = form.get("slow_mode_seconds", "")
    size = form.get("max_members", "").strip()
    shown: dict[str, Any] = {  # shown again as sent if something needs changing
        "description": form.get("description", ""),
        "tags": form.get("tags", ""),
        "listed": form.get("listed") != "no",
        "join_policy": form.get("join_policy", ""),
        "max_members": size,
        "slow_mode_seconds": _int(slow),
        "guests_allowed": _yes(form, "guests_allowed"),
        "guests_can_post": _yes(form, "guests_can_post"),
        "read_only_outside_sessions": _yes(form, "read_only_outside_sessions"),
    }
    try:
        if size and (not size.isdigit() or len(size) > 6):
            raise invalid(
                "The most members is a whole number. Leave it empty for no limit.",
                field="max_members",
            )
        changes: dict[str, object] = {
            **shown,
            "tags": [t.strip() for t in form.get("tags", "").split(",") if t.strip()],
            "max_members": int(size) if size else 0,  # 0: no limit
            "join_policy": shown["join_policy"] or None,  # None: unchanged
            "slow_mode_seconds": _int(slow) if _int(slow) is not None else slow,
        }
        await group_actions.set_settings(services(request), me.user, slug, changes)
    except AppError as err:
        if err.status in (403, 404):
            raise
        return await _settings_page(
            request,
            me,
            slug,
            status=err.status,
            form=shown,
            error=err.message,
            error_field=err.extra.get("field"),
        )
    return _redirect(f"/g/{slug}/settings?notice=saved")


async def _cofacilitator(request: Request, slug: str, facilitator: bool) -> Response:
    me = await _signed_in(request)
    form = await _form(request)
    await _group_and_role(request, me, slug)  # a group that isn't there: the 404 page
    try:
        await group_actions.set_cofacilitator(
            services(request), me.user, slug, form.get("alias", ""), facilitator
        )
    except AppError as err:
        if err.status == 403:
            raise
        if err.code == "not_found":
            message = "Nobody in this group has that alias. Check how it's spelled in the room."
        else:
            message = err.message
        return await _settings_page(
            request,
            me,
            slug,
            status=err.status,
            cofacilitator_error=message,
            cofacilitator_draft=form.get("alias", "") if facilitator else "",
        )
    notice = "facilitator-added" if facilitator else "facilitator-removed"
    return _redirect(f"/g/{slug}/settings?notice={notice}#facilitators")


@group_admin_router.post("/g/{slug}/facilitators/add", response_class=HTMLResponse)
async def add_cofacilitator(request: Request, slug: str) -> Response:
    return await _cofacilitator(request, slug, True)


@group_admin_router.post("/g/{slug}/facilitators/remove", response_class=HTMLResponse)
async def remove_cofacilitator(request: Request, slug: str) -> Response:
    return await _cofacilitator(request, slug, False)


@group_admin_router.post("/g/{slug}/whisper")
async def open_whisper(request: Request, slug: str) -> Response:
    me = await _signed_in(request)
    await _form(request)
    room_id = await group_actions.whisper_room(services(request), me.user, slug)
    return _redirect(f"/rooms/{room_id}")


@group_admin_router.post("/g/{slug}/requests/{request_id}")
async def answer_request(request: Request, slug: str, request_id: int) -> Response:
    """Approve or decline a request to join, from the queue page or the settings page."""
    me = await _signed_in(request)
    form = await _form(request)
    approve = form.get("answer") == "approve"
    await group_actions.answer_join_request(
        services(request), me.user, slug, _id(request_id), approve
    )
    notice = "welcomed" if approve else "declined"
    if form.get("back") == "settings":
        return _redirect(f"/g/{slug}/settings?notice={notice}#requests")
    return _redirect(f"/facilitate?notice={notice}#requests")


# ----------------------------------------------------------------------- sessions


@dataclass
class SessionView:
    """One scheduled session as its page shows it, in its own time zone."""

    id: int
    title: str
    weekly: bool
    timezone: str
    live: bool = False
    meetings: list[str] = field(default_factory=list)  # "Tuesday 3 March, 19:00 to 20:00"
    starts: list[str] = field(default_factory=list)  # ISO, for <time datetime>
    repeat: str = ""  # "Every Tuesday at 19:00"
    zone_label: str = ""  # "Europe/London time (GMT)"


def _meeting(start: datetime, end: datetime, zone: ZoneInfo, now: datetime) -> str:
    a, b = start.astimezone(zone), end.astimezone(zone)
    year = f" {a.year}" if a.year != now.astimezone(zone).year else ""
    return f"{a:%A} {a.day} {a:%B}{year}, {a:%H:%M} to {b:%H:%M}"


def _session_views(meetings: list[dict[str, Any]], now: datetime) -> list[SessionView]:
    """Meetings (queries.sessions' dicts) grouped by session, each in its own zone."""
    views: dict[int, SessionView] = {}
    for m in meetings:
        zone = ZoneInfo(m["timezone"])
        start = datetime.fromisoformat(m["start"].replace("Z", "+00:00"))
        end = datetime.fromisoformat(m["end"].replace("Z", "+00:00"))
        v = views.get(m["id"])
        if v is None:
            local = start.astimezone(zone)
            v = views[m["id"]] = SessionView(
                id=m["id"],
                title=m["title"],
                weekly=m["weekly"],
                timezone=m["timezone"],
                repeat=f"Every {local:%A} at {local:%H:%M}" if m["weekly"] else "",
                zone_label=f"{m['timezone'].replace('_', ' ')} time ({local:%Z})",
            )
        v.live = v.live or m["live"]
        v.meetings.append(_meeting(start, end, zone, now))
        v.starts.append(_iso(start))
    return list(views.values())


async def _sessions_page(
    request: Request, me: Principal, slug: str, status: int = 200, **ctx: Any
) -> Response:
    group, role, _ = await _group_and_role(request, me, slug)
    if role is None:  # the schedule is for members: a meeting time says a lot about who goes
        return _redirect(f"/g/{slug}#join")
    svc = services(request)
    now = svc.clock.now()
    async with svc.db.read() as session:
        coming = await session_queries.upcoming(session, group["id"], now)
        later = await session_queries.further_ahead(session, group["id"], now)
    soon = _session_views(coming, now)
    further = _session_views([o.as_dict(now) for o in later], now)
    zones_used = [v.timezone for v in [*soon, *further]]
    ctx.setdefault("draft", {"timezone": zones_used[0] if zones_used else "", "minutes": "60"})
    return render(
        request,
        "group_sessions.html",
        status=status,
        group=group,
        soon=soon,
        further=further,
        can_schedule=role in ("facilitator", "admin"),
        zones=zone_choices(zones_used),
        notice=SESSION_NOTICES.get(request.query_params.get("notice", "")),
        title=f"Sessions · {group['name']} · SafeSpace",
        **ctx,
    )


SESSION_NOTICES = {
    "scheduled": "Scheduled. Members see it here, and can add it to their calendars.",
    "cancelled": "Cancelled. It's gone from the list, and from the room.",
}


@group_admin_router.get("/g/{slug}/sessions", response_class=HTMLResponse)
async def sessions_page(request: Request, slug: str) -> Response:
    me = await _signed_in(request)
    return await _sessions_page(request, me, slug)


@group_admin_router.post("/g/{slug}/sessions", response_class=HTMLResponse)
async def schedule(request: Request, slug: str) -> Response:
    me = await _signed_in(request)
    form = await _form(request)
    svc = services(request)
    draft = {k: form.get(k, "").strip() for k in ("title", "date", "time", "minutes", "timezone")}
    draft["weekly"] = "yes" if _yes(form, "weekly") else ""
    try:
        if not draft["date"] or not draft["time"]:
            raise invalid("Choose a date and a start time.", field="date")
        start = f"{draft['date']}T{draft['time']}"
        try:
            datetime.fromisoformat(start)
        except ValueError:
            raise invalid(
                "Give the date like 2026-12-01 and the time like 19:00.", field="date"
            ) from None
        if not draft["timezone"]:
            raise invalid("Choose a time zone: where the time you gave is.", field="timezone")
        minutes = _int(draft["minutes"])
        await session_actions.schedule(
            svc,
            me.user,
            slug,
            draft["title"],
            start,
            minutes if minutes is not None else draft["minutes"],
            draft["timezone"],
            bool(draft["weekly"]),
        )
    except AppError as err:
        if err.status in (403, 404):
            raise
        field_name = err.extra.get("field")
        return await _sessions_page(
            request,
            me,
            slug,
            status=err.status,
            draft=draft,
            error=err.message,
            error_field="date" if field_name == "start" else field_name,
        )
    return _redirect(f"/g/{slug}/sessions?notice=scheduled")


@group_admin_router.post("/g/{slug}/sessions/{session_id}/cancel")
async def cancel_session(request: Request, slug: str, session_id: int) -> Response:
    me = await _signed_in(request)
    await _form(request)
    await session_actions.cancel(services(request), me.user, slug, _id(session_id))
    return _redirect(f"/g/{slug}/sessions?notice=cancelled")


# ----------------------------------------------------------------------- the audit log

SETTING_WORDS = {
    "description": "the description",
    "tags": "the tags",
    "listed": "whether it's listed",
    "join_policy": "how people join",
    "max_members": "the most members",
    "slow_mode_seconds": "slow mode",
    "guests_allowed": "whether guests are allowed",
    "guests_can_post": "whether guests can write",
    "read_only_outside_sessions": "writing outside sessions",
}


def _words(items: list[str]) -> str:
    if len(items) < 2:
        return "".join(items)
    return f"{', '.join(items[:-1])} and {items[-1]}"


def describe(entry: dict[str, Any]) -> str:
    """One line of the full log in words: who did what to whom, and under which rule."""
    who = entry.get("actor") or "SafeSpace"
    target = entry.get("target") or "someone"
    d: dict[str, Any] = entry.get("detail") or {}
    rule = f", citing ground rule {d['rule']}" if d.get("rule") else ""
    until = f" until {_when(d['until'])}" if d.get("until") else ""
    changed = [SETTING_WORDS.get(c, str(c).replace("_", " ")) for c in d.get("changed", [])]
    days = d.get("days")
    lines = {
        "group_created": f"{who} started the group.",
        "rules_changed": f"{who} published version {d.get('version', '?')} of the ground rules.",
        "topics_changed": f"{who} changed the sensitive-topic rules.",
        "settings_changed": f"{who} changed {_words(changed) or 'the settings'}.",
        "retention_changed": f"{who} chose to keep messages "
        + ("until deleted." if days == 0 else f"for {days} days."),
        "sanction_hide": f"{who} hid a message by {target}{rule}.",
        "sanction_warning": f"{who} sent {target} a private warning{rule}.",
        "sanction_mute": f"{who} muted {target}{until}{rule}.",
        "sanction_removal": f"{who} removed {target} from the group{rule}.",
        "sanction_ban": f"{who} banned {target} from the group{rule}.",
        "mute_lifted": f"{who} lifted {target}'s mute early.",
        "ban_lifted": f"{who} lifted {target}'s ban.",
        "facilitator_added": f"{who} made {target} a co-facilitator.",
        "facilitator_removed": f"{who} returned {target} to being a member.",
        "join_approved": f"{who} welcomed {target} into the group.",
        "join_declined": f"{who} declined {target}'s request to join.",
        "session_scheduled": f"{who} scheduled a session.",
        "session_cancelled": f"{who} cancelled a session.",
        "session_opened": f"{who} opened a session.",
        "session_closed": f"{who} closed a session.",
        "flag_assigned": f"{who} handed an item in the queue to {target}.",
        "flag_acknowledged": f"{who} took an item in the queue.",
        "flag_resolved": f"{who} resolved an item in the queue.",
        "flag_open": f"{who} reopened an item in the queue.",
        "guest_joined": f"{who} joined as {target}'s guest.",
        "guest_access_ended": f"{target}'s guest access ended with their host's.",
        "member_joined_by_invite": f"{who} joined with an invitation.",
        "invite_member": f"{who} made an invitation link.",
        "invite_guest": f"{who} made a guest invitation link.",
    }
    return lines.get(entry["action"], f"{who}: {entry['action'].replace('_', ' ')}.")


LOG_NOTICES = {"lifted": "Lifted. They can post again (or rejoin, after a ban) straight away."}


@group_admin_router.get("/g/{slug}/log", response_class=HTMLResponse)
async def log_page(request: Request, slug: str) -> Response:
    me = await _signed_in(request)
    svc = services(request)
    async with svc.db.read() as session:
        # Who reads what is the query's business: all of it, the public part, or nothing.
        log = await moderation_queries.audit_log(session, me.user, slug, keys=svc.keys)
        group = await group_queries.group_detail(session, slug)
        active = (
            await moderation_queries.active_sanctions(session, group["id"], svc.clock.now())
            if log["full"]
            else []
        )
    for e in log["entries"]:
        e["when"] = _when(e["at"])
        if log["full"]:
            e["text"] = describe(e)
    for s in active:
        s["until_text"] = _when(s["until"])
        s["since_text"] = _when(s["at"])
    return render(
        request,
        "group_log.html",
        group=group,
        full=log["full"],
        entries=log["entries"],
        active=active,
        notice=LOG_NOTICES.get(request.query_params.get("notice", "")),
        title=f"Log · {group['name']} · SafeSpace",
    )


@group_admin_router.post("/g/{slug}/sanctions/{sanction_id}/lift")
async def lift(request: Request, slug: str, sanction_id: int) -> Response:
    me = await _signed_in(request)
    await _form(request)
    await moderation.lift(services(request), me.user, slug, _id(sanction_id))
    return _redirect(f"/g/{slug}/log?notice=lifted#sanctions")


# ----------------------------------------------------------------------- my sanctions

SANCTION_WORDS = {
    "hide": "A facilitator removed one of your messages",
    "warning": "A facilitator sent you a private reminder",
    "mute": "A facilitator paused your posting",
    "removal": "A facilitator removed you from the group",
    "ban": "A facilitator removed you from the group, and you can't rejoin",
}


@group_admin_router.get("/settings/sanctions", response_class=HTMLResponse)
async def my_sanctions(request: Request) -> Response:
    me = await _signed_in(request)
    svc = services(request)
    now = svc.clock.now()
    async with svc.db.read() as session:
        mine = await moderation_queries.my_sanctions(session, svc.keys, me.user)
        mine_groups = await group_queries.my_groups(session, me.user)
        member_of = {g["slug"] for g in mine_groups if g["role"] == "member"}
    for s in mine:
        s["what"] = SANCTION_WORDS.get(s["kind"], "A facilitator took a step about you")
        s["when"] = _when(s["at"])
        until = datetime.fromisoformat(s["until"].replace("Z", "+00:00")) if s["until"] else None
        s["until_text"] = _when(until)
        s["running"] = s["lifted_at"] is None and (
            (until is not None and until > now) or s["kind"] == "ban"
        )
        s["lifted_text"] = _when(s["lifted_at"])
        # The private line to the facilitators is where a member asks for a review.
        s["can_ask"] = s["group"]["slug"] in member_of
    return render(request, "my_sanctions.html", sanctions=mine, title="About you · SafeSpace")
