"""Crisis lines per region for the help panel and /support (docs/safety.md).

The packaged resources.json holds sensible defaults; an operator replaces it with their
own file (settings `crisis_resources_file`, env SAFESPACE_CRISIS_RESOURCES). Nothing here
uses cookies: the region comes from ?region= (the page's script remembers a choice in
localStorage) or else from the browser's Accept-Language.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources as package_files
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

log = logging.getLogger(__name__)

INTERNATIONAL = "INT"
ALIASES = {"UK": "GB"}  # seen in the wild, though not a valid region subtag
_CODE = re.compile(r"^[A-Z]{2,3}$")
_PHONE = re.compile(r"^\+?[0-9][0-9 ().-]*$")


@dataclass(frozen=True)
class Link:
    kind: str  # call, text, email, web
    href: str
    label: str


@dataclass(frozen=True)
class Line:
    name: str
    hours: str
    notes: str
    links: tuple[Link, ...]


@dataclass(frozen=True)
class Emergency:
    number: str
    href: str


@dataclass(frozen=True)
class Region:
    code: str
    name: str
    emergency: tuple[Emergency, ...]
    lines: tuple[Line, ...]


@dataclass(frozen=True)
class CrisisResources:
    regions: Mapping[str, Region]
    default_region: str

    @property
    def choices(self) -> list[tuple[str, str]]:
        """(code, name) for the region picker, in the file's order."""
        return [(r.code, r.name) for r in self.regions.values()]

    def get(self, code: str) -> Region:
        return self.regions.get(code) or self.regions[self.default_region]

    def to_json(self) -> str:
        """Every region, for the page's script (static/support.js) to switch between."""
        data = {
            "default": self.default_region,
            "regions": {
                code: {
                    "name": r.name,
                    "emergency": [{"number": e.number, "href": e.href} for e in r.emergency],
                    "lines": [
                        {
                            "name": line.name,
                            "hours": line.hours,
                            "notes": line.notes,
                            "links": [
                                {"kind": k.kind, "href": k.href, "label": k.label}
                                for k in line.links
                            ],
                        }
                        for line in r.lines
                    ],
                }
                for code, r in self.regions.items()
            },
        }
        text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


# --------------------------------------------------------------------------- loading


def _text(entry: Mapping[str, Any], key: str, where: str, required: bool = False) -> str:
    value = entry.get(key, "")
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ValueError(f"{where}: {key!r} must be text")
    if required and not value.strip():
        raise ValueError(f"{where}: {key!r} is required")
    return value.strip()


def _digits(number: str, where: str) -> str:
    if not _PHONE.match(number):
        raise ValueError(f"{where}: {number!r} is not a phone number")
    return ("+" if number.startswith("+") else "") + re.sub(r"[^0-9]", "", number)


def _web_label(url: str) -> str:
    parts = urlsplit(url)
    host = parts.netloc.removeprefix("www.")
    path = parts.path.rstrip("/")
    return host + path


def _line(entry: Any, where: str) -> Line:
    if not isinstance(entry, Mapping):
        raise ValueError(f"{where}: each line must be an object")
    name = _text(entry, "name", where, required=True)
    where = f"{where} {name!r}"
    links: list[Link] = []
    phone = _text(entry, "phone", where)
    if phone:
        links.append(Link("call", "tel:" + _digits(phone, where), f"Call {phone}"))
    text = entry.get("text")
    if text:
        if not isinstance(text, Mapping):
            raise ValueError(f"{where}: 'text' must be an object with a number")
        number = _text(text, "number", where, required=True)
        body = _text(text, "body", where)
        href = "sms:" + _digits(number, where)
        if body:
            href += "?body=" + quote(body)
            label = f"Text {body} to {number}"
        else:
            label = f"Text {number}"
        links.append(Link("text", href, label))
    email = _text(entry, "email", where)
    if email:
        if "@" not in email or any(c in email for c in " <>\"'?&"):
            raise ValueError(f"{where}: {email!r} is not an email address")
        links.append(Link("email", "mailto:" + email, f"Email {email}"))
    web = _text(entry, "web", where)
    if web:
        if urlsplit(web).scheme not in ("https", "http"):
            raise ValueError(f"{where}: 'web' must be an http(s) address")
        links.append(Link("web", web, _web_label(web)))
    if not links:
        raise ValueError(f"{where}: give at least one of phone, text, email or web")
    return Line(
        name=name,
        hours=_text(entry, "hours", where, required=True),
        notes=_text(entry, "notes", where),
        links=tuple(links),
    )


def parse(data: Any) -> CrisisResources:
    """Check an operator's file thoroughly: a broken help panel must never reach a person."""
    if not isinstance(data, Mapping) or not isinstance(data.get("regions"), Mapping):
        raise ValueError("the file needs a 'regions' object")
    regions: dict[str, Region] = {}
    for raw_code, region in data["regions"].items():
        code = str(raw_code).upper()
        if not _CODE.match(code):
            raise ValueError(f"region {raw_code!r}: use a two-letter country code or INT")
        if not isinstance(region, Mapping):
            raise ValueError(f"region {code}: must be an object")
        where = f"region {code}"
        numbers = region.get("emergency", [])
        if isinstance(numbers, str):
            numbers = [numbers]
        if not isinstance(numbers, list) or not all(isinstance(n, str) for n in numbers):
            raise ValueError(f"{where}: 'emergency' must be a list of phone numbers")
        lines = region.get("lines")
        if not isinstance(lines, list) or not lines:
            raise ValueError(f"{where}: 'lines' must list at least one line")
        regions[code] = Region(
            code=code,
            name=_text(region, "name", where, required=True),
            emergency=tuple(
                Emergency(n.strip(), "tel:" + _digits(n.strip(), where)) for n in numbers
            ),
            lines=tuple(_line(entry, where) for entry in lines),
        )
    if not regions:
        raise ValueError("the file lists no regions")
    default = str(data.get("default_region") or "").upper()
    if default not in regions:
        default = INTERNATIONAL if INTERNATIONAL in regions else next(iter(regions))
    return CrisisResources(regions=regions, default_region=default)


def _packaged_text() -> str:
    return package_files.files(__package__).joinpath("resources.json").read_text("utf-8")


@cache
def load(path: str = "") -> CrisisResources:
    """The packaged resources, or the operator's file. An operator's file that can't be read
    or doesn't check out is logged loudly and the packaged defaults are shown instead, so
    the help panel is never empty."""
    if path:
        try:
            return parse(json.loads(Path(path).read_text("utf-8")))
        except (OSError, ValueError) as exc:
            log.error(
                "crisis resources file %s is not usable (%s); showing the defaults", path, exc
            )
    return parse(json.loads(_packaged_text()))


# --------------------------------------------------------------------------- the region


def _languages(header: str) -> list[str]:
    """Accept-Language tags, most preferred first (stable for equal weights)."""
    weighted: list[tuple[float, int, str]] = []
    for index, part in enumerate(header[:512].split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                q = float(params[2:])
            except ValueError:
                q = 0.0
        if tag and tag != "*" and q > 0:
            weighted.append((-q, index, tag.strip()))
    return [tag for _, _, tag in sorted(weighted)]


def _region_of(tag: str) -> str | None:
    for sub in tag.split("-")[1:]:
        if len(sub) == 2 and sub.isalpha():
            code = sub.upper()
            return ALIASES.get(code, code)
    return None


def region_for(
    accept_language: str | None,
    chosen: str | None,
    resources: CrisisResources | None = None,
) -> str:
    """The region whose lines to show: the person's own choice if it is one we know, else the
    first region named in their browser's languages (en-GB -> GB, fr-CA -> CA), else the
    file's default (INT, the international directory, in the packaged file)."""
    res = resources or load()
    if chosen:
        code = chosen.strip().upper()
        code = ALIASES.get(code, code)
        if code in res.regions:
            return code
    for tag in _languages(accept_language or ""):
        found = _region_of(tag)
        if found is not None and found in res.regions:
            return found
    return res.default_region
