"""Operator endpoints: bearer token from KMM_ADMIN_TOKEN_FILE, same origin only, reads stay open."""

import asyncio
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from kmm.chassis.app import DISABLED, create_app
from kmm.chassis.service import Service
from kmm.chassis.settings import ServiceSettings

TOKEN = "s3cret-token-value"


class Halting(Service):
    name = "risk"

    def __init__(self, settings: ServiceSettings) -> None:
        super().__init__(settings)
        self.halts = 0

    def routes(self, app: FastAPI) -> None:
        @app.post("/halt")
        async def halt() -> dict[str, int]:
            self.halts += 1
            return {"halts": self.halts}

        @app.get("/state")
        async def state() -> dict[str, int]:
            return {"halts": self.halts}


class Client:
    """Requests straight into the ASGI app (no server, no lifespan: nothing here needs Redis)."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
                return await c.request(method, path, **kw)

        return asyncio.run(go())

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("GET", path, **kw)

    def head(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("HEAD", path, **kw)

    def post(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("POST", path, **kw)


def client(token_file: Path | None) -> tuple[Client, Halting]:
    svc = Halting(ServiceSettings(admin_token_file=token_file))
    return Client(create_app(svc)), svc


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "admin.token"
    path.write_text(TOKEN + "\n")
    return path


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_reads_need_no_token(token_file: Path) -> None:
    c, _ = client(token_file)
    assert c.get("/livez").status_code == 200
    assert c.get("/state").json() == {"halts": 0}
    assert c.head("/livez").status_code in (200, 405)  # never 401/403


def test_the_right_token_is_accepted(token_file: Path) -> None:
    c, svc = client(token_file)
    r = c.post("/halt", headers=bearer(TOKEN))
    assert r.status_code == 200 and svc.halts == 1


@pytest.mark.parametrize("headers", [
    {},
    bearer("wrong"),
    bearer(TOKEN + "x"),
    {"Authorization": f"Basic {TOKEN}"},
    {"Authorization": "Bearer "},
])
def test_a_missing_or_wrong_token_is_refused_with_401(token_file: Path, headers: dict[str, str]) -> None:
    c, svc = client(token_file)
    r = c.post("/halt", headers=headers)
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert svc.halts == 0


@pytest.mark.parametrize("origin", ["http://evil.example", "null", "http://testserver:1234", "https://testserver"])
def test_a_foreign_origin_is_refused_even_with_the_token(token_file: Path, origin: str) -> None:
    c, svc = client(token_file)
    r = c.post("/halt", headers={**bearer(TOKEN), "Origin": origin})
    assert r.status_code == 403 and "cross-origin" in r.json()["detail"]
    assert svc.halts == 0
    assert "access-control-allow-origin" not in r.headers


def test_the_services_own_origin_is_accepted(token_file: Path) -> None:
    c, svc = client(token_file)
    r = c.post("/halt", headers={**bearer(TOKEN), "Origin": "http://testserver"})
    assert r.status_code == 200 and svc.halts == 1


def test_without_a_token_file_operator_endpoints_are_disabled() -> None:
    c, svc = client(None)
    r = c.post("/halt", headers=bearer(TOKEN))
    assert r.status_code == 403 and r.json()["detail"] == DISABLED
    assert DISABLED == "operator endpoints disabled: set KMM_ADMIN_TOKEN_FILE"
    assert svc.halts == 0


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "OPTIONS"])
def test_every_non_get_method_needs_the_token(token_file: Path, method: str) -> None:
    c, _ = client(token_file)
    assert c.request(method, "/halt").status_code == 401


def test_the_token_is_never_logged(token_file: Path, caplog: pytest.LogCaptureFixture) -> None:
    c, _ = client(token_file)
    with caplog.at_level(logging.DEBUG):
        c.post("/halt", headers=bearer(TOKEN + "x"))
        c.post("/halt", headers={**bearer(TOKEN), "Origin": "http://evil.example"})
        c.post("/halt", headers=bearer(TOKEN))
    assert caplog.records and TOKEN not in caplog.text
