"""Crisis lines per region (safety/resources.py) and the help pages that show them."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from helpers import Room, make_client
from safespace.safety import resources
from safespace.safety.resources import load, parse, region_for

MakeServer = Callable[..., Awaitable[Any]]


def test_the_packaged_lines_cover_the_regions_we_promise() -> None:
    res = load()
    assert res.default_region == "INT"
    expected = {
        "US": ("911", "tel:988", "sms:988"),
        "CA": ("911", "tel:988", "sms:988"),
        "GB": ("999", "tel:116123", "sms:85258?body=SHOUT"),
        "IE": ("112", "tel:116123", "sms:50808?body=HELLO"),
        "AU": ("000", "tel:131114", "sms:0477131114"),
        "NZ": ("111", "tel:1737", "sms:1737"),
    }
    for code, (emergency, call, text) in expected.items():
        region = res.regions[code]
        assert emergency in [e.number for e in region.emergency], code
        hrefs = [link.href for line in region.lines for link in line.links]
        assert call in hrefs and text in hrefs, (code, hrefs)
        assert all(line.hours for line in region.lines), code
    assert [e.number for e in res.regions["IE"].emergency] == ["112", "999"]
    assert res.regions["INT"].emergency == ()
    assert "https://findahelpline.com" in [
        link.href for line in res.regions["INT"].lines for link in line.links
    ]
    samaritans = res.regions["GB"].lines[0]
    assert [link.href for link in samaritans.links] == [
        "tel:116123",
        "mailto:jo@samaritans.org",
        "https://www.samaritans.org",
    ]


@pytest.mark.parametrize(
    ("header", "chosen", "expected"),
    [
        ("en-GB,en;q=0.9", None, "GB"),
        ("en-US,en;q=0.9", None, "US"),
        ("fr-CA,fr;q=0.8", None, "CA"),
        ("en-AU", None, "AU"),
        ("en-NZ", None, "NZ"),
        ("ga-IE", None, "IE"),
        ("en-UK", None, "GB"),  # not a real region subtag, but seen
        ("zh-Hant-TW,en-GB;q=0.5", None, "GB"),  # the first region we have lines for
        ("de-DE;q=0.9,en-US;q=1", None, "US"),  # by weight, not by order
        ("en", None, "INT"),
        ("de-DE", None, "INT"),
        ("", None, "INT"),
        (None, None, "INT"),
        ("en-GB", "nz", "NZ"),  # the person's own choice wins
        ("en-GB", "ZZ", "GB"),  # an unknown choice is ignored
        ("en-GB", "int", "INT"),
        ("en-US;q=nonsense, en-GB", None, "GB"),
        ("x" * 5000, None, "INT"),
    ],
)
def test_region_for(header: str | None, chosen: str | None, expected: str) -> None:
    assert region_for(header, chosen) == expected


def _operator_file(tmp_path: Path, data: Any) -> str:
    path = tmp_path / "lines.json"
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return str(path)


OPERATOR = {
    "default_region": "de",
    "regions": {
        "de": {
            "name": "Deutschland",
            "emergency": "112",
            "lines": [
                {
                    "name": "TelefonSeelsorge",
                    "phone": "0800 111 0 111",
                    "web": "https://www.telefonseelsorge.de",
                    "hours": "Rund um die Uhr",
                }
            ],
        }
    },
}


def test_an_operator_file_replaces_the_lines(tmp_path: Path) -> None:
    res = load(_operator_file(tmp_path, OPERATOR))
    assert list(res.regions) == ["DE"]
    assert res.default_region == "DE"
    assert region_for("en-GB", None, res) == "DE"
    assert region_for("de-DE", None, res) == "DE"
    assert res.regions["DE"].lines[0].links[0].href == "tel:08001110111"
    assert res.regions["DE"].emergency[0].href == "tel:112"
    assert "TelefonSeelsorge" in res.to_json()


@pytest.mark.parametrize(
    "broken",
    [
        "{not json",
        {},
        {"regions": {}},
        {"regions": {"GB": {"name": "UK", "lines": []}}},
        {"regions": {"GB": {"name": "UK", "lines": [{"name": "No way to reach", "hours": "x"}]}}},
        {"regions": {"GB": {"name": "UK", "lines": [{"name": "A", "phone": "call me"}]}}},
        {
            "regions": {
                "GB": {
                    "name": "UK",
                    "lines": [{"name": "A", "web": "javascript:alert(1)", "hours": "x"}],
                }
            }
        },
        {
            "regions": {
                "Britain": {"name": "UK", "lines": [{"name": "A", "phone": "1", "hours": "x"}]}
            }
        },
    ],
)
def test_a_broken_operator_file_falls_back_to_the_defaults_loudly(
    tmp_path: Path, broken: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger=resources.__name__):
        res = load(_operator_file(tmp_path, broken))
    assert "GB" in res.regions and "INT" in res.regions  # the packaged lines
    assert any("not usable" in r.getMessage() for r in caplog.records)


def test_parse_names_the_problem() -> None:
    with pytest.raises(ValueError, match=r"region GB 'A': give at least one of"):
        parse({"regions": {"GB": {"name": "UK", "lines": [{"name": "A", "hours": "x"}]}}})


def test_json_for_the_page_cannot_end_an_element() -> None:
    text = load().to_json()
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text)["regions"]["US"]["name"] == "United States"


# ----------------------------------------------------------------------------- pages


async def test_support_page_follows_accept_language_and_region(
    make_server: MakeServer,
) -> None:
    server = await make_server()
    async with make_client(server.url) as client:
        r = await client.get("/support", headers={"accept-language": "en-GB,en;q=0.8"})
        assert r.status_code == 200
        assert 'href="tel:116123"' in r.text and 'href="tel:999"' in r.text
        r = await client.get("/support?region=AU", headers={"accept-language": "en-GB"})
        assert 'href="tel:131114"' in r.text and 'href="tel:000"' in r.text
        assert "region" not in " ".join(r.headers.get_list("set-cookie"))
        r = await client.get("/support", headers={"accept-language": "de"})
        assert "findahelpline.com" in r.text and "your local emergency number" in r.text
        r = await client.get("/break")
        assert r.status_code == 200 and "Take a breath" in r.text
        r = await client.get("/", headers={"accept-language": "en-US"})
        # Every page: the control, quick exit, and the panel with the browser's region.
        assert 'id="support-now" href="/support"' in r.text
        assert '<meta name="quick-exit" content="https://www.bbc.com/weather">' in r.text
        assert re.search(r'<dialog id="support-panel"[^>]*aria-labelledby="sp-title"', r.text)
        assert 'href="tel:988"' in r.text


async def test_operator_settings_for_lines_and_quick_exit(
    make_server: MakeServer, tmp_path: Path
) -> None:
    server = await make_server(
        crisis_resources_file=_operator_file(tmp_path, OPERATOR),
        quick_exit_url="https://weather.example.org/today",
    )
    async with make_client(server.url) as client:
        r = await client.get("/support", headers={"accept-language": "en-GB"})
        assert "TelefonSeelsorge" in r.text and "Samaritans" not in r.text
        assert '<meta name="quick-exit" content="https://weather.example.org/today">' in r.text
    other = await make_server(quick_exit_url="javascript:alert(1)")
    async with make_client(other.url) as client:
        r = await client.get("/faq")
        assert "javascript:" not in r.text
        assert '<meta name="quick-exit" content="https://www.bbc.com/weather">' in r.text


async def test_help_for_members_and_facilitators(client: httpx.AsyncClient, room: Room) -> None:
    slug = room.group["slug"]
    talk = f'action="/g/{slug}/support-room"'
    pause = f'action="/g/{slug}/break"'

    r = await client.get("/support")
    assert "sign in</a> to reach them" in r.text and talk not in r.text

    r = await client.get("/support", headers=room.alice.headers)
    assert talk in r.text and pause in r.text
    assert r.text.count('name="csrf_token"') >= 3  # sign out, and each form
    # In the group's own pages, the panel offers this group's private line and a break.
    for path in (f"/g/{slug}/room", f"/g/{slug}"):
        r = await client.get(path, headers=room.alice.headers)
        panel = r.text[r.text.index('<dialog id="support-panel"') :]
        assert talk in panel and pause in panel, path
    r = await client.get("/faq", headers=room.alice.headers)
    panel = r.text[r.text.index('<dialog id="support-panel"') :]
    assert talk not in panel and 'href="/support#facilitator"' in panel

    # Facilitators reach members from their queue: no private line with themselves.
    r = await client.get("/support", headers=room.fac.headers)
    assert talk not in r.text and pause in r.text
    r = await client.get(f"/g/{slug}/room", headers=room.fac.headers)
    assert talk not in r.text and "You facilitate" in r.text

    r = await client.get(f"/break?group={slug}", headers=room.alice.headers)
    assert f'href="/g/{slug}/room"' in r.text
    r = await client.get("/break?group=no-such-group", headers=room.alice.headers)
    assert r.status_code == 200 and "/room" not in r.text
