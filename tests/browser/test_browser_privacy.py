"""A person's own data in the browser: "Download my data", deleting the account from the
settings page, and a facilitator choosing how long messages are kept and deleting a group.
docs/privacy.md cites these tests."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import pytest
from browserkit import (
    PASSWORD,
    PersonFactory,
    SiteServer,
    assert_signed_in,
    assert_signed_out,
    unique,
)

pytestmark = pytest.mark.browser


def test_download_my_data_from_the_settings_page(site: SiteServer, person: PersonFactory):
    account = site.signup_api()
    group = site.create_group()
    alias = unique("dl_")
    site.join_api(account, group, alias=alias)
    secret = f"only-mine-{uuid.uuid4().hex}"
    site.post_api(account, group["room_id"], secret)
    site.post_api(site.facilitator, group["room_id"], "not hers")

    me = person("downloader", account)
    page = me.page
    me.goto("/settings")
    with page.expect_download() as info:
        page.get_by_role("link", name="Download my data").click()
    download = info.value
    assert download.suggested_filename == f"safespace-{account.username}.json"
    data = json.loads(Path(download.path()).read_text(encoding="utf-8"))
    assert data["format"] == "safespace-export/1"
    assert data["account"]["username"] == account.username
    assert [(m["group"], m["alias"]) for m in data["memberships"]] == [(group["slug"], alias)]
    assert [m["body"] for m in data["messages"]] == [secret]
    assert data["recovery_codes"]["unused"] == 10
    assert not any(code in json.dumps(data) for code in account.recovery_codes)
    # Downloading changes nothing: still signed in, on the same page.
    assert_signed_in(page, account.username)


def test_delete_my_account_from_the_settings_page(site: SiteServer, person: PersonFactory):
    account = site.signup_api()
    other = site.signup_api()
    group = site.create_group()
    site.join_api(account, group)
    site.join_api(other, group)
    site.post_api(account, group["room_id"], f"mine-{uuid.uuid4().hex}")
    site.post_api(other, group["room_id"], "a reply")

    me = person("leaver", account)
    page = me.page
    me.goto("/settings")
    password = page.get_by_label("Your password", exact=True)
    confirm = page.get_by_label("I understand that this deletes my account")
    delete = page.get_by_role("button", name="Delete my account")

    # Without the box ticked, the browser won't send it.
    password.fill(PASSWORD)
    delete.click()
    assert page.locator("#erase-confirm").evaluate("e => e.validity.valueMissing")
    assert page.url == site.url + "/settings"

    # A wrong password is refused, and nothing changes.
    password.fill("not-the-right-password")
    confirm.check()
    with page.expect_navigation():
        delete.click()
    page.get_by_role("alert").filter(has_text="password isn't right").wait_for()
    assert_signed_in(page, account.username)
    site.login_api(account.username, PASSWORD)  # the account is still there

    # The password and the box: the account is gone, and this browser is signed out.
    page.get_by_label("Your password", exact=True).fill(PASSWORD)
    page.get_by_label("I understand that this deletes my account").check()
    with page.expect_navigation():
        page.get_by_role("button", name="Delete my account").click()
    page.get_by_role("heading", name="Your account is deleted").wait_for()
    assert_signed_out(page)
    me.goto("/settings")
    assert "/login" in page.url
    assert_signed_out(page)

    r = site.api.post(
        "/api/v1/auth/login", json={"username": account.username, "password": PASSWORD}
    )
    assert r.status_code == 401
    r = site.api.get("/api/v1/auth/me", headers=account.headers)  # the sign-up session too
    assert r.status_code == 401
    first, reply = site.history_api(other, group["room_id"])
    assert first["deleted"] is True and first["body"] == "" and first["author"]["alias"] == ""
    assert reply["body"] == "a reply"


def test_a_facilitator_chooses_retention_and_deletes_the_group(
    site: SiteServer, person: PersonFactory
):
    group = site.create_group()
    member = site.signup_api()
    site.join_api(member, group)

    # Members read how long messages are kept, but can't change it.
    visitor = person("member", member)
    visitor.goto(f"/g/{group['slug']}")
    visitor.page.get_by_text("Messages are deleted after 90 days.").wait_for()
    assert visitor.page.locator("#manage").count() == 0

    fac = person("facilitator", site.facilitator)
    page = fac.page
    fac.goto(f"/g/{group['slug']}")
    manage = page.locator("#manage")
    keep = manage.get_by_label("Keep messages for")
    options = keep.locator("option").all_text_contents()
    assert options == ["7 days", "30 days", "90 days", "365 days", "Until deleted"]
    assert keep.input_value() == "90"  # the operator's default, as nothing was chosen
    keep.select_option(label="7 days")
    with page.expect_navigation():
        manage.get_by_role("button", name="Save", exact=True).click()
    page.get_by_role("status").filter(has_text="Saved").wait_for()
    page.get_by_text("Messages are deleted after 7 days.").wait_for()
    assert page.locator("#manage").get_by_label("Keep messages for").input_value() == "7"
    detail = site.api.get(f"/api/v1/groups/{group['slug']}").json()["group"]
    assert detail["retention_days"] == 7

    page.locator("#manage").get_by_label("Keep messages for").select_option(label="Until deleted")
    with page.expect_navigation():
        page.locator("#manage").get_by_role("button", name="Save", exact=True).click()
    page.get_by_text("Messages are kept until someone deletes them.").wait_for()
    assert site.api.get(f"/api/v1/groups/{group['slug']}").json()["group"]["retention_days"] == 0

    # Deleting needs the box ticked, then the group and its room are gone.
    page.locator("#manage").get_by_label("I understand this can't be undone.").check()
    with page.expect_navigation():
        page.get_by_role("button", name="Delete the group").click()
    assert re.search(r"/groups$", page.url), page.url
    assert site.api.get(f"/api/v1/groups/{group['slug']}").status_code == 404
    r = site.api.get(f"/api/v1/rooms/{group['room_id']}/messages", headers=member.headers)
    assert r.status_code == 404
