"""``kmm halt`` against a target without a gateway URL halts at once and says it did not watch the cancels."""

import argparse
from typing import Any

import pytest

from kmm.ops import commands
from kmm.ops.target import Target


class StubClient:
    """Risk answers the halt; every gateway read is recorded."""

    def __init__(self, target: Target, timeout: float) -> None:
        self.gets: list[tuple[str, str]] = []
        StubClient.last = self

    last: "StubClient"

    def __enter__(self) -> "StubClient":
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def post(self, service: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        return {"state": "HALTED", "reason": (body or {}).get("reason", "")}

    def try_get(self, service: str, path: str) -> tuple[Any, str]:
        self.gets.append((service, path))
        return {"orders": []}, ""


def halt(monkeypatch: pytest.MonkeyPatch, urls: dict[str, str]) -> int:
    monkeypatch.setattr(commands, "resolve", lambda args: Target(urls, None, "--url"))
    monkeypatch.setattr(commands, "OpsClient", StubClient)
    args = argparse.Namespace(reason="operator", wait=10.0, json=False, timeout=2.0)
    return commands._halt(args)


def test_without_a_gateway_url_it_does_not_wait_and_says_so(monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert halt(monkeypatch, {"risk": "http://risk"}) == 0
    assert StubClient.last.gets == []
    assert "not watched: no gateway URL" in capsys.readouterr().out


def test_with_a_gateway_url_it_watches_the_cancels(monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert halt(monkeypatch, {"risk": "http://risk", "gateway": "http://gw"}) == 0
    assert StubClient.last.gets == [("gateway", "/orders")]
    assert "every order cancelled" in capsys.readouterr().out
