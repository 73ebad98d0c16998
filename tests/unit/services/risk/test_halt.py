"""Risk's ``/halt`` halts whatever its body looks like: the kill switch must not fail on a content type."""

import asyncio
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from kmm.messages import Control
from kmm.risk.engine import HALTED
from kmm_services.risk.service import RiskService, RiskSettings, halt_reason


def risk_app() -> tuple[RiskService, TestClient, list[Any]]:
    r = RiskService(RiskSettings())
    sent: list[Any] = []

    async def save(market: str | None = None) -> None:
        return None

    async def publish(stream: str, msg: Any) -> bytes:
        sent.append(msg)
        return b"1-0"

    r.save = save  # type: ignore[method-assign]
    r.publish = publish  # type: ignore[method-assign]
    r.lock = asyncio.Lock()
    app = FastAPI()
    r.routes(app)
    return r, TestClient(app), sent


def test_curl_d_without_a_json_content_type_still_halts_with_its_reason() -> None:
    r, client, sent = risk_app()
    answer = client.post("/halt", content=b'{"reason":"operator"}',
                         headers={"content-type": "application/x-www-form-urlencoded"})  # what curl -d sends
    assert answer.status_code == 200 and answer.json() == {"state": HALTED, "reason": "operator"}
    assert r.engine.state == HALTED
    assert [(m.state, m.cancel_all) for m in sent if isinstance(m, Control)] == [(HALTED, True)]


def test_a_body_that_is_not_a_json_object_is_ignored_and_said_so_but_the_halt_holds() -> None:
    r, client, _ = risk_app()
    answer = client.post("/halt", content=b"reason=operator")
    assert answer.status_code == 200 and r.engine.state == HALTED
    assert answer.json()["body_ignored"] == "not JSON" and answer.json()["reason"] == "manual"


def test_halt_reason() -> None:
    assert halt_reason(b"") == ("manual", "")
    assert halt_reason(b'{"reason": "desk"}') == ("desk", "")
    assert halt_reason(b"[1]") == ("manual", "not a JSON object")
    assert halt_reason(b"{") == ("manual", "not JSON")
