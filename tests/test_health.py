"""The process reports that it can serve."""

from __future__ import annotations

import httpx


async def test_healthz_is_200_when_the_app_can_serve(client: httpx.AsyncClient) -> None:
    r = await client.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}


async def test_unknown_api_path_is_a_json_404(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/v1/nothing-here")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"
