"""Operating a running system: ``kmm run``'s console under tmux and every operator command against it.

One run for the whole module (the tests run in order): the console shows the markets; ``kmm status``,
``positions``, ``orders`` and ``fills`` work with no flags; halt is refused without the token; ``h``
halts (the simulator's own records show no resting order), ``r`` asks and only ``y`` resumes;
``kmm halt`` / ``kmm resume``; ``q`` cancels everything and stops cleanly; the recorded session is
reported and replayed.
"""

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from kmm.cli import main as kmm
from kmm.runner.discovery import RunInfo, live_runs
from kmm.runner.redis_proc import redis_server_binary
from tests.helpers import eventually

pytestmark = pytest.mark.system
ROOT = Path(__file__).resolve().parents[2]
MARKETS = 4


@dataclass
class Console:
    socket: str
    workdir: Path
    rc_file: Path
    info: RunInfo | None = None

    def tmux(self, *args: str) -> str:
        out = subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=10)
        return out.stdout

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-S", "-300", "-t", "ops")

    def press(self, key: str) -> None:
        self.tmux("send-keys", "-t", "ops", key)

    def risk_state(self) -> str:
        return httpx.get(self.info.urls["risk"] + "/state", timeout=5).json()["state"]  # type: ignore[union-attr]

    def resting(self) -> int:
        """Our resting orders as the simulator's own records have them."""
        assert self.info is not None
        orders = httpx.get(self.info.exchange_admin_url + "/orders", params={"user": self.info.key_id},
                           timeout=5).json()["orders"]
        return sum(1 for o in orders if o["status"] == "resting")


def run_kmm(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = kmm(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    if redis_server_binary() is None or shutil.which("tmux") is None:
        pytest.skip("needs redis-server and tmux")
    workdir = tmp_path_factory.mktemp("kmm-console")
    c = Console(f"kmm-test-{os.getpid()}", workdir / "run", workdir / "rc")
    # COLUMNS/LINES from the test's environment would pin rich to 80 columns instead of the pane's 200.
    command = (f"cd {ROOT} && env -u COLUMNS -u LINES KMM_STATE_DIR={os.environ['KMM_STATE_DIR']} "
               f"{sys.executable} -m kmm.cli run --markets {MARKETS} --seed 2 --speed 5 --workdir {c.workdir}; echo $? > {c.rc_file}")
    c.tmux("new-session", "-d", "-s", "ops", "-x", "200", "-y", "50", command)
    c.tmux("set-option", "-t", "ops", "remain-on-exit", "on")
    try:
        def published() -> RunInfo | None:
            assert not c.rc_file.exists(), c.screen()
            return next((i for i in live_runs() if i.workdir == str(c.workdir.resolve())), None)

        c.info = eventually(published, timeout=120, interval=0.5, what="kmm run's services ready (run file)")
        yield c
    finally:
        c.tmux("kill-server")  # SIGHUP: a run still going stops cleanly
        eventually(lambda: c.rc_file.exists() or not live_runs(), timeout=60, interval=0.5, what="kmm run stopped")


def test_console_shows_the_markets_and_the_system(console: Console) -> None:
    def drawn() -> str:
        screen = console.screen()
        assert screen.count("KXSIM-") >= MARKETS and "services ready 5/5" in screen, screen
        return screen

    screen = eventually(drawn, timeout=60, interval=0.5, what="console draws every market")
    for words in ("h halt · r resume · q quit", "risk  ACTIVE", "exposure $", "tick-to-order p50", "write tokens",
                  "our bid", "position", "P&L $", "last denial", "gateway", "exchange"):
        assert words in screen, (words, screen)


def test_read_commands_need_no_flags(console: Console, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_kmm(capsys, "status", "--json")
    status = json.loads(out)
    assert code == 0 and all(s["ready"] for s in status["services"].values())
    assert len(status["markets"]) == MARKETS and status["system"]["state"] == "ACTIVE"
    code, out, _ = run_kmm(capsys, "positions", "--json")
    assert code == 0 and len(json.loads(out)["markets"]) == MARKETS

    def orders() -> list[dict[str, Any]]:
        code, out, _ = run_kmm(capsys, "orders", "--json")
        assert code == 0
        return json.loads(out)["orders"]

    assert all(o["status"] for o in eventually(orders, timeout=60, interval=0.5, what="orders resting"))

    def fills() -> list[dict[str, Any]]:
        code, out, _ = run_kmm(capsys, "fills", "--since", "10m", "--json")
        assert code == 0
        return json.loads(out)["fills"]

    got = eventually(fills, timeout=90, interval=1, what="a fill")
    by_market: dict[str, list[int]] = {}
    for f in got:
        by_market.setdefault(f["market"], []).append(f["seq"])
    assert all(seqs == list(range(1, len(seqs) + 1)) for seqs in by_market.values()), by_market
    code, out, _ = run_kmm(capsys, "fills", "--since", "2100-01-01T00:00:00Z", "--json")
    assert code == 0 and json.loads(out)["fills"] == []
    table = subprocess.run([sys.executable, "-m", "kmm.cli", "status"], capture_output=True, text=True, timeout=60,
                           cwd=ROOT)
    assert table.returncode == 0 and "risk" in table.stdout and "KXSIM-" in table.stdout


def test_doctor_with_no_flags_checks_the_runs_venue(console: Console, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_kmm(capsys, "doctor", "--json")
    res = json.loads(out)
    assert code == 0 and res["ok"] and res["base_url"] == console.info.kalshi_base_url  # type: ignore[union-attr]
    assert {c["name"]: c["status"] for c in res["checks"]}["websocket"] == "PASS"


def test_halt_without_the_token_is_refused(console: Console, capsys: pytest.CaptureFixture[str],
                                           tmp_path: Path) -> None:
    empty, wrong = tmp_path / "empty", tmp_path / "wrong"
    empty.write_text("")
    wrong.write_text("not-the-token\n")
    code, _, err = run_kmm(capsys, "halt", "--token-file", str(empty))
    assert code == 2 and "is empty" in err
    code, _, err = run_kmm(capsys, "halt", "--token-file", str(wrong))
    assert code == 1 and "risk refused POST /halt: HTTP 401 (wrong bearer token)" in err
    code, _, err = run_kmm(capsys, "resume")  # no terminal to confirm on
    assert code == 2 and "--yes" in err
    assert console.risk_state() == "ACTIVE"


def test_h_halts_and_nothing_rests_at_the_exchange(console: Console) -> None:
    eventually(lambda: console.resting() > 0, timeout=60, interval=0.5, what="orders resting before the halt")
    console.press("h")
    eventually(lambda: console.risk_state() == "HALTED", timeout=10, interval=0.2, what="risk HALTED")
    eventually(lambda: console.resting() == 0, timeout=15, interval=0.2, what="no resting order at the exchange")
    eventually(lambda: "HALTED" in console.screen() and "halt: trading HALTED" in console.screen(), timeout=10,
               interval=0.3, what="the console shows the halt")


def test_r_asks_and_only_y_resumes(console: Console) -> None:
    console.press("r")
    eventually(lambda: "resume trading? press y" in console.screen(), timeout=10, interval=0.3, what="asked")
    console.press("n")
    eventually(lambda: "resume cancelled" in console.screen(), timeout=10, interval=0.3, what="cancelled")
    assert console.risk_state() == "HALTED"
    console.press("r")
    eventually(lambda: console.screen().count("resume trading? press y") == 2, timeout=10, interval=0.3)
    console.press("y")
    eventually(lambda: console.risk_state() == "ACTIVE", timeout=10, interval=0.2, what="resumed")
    eventually(lambda: console.resting() > 0, timeout=60, interval=0.5, what="quoting again")


def test_kmm_halt_and_resume(console: Console, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_kmm(capsys, "halt", "--reason", "test")
    assert code == 0 and out.startswith("trading HALTED (test); every order cancelled")
    eventually(lambda: console.resting() == 0, timeout=15, interval=0.2, what="no resting order after kmm halt")
    code, out, _ = run_kmm(capsys, "resume", "--yes")
    assert code == 0 and out.strip() == "trading ACTIVE"
    eventually(lambda: console.resting() > 0, timeout=60, interval=0.5, what="quoting again")


def test_q_cancels_everything_and_stops_cleanly(console: Console) -> None:
    console.press("q")
    eventually(console.rc_file.exists, timeout=120, interval=0.5, what="kmm run exited")
    assert console.rc_file.read_text().strip() == "0", console.screen()
    screen = console.screen()
    assert "resting orders at the exchange after stop: 0" in screen, screen
    assert "session:" in screen and "kmm run summary" in screen
    assert not [i for i in live_runs() if i.workdir == str(console.workdir.resolve())]


def test_the_recorded_session_is_reported_and_replayed(console: Console, capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    session = json.loads((console.workdir / "session.json").read_text())
    fills_line = next(line for line in console.screen().splitlines() if line.strip().startswith("fills:"))
    assert session["overall"]["fills"] == int(fills_line.split(":")[1]) > 0
    assert session["markets"] == MARKETS
    code, out, _ = run_kmm(capsys, "report", str(console.workdir), "--replay")
    assert code == 0
    assert f"fills {session['overall']['fills']}" in out and "replay (kmm backtest over session.npz" in out
    assert (console.workdir / "pnl.png").exists() and (console.workdir / "inventory.png").exists()
