"""Groups: creating, the directory, ground rules and their versions, joining, aliases, roles."""

from __future__ import annotations

import httpx
import pytest

from helpers import (
    assert_error,
    create_group,
    join,
    new_client_id,
    post,
    privileged,
    signup,
)
from safespace.actions.trending import refresh_trending
from safespace.clock import FrozenClock
from safespace.content import load

SEED_RULES = load("guidelines")["default_group_rules"]


async def get_group(client: httpx.AsyncClient, slug: str) -> dict:
    r = await client.get(f"/api/v1/groups/{slug}")
    assert r.status_code == 200, r.text
    return r.json()["group"]


async def directory(client: httpx.AsyncClient, **params) -> list[dict]:
    r = await client.get("/api/v1/groups", params=params)
    assert r.status_code == 200, r.text
    return r.json()["groups"]


# --------------------------------------------------------------------------- creating


async def test_only_facilitators_and_admins_create_groups(server, client) -> None:
    member = await signup(client)
    body = {"name": "Evening check-in", "description": "Winding down together."}
    r = await client.post("/api/v1/groups", json=body, headers=member.headers)
    assert_error(r, 403)
    r = await client.post("/api/v1/groups", json=body)
    assert_error(r, 401)
    assert await directory(client) == []

    for role in ("facilitator", "admin"):
        person = await privileged(server, role)
        r = await client.post("/api/v1/groups", json=body, headers=person.headers)
        assert r.status_code == 201, r.text
    assert len(await directory(client)) == 2


async def test_a_new_group_has_a_room_and_the_six_default_rules(server, client) -> None:
    fac = await privileged(server)
    r = await client.post(
        "/api/v1/groups",
        json={
            "name": "Living with Anxiety",
            "description": "Share what helps on the hard days.",
            "tags": ["Anxiety", " sleep "],
        },
        headers=fac.headers,
    )
    assert r.status_code == 201, r.text
    group = r.json()["group"]
    assert group["slug"] == "living-with-anxiety"
    assert group["name"] == "Living with Anxiety"
    assert group["description"] == "Share what helps on the hard days."
    assert group["tags"] == ["anxiety", "sleep"]
    assert isinstance(group["room_id"], int)
    assert group["rules_version"] == 1
    assert group["rules"] == SEED_RULES
    assert len(group["rules"]) == 6

    fetched = await get_group(client, group["slug"])
    assert {k: fetched[k] for k in group} == group
    # the creator runs the group and is its first member
    assert fetched["member_count"] == 1
    r = await client.get("/api/v1/me/groups", headers=fac.headers)
    [mine] = r.json()["groups"]
    assert mine["slug"] == group["slug"] and mine["role"] == "facilitator"


async def test_groups_with_the_same_name_get_different_slugs(server, client) -> None:
    fac = await privileged(server)
    first = await create_group(client, fac, name="Grief & Loss")
    second = await create_group(client, fac, name="Grief & Loss")
    assert first["slug"] == "grief-loss"
    assert second["slug"] != first["slug"]
    assert second["room_id"] != first["room_id"]


@pytest.mark.parametrize(
    "body",
    [
        {"name": "ab", "description": "too short a name"},
        {"name": "x" * 81, "description": "too long a name"},
        {"name": "Fine name", "description": ""},
        {"name": "Fine name", "description": "bad tags", "tags": ["has space"]},
        {"name": "Fine name", "description": "too many tags", "tags": [f"t{i}" for i in range(9)]},
        {"description": "no name"},
    ],
)
async def test_invalid_groups_are_refused_with_422(server, client, body) -> None:
    fac = await privileged(server)
    r = await client.post("/api/v1/groups", json=body, headers=fac.headers)
    assert_error(r, 422)


async def test_an_unknown_group_is_404(client) -> None:
    r = await client.get("/api/v1/groups/no-such-group")
    assert_error(r, 404)


# --------------------------------------------------------------------------- directory


async def test_directory_sorts_by_name_newest_and_trending_and_filters_by_tag(
    server, client, clock: FrozenClock
) -> None:
    fac = await privileged(server)
    busy = await create_group(client, fac, name="busy Bees", tags=["anxiety", "sleep"])
    clock.advance(minutes=1)
    some = await create_group(client, fac, name="some Talk", tags=["sleep"])
    clock.advance(minutes=1)
    quiet = await create_group(client, fac, name="Quiet corner", tags=["grief"])
    people = [await signup(client) for _ in range(3)]
    for person in people:
        await join(client, person, busy)
    await join(client, people[0], some)
    for i in range(6):
        await post(client, people[i % 3], busy["room_id"], f"hello {i}")
    await post(client, people[0], some["room_id"], "hi")
    await refresh_trending(server.svc)  # what the server's periodic job does

    def slugs(groups: list[dict]) -> list[str]:
        return [g["slug"] for g in groups]

    assert slugs(await directory(client, sort="name")) == [
        busy["slug"],
        quiet["slug"],
        some["slug"],
    ]
    assert slugs(await directory(client, sort="new")) == [quiet["slug"], some["slug"], busy["slug"]]
    assert slugs(await directory(client, sort="trending")) == [
        busy["slug"],
        some["slug"],
        quiet["slug"],
    ]
    assert slugs(await directory(client)) == slugs(await directory(client, sort="trending"))
    assert slugs(await directory(client, sort="name", tag="sleep")) == [busy["slug"], some["slug"]]
    assert slugs(await directory(client, sort="name", tag="SLEEP")) == [busy["slug"], some["slug"]]
    assert slugs(await directory(client, tag="grief")) == [quiet["slug"]]
    assert await directory(client, tag="nothing-tagged") == []

    listed = {g["slug"]: g for g in await directory(client)}
    entry = listed[busy["slug"]]
    assert {k: entry[k] for k in ("slug", "name", "description", "tags", "member_count")} == {
        "slug": busy["slug"],
        "name": "busy Bees",
        "description": busy["description"],
        "tags": ["anxiety", "sleep"],
        "member_count": 4,
    }
    assert listed[some["slug"]]["member_count"] == 2
    assert listed[quiet["slug"]]["member_count"] == 1

    # Trending is recent activity: six days on, a little fresh talk beats a lot of old talk.
    clock.advance(days=6)
    fresh = await create_group(client, fac, name="Fresh start")
    await join(client, people[1], fresh)
    await post(client, people[1], fresh["room_id"], "new here")
    await post(client, people[1], fresh["room_id"], "hello all")
    await refresh_trending(server.svc)
    assert slugs(await directory(client, sort="trending")) == [
        fresh["slug"],
        busy["slug"],
        some["slug"],
        quiet["slug"],
    ]

    # Only aggregates are public: nobody's name appears in the directory or a group page.
    public = (await client.get("/api/v1/groups")).text + (
        await client.get(f"/api/v1/groups/{busy['slug']}")
    ).text
    for person in (*people, fac):
        assert person.username not in public


async def test_a_bad_sort_is_refused_with_422(client) -> None:
    r = await client.get("/api/v1/groups", params={"sort": "loudest"})
    assert_error(r, 422)


# --------------------------------------------------------------------------- joining


async def test_joining_requires_accepting_the_current_rules(server, client) -> None:
    fac = await privileged(server)
    group = await create_group(client, fac)
    member = await signup(client)
    url = f"/api/v1/groups/{group['slug']}/join"

    for body in (
        {},
        {"accept_rules_version": None},
        {"accept_rules_version": 0},
        {"accept_rules_version": 2},
        {"accept_rules_version": -1},
    ):
        r = await client.post(url, json=body, headers=member.headers)
        assert_error(r, 409, "rules_not_accepted")
    assert (await get_group(client, group["slug"]))["member_count"] == 1
    r = await client.get(f"/api/v1/rooms/{group['room_id']}/messages", headers=member.headers)
    assert r.status_code in (403, 404)

    r = await client.post(url, json={"accept_rules_version": 1}, headers=member.headers)
    assert r.status_code == 200, r.text
    membership = r.json()["membership"]
    assert membership["role"] == "member"
    assert membership["alias"] == member.username
    assert (await get_group(client, group["slug"]))["member_count"] == 2

    # joining again changes nothing
    r = await client.post(url, json={"accept_rules_version": 1}, headers=member.headers)
    assert r.status_code == 200
    assert (await get_group(client, group["slug"]))["member_count"] == 2

    r = await client.post(url, json={"accept_rules_version": 1})
    assert_error(r, 401)
    r = await client.post(
        "/api/v1/groups/no-such-group/join",
        json={"accept_rules_version": 1},
        headers=member.headers,
    )
    assert_error(r, 404)


async def test_an_alias_is_chosen_per_group_and_shown_on_messages(server, client) -> None:
    fac = await privileged(server)
    one = await create_group(client, fac)
    two = await create_group(client, fac)
    member = await signup(client)
    other = await signup(client)

    m = await join(client, member, one, alias="night_owl")
    assert m["alias"] == "night_owl"
    assert (await join(client, member, two))["alias"] == member.username

    # someone else can't take that alias in the same group, whatever its case ...
    r = await client.post(
        f"/api/v1/groups/{one['slug']}/join",
        json={"accept_rules_version": 1, "alias": "Night_Owl"},
        headers=other.headers,
    )
    assert_error(r, 409, "alias_taken")
    # ... but can in another group
    assert (await join(client, other, two, alias="night_owl"))["alias"] == "night_owl"

    r = await client.post(
        f"/api/v1/groups/{one['slug']}/join",
        json={"accept_rules_version": 1, "alias": "no spaces allowed"},
        headers=other.headers,
    )
    assert_error(r, 422)

    msg = await post(client, member, one["room_id"], "first time here")
    assert msg["author"] == {"alias": "night_owl"}
    msg = await post(client, member, two["room_id"], "and here")
    assert msg["author"] == {"alias": member.username}


async def test_a_member_can_change_alias_and_leave(server, client) -> None:
    fac = await privileged(server)
    group = await create_group(client, fac)
    member = await signup(client)
    await join(client, member, group)
    r = await client.put(
        f"/api/v1/groups/{group['slug']}/alias",
        json={"alias": "sunrise"},
        headers=member.headers,
    )
    assert r.status_code == 200 and r.json()["membership"]["alias"] == "sunrise"
    r = await client.put(
        f"/api/v1/groups/{group['slug']}/alias",
        json={"alias": fac.username},
        headers=member.headers,
    )
    assert_error(r, 409, "alias_taken")
    assert (await post(client, member, group["room_id"], "hi"))["author"]["alias"] == "sunrise"

    r = await client.post(f"/api/v1/groups/{group['slug']}/leave", headers=member.headers)
    assert r.status_code == 204
    assert (await get_group(client, group["slug"]))["member_count"] == 1
    r = await client.get(f"/api/v1/rooms/{group['room_id']}/messages", headers=member.headers)
    assert r.status_code in (403, 404)


# --------------------------------------------------------------------------- rules


async def test_changed_rules_must_be_accepted_before_posting_again(server, client) -> None:
    fac = await privileged(server)
    group = await create_group(client, fac)
    member = await signup(client)
    await join(client, member, group)
    room = group["room_id"]
    await post(client, member, room, "before the change")

    new_rules = ["Be gentle.", "Stay on topic.", "What's said here stays here."]
    r = await client.put(
        f"/api/v1/groups/{group['slug']}/rules", json={"rules": new_rules}, headers=fac.headers
    )
    assert r.status_code == 200, r.text
    assert r.json()["group"]["rules"] == new_rules
    assert r.json()["group"]["rules_version"] == 2
    fetched = await get_group(client, group["slug"])
    assert fetched["rules"] == new_rules and fetched["rules_version"] == 2

    body = {"client_id": new_client_id(), "body": "after the change"}
    r = await client.post(f"/api/v1/rooms/{room}/messages", json=body, headers=member.headers)
    assert_error(r, 409, "rules_not_accepted")
    # the facilitator who wrote them has accepted them
    await post(client, fac, room, "welcome to the new rules")
    # reading is still allowed
    r = await client.get(f"/api/v1/rooms/{room}/messages", headers=member.headers)
    assert [m["body"] for m in r.json()["messages"]] == [
        "before the change",
        "welcome to the new rules",
    ]

    accept = f"/api/v1/groups/{group['slug']}/accept-rules"
    r = await client.post(accept, json={"version": 1}, headers=member.headers)
    assert_error(r, 409, "rules_not_accepted")
    r = await client.post(f"/api/v1/rooms/{room}/messages", json=body, headers=member.headers)
    assert_error(r, 409, "rules_not_accepted")

    r = await client.post(accept, json={"version": 2}, headers=member.headers)
    assert r.status_code == 200, r.text
    r = await client.post(f"/api/v1/rooms/{room}/messages", json=body, headers=member.headers)
    assert r.status_code == 201, r.text
    assert r.json()["message"]["seq"] == 3

    outsider = await signup(client)
    r = await client.post(accept, json={"version": 2}, headers=outsider.headers)
    assert_error(r, 403)
    # joining now means accepting version 2
    r = await client.post(
        f"/api/v1/groups/{group['slug']}/join",
        json={"accept_rules_version": 1},
        headers=outsider.headers,
    )
    assert_error(r, 409, "rules_not_accepted")
    await join(client, outsider, group)


async def test_only_this_groups_facilitators_or_an_admin_edit_its_rules(server, client) -> None:
    fac = await privileged(server)
    other_fac = await privileged(server)
    admin = await privileged(server, "admin")
    group = await create_group(client, fac)
    await create_group(client, other_fac)
    member = await signup(client)
    await join(client, member, group)
    url = f"/api/v1/groups/{group['slug']}/rules"

    for person in (other_fac, member):
        r = await client.put(url, json={"rules": ["Anything goes."]}, headers=person.headers)
        assert_error(r, 403)
    r = await client.put(url, json={"rules": ["Anything goes."]})
    assert_error(r, 401)
    assert (await get_group(client, group["slug"]))["rules_version"] == 1

    for bad in ([], [""], ["x" * 501], "not a list", [f"rule {i}" for i in range(21)]):
        r = await client.put(url, json={"rules": bad}, headers=fac.headers)
        assert_error(r, 422)
    assert (await get_group(client, group["slug"]))["rules"] == SEED_RULES

    r = await client.put(url, json={"rules": ["Kindness first."]}, headers=admin.headers)
    assert r.status_code == 200
    assert r.json()["group"]["rules_version"] == 2


# --------------------------------------------------------------------------- roles


async def test_admins_grant_and_remove_the_facilitator_role(server, client) -> None:
    admin = await privileged(server, "admin")
    member = await signup(client)
    other = await signup(client)
    body = {"name": "Peer circle", "description": "Weekly chat."}
    url = f"/api/v1/admin/users/{member.username}/role"

    # nobody but an admin can change roles
    for person in (member, other, await privileged(server, "facilitator")):
        r = await client.put(url, json={"role": "facilitator"}, headers=person.headers)
        assert_error(r, 403)
    r = await client.put(url, json={"role": "facilitator"})
    assert_error(r, 401)
    r = await client.post("/api/v1/groups", json=body, headers=member.headers)
    assert_error(r, 403)

    r = await client.put(url, json={"role": "facilitator"}, headers=admin.headers)
    assert r.status_code == 200, r.text
    assert r.json()["user"]["username"] == member.username
    assert r.json()["user"]["role"] == "facilitator"
    r = await client.post("/api/v1/groups", json=body, headers=member.headers)
    assert r.status_code == 201

    r = await client.put(url, json={"role": "member"}, headers=admin.headers)
    assert r.status_code == 200
    r = await client.post("/api/v1/groups", json=body, headers=member.headers)
    assert_error(r, 403)

    r = await client.put(url, json={"role": "overlord"}, headers=admin.headers)
    assert_error(r, 422)
    r = await client.put(
        "/api/v1/admin/users/nobody_at_all/role",
        json={"role": "facilitator"},
        headers=admin.headers,
    )
    assert_error(r, 404)
    # an admin can't lock the last door behind them by demoting themselves
    r = await client.put(
        f"/api/v1/admin/users/{admin.username}/role",
        json={"role": "member"},
        headers=admin.headers,
    )
    assert_error(r, 403)
