"""The console's keys: h halts at once, r asks and only y resumes, q quits; failures are shown, not raised."""

import io
from pathlib import Path
from typing import Any

from rich.console import Console

from kmm.ops.target import OpsError, Target
from kmm.runner.console import QUIT, LiveConsole


class StubClient:
    """Answers reads with nothing and records operator posts."""

    def __init__(self, refuse: bool = False) -> None:
        self.target = Target({}, Path("/t"), "stub")
        self.posts: list[tuple[str, str, Any]] = []
        self.refuse = refuse

    def try_get(self, service: str, path: str, ok: tuple[int, ...] = (200,)) -> tuple[Any, str]:
        return None, f"{service} down"

    def request(self, *a: Any, **kw: Any) -> Any:
        raise OpsError("down")

    def post(self, service: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        if self.refuse:
            raise OpsError("risk refused POST /halt: HTTP 401")
        self.posts.append((service, path, body))
        return {"state": "HALTED" if path == "/halt" else "ACTIVE", "reason": (body or {}).get("reason", "")}


def console(client: StubClient) -> LiveConsole:
    out = Console(file=io.StringIO(), width=160, markup=False)
    return LiveConsole(client, "test", lambda: {}, console=out)  # type: ignore[arg-type]


def test_h_halts_immediately_with_a_reason() -> None:
    c = StubClient()
    lc = console(c)
    assert lc.on_key("h") is None
    assert c.posts == [("risk", "/halt", {"reason": "operator (console)"})]
    assert "halt: trading HALTED (operator (console))" in lc.messages[-1]


def test_r_needs_y_to_resume() -> None:
    c = StubClient()
    lc = console(c)
    lc.on_key("r")
    assert lc.confirming and not c.posts
    lc.on_key("n")
    assert not c.posts and "resume cancelled" in lc.messages[-1]
    lc.on_key("r")
    lc.on_key("Y")
    assert c.posts == [("risk", "/resume", None)]
    assert "resume: trading ACTIVE" in lc.messages[-1]


def test_q_quits_and_a_refusal_is_shown() -> None:
    c = StubClient(refuse=True)
    lc = console(c)
    lc.on_key("h")
    assert "halt failed: risk refused POST /halt: HTTP 401" in lc.messages[-1]
    assert lc.on_key("x") is None
    assert lc.on_key("q") == QUIT
    assert lc.snap is not None and not lc.snap["services"]["risk"]["reachable"]  # drew what it could


def test_a_closed_stdin_does_not_spin(tmp_path: Path) -> None:
    with open(tmp_path / "empty", "w+") as f:
        lc = LiveConsole(StubClient(), "t", lambda: {}, stdin=f,  # type: ignore[arg-type]
                         console=Console(file=io.StringIO(), markup=False))
        assert lc.read_key(0.01) == "" and lc._eof
        assert lc.read_key(0.01) == ""
