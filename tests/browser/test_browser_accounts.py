"""Accounts in the browser: sign up with a pseudonym, recovery codes, sign in and out,
recovering with a code, and ending sessions from the settings page."""

from __future__ import annotations

import re

import pytest
from browserkit import (
    PASSWORD,
    Account,
    PersonFactory,
    SiteServer,
    assert_signed_in,
    assert_signed_out,
    unique,
)

pytestmark = pytest.mark.browser


def test_sign_up_codes_sign_out_sign_in_and_recover(site: SiteServer, person: PersonFactory):
    me = person("newcomer")
    page = me.page
    username = unique("fern_")

    me.goto("/")
    page.get_by_role("link", name="Join", exact=True).click()
    page.wait_for_url(re.compile(r"/signup"))
    # A pseudonym and a password, nothing else: no email, no real name, no phone.
    assert page.locator("input[type=email], input[name*=mail i], input[id*=mail i]").count() == 0
    visible = page.locator("main form input:not([type=hidden])")
    assert sorted(visible.evaluate_all("els => els.map(e => e.name)")) == ["password", "username"]

    page.get_by_label("Your pseudonym").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create my account").click()

    # The recovery codes, shown once: ten distinct codes.
    page.get_by_role("heading", name=re.compile("Save your recovery codes")).wait_for()
    codes = page.locator("ol.codes li code").all_text_contents()
    assert len(codes) == 10, codes
    assert len(set(codes)) == 10, codes
    assert all(re.fullmatch(r"[a-z0-9]{4}(-[a-z0-9]{4}){5}", c) for c in codes), codes
    assert_signed_in(page, username)
    page.get_by_role("link", name=re.compile("saved them, continue")).click()
    page.wait_for_url(re.compile(r"/groups$"))
    assert_signed_in(page, username)

    # Sign out: back to the home page, signed out, and /settings wants a sign-in again.
    me.sign_out()
    assert page.url == site.url + "/"
    me.goto("/settings")
    assert "/login" in page.url

    # Sign in again with the same pseudonym and password.
    me.sign_in(Account(username, PASSWORD))

    # Forgotten password: one recovery code sets a new one (and ends every session).
    new_password = "quiet-harbour-sunrise-17"
    me.goto("/login")
    page.get_by_role("link", name="Use a recovery code").click()
    page.wait_for_url(re.compile(r"/recover$"))
    page.get_by_label("Your pseudonym").fill(username)
    page.get_by_label("Recovery code").fill(codes[3])
    page.get_by_label("New password").fill(new_password)
    page.get_by_role("button", name="Set my new password").click()
    page.wait_for_url(re.compile(r"/settings\?notice=password-reset"))
    page.get_by_role("status").filter(has_text="new password is set").wait_for()
    assert_signed_in(page, username)

    me.sign_out()

    # The old password no longer works ...
    me.goto("/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("main button[type=submit]")
    page.get_by_role("alert").wait_for()
    assert_signed_out(page)
    # ... the used code can't be used twice ...
    me.goto("/recover")
    page.fill("#username", username)
    page.fill("#code", codes[3])
    page.fill("#password", "another-long-passphrase-9")
    page.click("main button[type=submit]")
    page.get_by_role("alert").wait_for()
    assert_signed_out(page)
    # ... and the new one does.
    me.sign_in(Account(username, new_password))


def test_settings_lists_sessions_and_ends_another(site: SiteServer, person: PersonFactory):
    account = site.signup_api()  # the API sign-up is a session too: "an app or API client"
    laptop = person("laptop", account)
    phone = person("phone", account)
    phone.goto("/groups")
    assert_signed_in(phone.page, account.username)

    laptop.goto("/settings")
    page = laptop.page
    sessions = page.locator("ul.sessions > li")
    assert sessions.count() == 3, sessions.all_inner_texts()
    this = sessions.filter(has_text="This browser")
    other = sessions.filter(has_text="Another browser")
    app = sessions.filter(has_text="An app or API client")
    assert (this.count(), other.count(), app.count()) == (1, 1, 1), sessions.all_inner_texts()
    assert re.search(r"signed in \d{2} \w{3} \d{4}, \d{2}:\d{2} UTC", this.inner_text())

    other.get_by_role("button", name="Sign it out").click()
    page.get_by_role("status").filter(has_text="That session is signed out").wait_for()
    assert page.locator("ul.sessions > li").filter(has_text="Another browser").count() == 0
    assert page.locator("ul.sessions > li").count() == 2
    assert_signed_in(page, account.username)

    # The phone's next page load is signed out.
    phone.goto("/groups")
    assert_signed_out(phone.page)
    phone.goto("/settings")
    assert "/login" in phone.page.url
    # The laptop is still signed in.
    laptop.goto("/groups")
    assert_signed_in(laptop.page, account.username)
