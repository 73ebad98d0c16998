"""``kmm run`` as a process: its children (services, simulator, redis) die with it however it dies,
SIGHUP stops it cleanly like SIGTERM, and a service with a bad setting stops the run instead of
being restarted forever."""

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from kmm.runner.redis_proc import redis_server_binary
from tests.helpers import eventually

pytestmark = pytest.mark.system
ROOT = Path(__file__).resolve().parents[2]
CHILDREN = {"redis-server", "exchange", "marketdata", "selector", "quoter", "risk", "gateway"}


def stat(pid: int) -> tuple[str, int, int] | None:
    """(state, ppid, start time) of a process, or None once it no longer exists."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text[text.rindex(")") + 2:].split()
    return fields[0], int(fields[1]), int(fields[19])


def alive(pid: int, started: int) -> bool:
    st = stat(pid)
    return st is not None and st[2] == started and st[0] not in ("Z", "X")  # a zombie has exited


def children(ppid: int) -> dict[int, int]:
    """{pid: start time} of the live children of ``ppid``."""
    out = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            st = stat(int(entry.name))
            if st is not None and st[1] == ppid and st[0] not in ("Z", "X"):
                out[int(entry.name)] = st[2]
    return out


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def role(pid: int) -> str:
    cmd = cmdline(pid)
    if "redis-server" in cmd:
        return "redis-server"
    if " sim " in cmd:
        return "exchange"
    return cmd.split(" service ")[-1].split()[0] if " service " in cmd else cmd


@dataclass
class Runner:
    proc: subprocess.Popen
    workdir: Path
    kids: dict[int, int]
    ports: dict[str, int] = field(default_factory=dict)

    def log(self) -> str:
        return (self.workdir / "run.log").read_text(errors="replace")[-4000:]


@contextlib.contextmanager
def running(tmp_path: Path, *args: str) -> Iterator[Runner]:
    """``kmm run *args`` in ``tmp_path``, yielded once every service is ready (its children listed);
    afterwards every child and the runner are killed, whatever the test did."""
    if redis_server_binary() is None:
        pytest.skip("redis-server not on PATH")
    ports = tmp_path / "ports.json"
    env = {k: v for k, v in os.environ.items() if k != "RUN_SECONDS"}
    log = open(tmp_path / "run.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "kmm.cli", "run", *args, "--workdir", str(tmp_path), "--ports-file", str(ports),
         "--view", "lines"],
        stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, env=env, start_new_session=True,
    )
    r = Runner(proc, tmp_path, {})
    try:
        def started() -> bool:
            assert proc.poll() is None, f"kmm run exited {proc.returncode}: {r.log()}"
            return ports.exists() and bool(json.loads(ports.read_text() or "{}"))

        eventually(started, timeout=90, interval=0.2, what="every service ready (ports file written)")
        r.ports = json.loads(ports.read_text())
        r.kids = children(proc.pid)
        yield r
    finally:
        for pid, started_at in children(proc.pid).items() | r.kids.items():
            if alive(pid, started_at):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        log.close()


@pytest.fixture
def runner(tmp_path: Path) -> Iterator[Runner]:
    with running(tmp_path, "--seconds", "0", "--markets", "2") as r:
        yield r


def test_every_child_dies_with_a_kill_9_runner(runner: Runner) -> None:
    assert {role(p) for p in runner.kids} == CHILDREN, runner.kids
    token = runner.workdir / "secrets" / "admin.token"
    assert f'to halt trading: curl -X POST -H "Authorization: Bearer $(cat {token})" http://127.0.0.1:' in runner.log()
    assert token.stat().st_mode & 0o777 == 0o600
    assert token.read_text().strip() not in runner.log()
    runner.proc.send_signal(signal.SIGKILL)
    runner.proc.wait(10)

    def all_gone() -> bool:
        left = {role(p) for p, t in runner.kids.items() if alive(p, t)}
        assert not left, f"still running: {left}"
        return True

    eventually(all_gone, timeout=30, interval=0.2, what="every child of the killed runner exits")


def test_sighup_stops_cleanly_with_exit_0(runner: Runner) -> None:
    runner.proc.send_signal(signal.SIGHUP)
    assert runner.proc.wait(60) == 0, runner.log()
    assert "kmm run summary" in runner.log()
    assert not [p for p, t in runner.kids.items() if alive(p, t)]


def test_a_dead_simulator_stops_the_run_instead_of_starting_a_new_exchange(runner: Runner) -> None:
    """The simulator keeps its book, orders and our account in memory only: a new one would be a
    different exchange from the one risk's ledger traded on, so the run stops, says why, exits 1."""
    sim = [pid for pid in runner.kids if role(pid) == "exchange"]
    assert len(sim) == 1, {pid: role(pid) for pid in runner.kids}
    os.kill(sim[0], signal.SIGKILL)
    assert runner.proc.wait(90) == 1, runner.log()
    log = runner.log()
    assert "the exchange simulator exited with -9" in log and "stopping the run" in log
    assert "exchange restarted" not in log
    assert not [p for p, t in runner.kids.items() if alive(p, t)]


def test_a_service_with_a_bad_setting_is_not_restarted_and_stops_the_run(tmp_path: Path) -> None:
    """The config file is edited during the run and the quoter restarts: it exits 2 (bad configuration),
    which another restart would only repeat, so the run says which service and setting, stops cleanly
    and exits 1; its session keeps the parameters the run started with, not the file's new, bad ones."""
    config = tmp_path / "kmm.toml"
    config.write_text("[quoter]\ngamma = 0.45\n")
    with running(tmp_path, "--seconds", "0", "--markets", "2", "--config", str(config)) as run:
        config.write_text("[quoter]\ngamma = -7.25\n")
        quoter = [pid for pid in run.kids if role(pid) == "quoter"]
        assert len(quoter) == 1, {pid: role(pid) for pid in run.kids}
        os.kill(quoter[0], signal.SIGKILL)
        assert run.proc.wait(90) == 1, run.log()
        assert not [p for p, t in run.kids.items() if alive(p, t)]
    log = (tmp_path / "run.log").read_text(errors="replace")
    assert "quoter exited with 2, a service's exit for a bad configuration: not restarted" in log
    assert f"(its log: {tmp_path / 'logs' / 'quoter.log'}); stopping the run" in log
    assert f"quoter: invalid setting KMM_GAMMA (gamma at {config} line 2 [quoter]): Input should be greater than 0" \
        in log
    assert "quoter restarted (#1)" in log and "quoter restarted (#2)" not in log  # only the restart after the kill
    assert "services exited badly: {'quoter': 2}" in log
    assert "could not write the session" not in log and "7.25" not in log
    assert json.loads((tmp_path / "session.json").read_text())["live"]["gamma"] == 0.45


def test_a_timed_run_ends_flat_and_its_summary_is_the_exchanges_record(tmp_path: Path) -> None:
    """The summary is taken after the quoter pulled its quotes and the gateway's orders are gone, so
    its fills are the session's and the exchange's: no fill lands between the summary and the stop.
    Risk is killed once after the first fill: its restart must not make the wind-down wait for fills
    it booked before (its own counter starts again at 0) nor take them out of the summary."""
    out = tmp_path / "summary.json"
    with running(tmp_path, "--seconds", "30", "--markets", "6", "--speed", "10", "--summary-json", str(out)) as run:
        def gateway_filled() -> bool:
            assert run.proc.poll() is None, f"kmm run exited {run.proc.returncode}: {run.log()}"
            try:
                return httpx.get(f"http://127.0.0.1:{run.ports['gateway']}/status", timeout=2).json()["fills"] > 0
            except httpx.HTTPError:
                return False

        eventually(gateway_filled, timeout=25, interval=0.2, what="the run's first fill")
        risk = [pid for pid in run.kids if role(pid) == "risk"]
        assert len(risk) == 1, {pid: role(pid) for pid in run.kids}
        os.kill(risk[0], signal.SIGKILL)
        assert run.proc.wait(120) == 0, run.log()
    text = (tmp_path / "run.log").read_text(errors="replace")
    summary = json.loads(out.read_text())
    services, session = summary["services"], summary["session"]
    assert services["risk"]["restarts"] == 1
    assert "has not booked every fill" not in text and "still has orders open" not in text
    assert summary["resting_orders_after_stop"] == 0
    assert services["gateway"]["open_orders"] == []
    assert services["quoter"]["intents"] > 0  # the quoter's row is what it said before it stopped
    fills = services["gateway"]["fills"]
    assert 0 < fills == services["risk"]["fills_booked"] == session["overall"]["fills"] == summary["totals"]["fills"]
    assert services["risk"]["fill_seq"] == services["gateway"]["fill_seq"]
    venue = session["venue"]
    assert venue["agrees"], venue["mismatches"]
    assert venue["contracts_traded"] == session["overall"]["bought_contracts"] + session["overall"]["sold_contracts"]
    assert "the session's fills and the exchange's record" in text
    assert "(fill_to_risk: since the risk's restart #1)" in text


def test_a_hung_gateway_is_killed_and_its_successor_takes_the_book_over(tmp_path: Path) -> None:
    """A SIGSTOPped gateway runs but answers nothing: only the runner's watchdog restarts it (the
    supervisor restarts what exits). The new gateway is ready, and the exchange never holds two of our
    orders on one market and side."""
    with running(tmp_path, "--seconds", "0", "--markets", "2", "--liveness-s", "3") as run:
        exchange = f"http://127.0.0.1:{run.ports['exchange']}/admin/orders"

        def resting() -> list[dict]:
            orders = httpx.get(exchange, params={"user": "kmm-local-write"}, timeout=5).json()["orders"]
            return [o for o in orders if o["status"] == "resting"]

        eventually(resting, timeout=60, interval=0.2, what="our quotes resting")
        hung = [(pid, t) for pid, t in run.kids.items() if role(pid) == "gateway"]
        assert len(hung) == 1, {pid: role(pid) for pid in run.kids}
        os.kill(hung[0][0], signal.SIGSTOP)

        def successor_ready() -> bool:
            assert run.proc.poll() is None, f"kmm run exited {run.proc.returncode}: {run.log()}"
            new = [p for p in children(run.proc.pid) if role(p) == "gateway" and p != hung[0][0]]
            try:
                ok = httpx.get(f"http://127.0.0.1:{run.ports['gateway']}/readyz", timeout=2).status_code == 200
            except httpx.HTTPError:
                ok = False
            return bool(new) and ok

        eventually(successor_ready, timeout=90, interval=0.2, what="a new gateway, ready")
        assert not alive(*hung[0])
        log = run.log()
        assert "gateway answered nothing for" in log and "gateway restarted (#1)" in log, log
        eventually(resting, timeout=60, interval=0.2, what="quotes resting again")
        sides = [(o["ticker"], o["side"]) for o in resting()]
        assert len(sides) == len(set(sides)), sides
