"""Chaos soak: the whole system under load with faults on a schedule, judged by the exchange's records.

Starts the simulator (``kmm sim``, owned by this script, so it outlives the system under test) and
``kmm run --mode live`` against it (Redis with AOF, the five services, all supervised by the runner),
all in a fresh workdir. Load: ``--markets`` synthetic markets, all in the universe, the simulator's
flow sped up to about 1,000 book updates/s at 200 markets. Then, in a loop until ``--seconds``, a
quiet window (figures measured) and one fault from the schedule:

  429 burst, 5xx burst, 2 s latency spike, WS drop, seq gaps, exchange pause, Redis kill -9 (the
  runner restarts it on its AOF), kill -9 and SIGSTOP of each service, SIGSTOP of Redis (it hangs
  instead of dying; not in ``--quick``), a gateway kill -9 while risk is stopped.

After each fault it waits for recovery (every service ready, our quotes resting again) and records
the time from the fault's end. A sampler thread reads, every 0.25 s, the exchange's resting orders
(``GET /admin/orders?status=resting``), risk's last heartbeat on ``risk:control``, the pids of the
runner's children (restarts) and their memory. At the end it kills the runner with SIGKILL and checks
that every child exits and nothing keeps trading. Last line: one JSON object:

- ``fills_lost`` (0): exchange fills (``GET /portfolio/fills``) that risk never applied (its
  ``fills_applied`` per market);
- ``orders_placed_twice`` (0): intents with two orders resting at once + client order ids reused;
- ``max_abs_position_over_limit`` (≤ 1): the exchange's largest |position| at any fill / limit;
- ``markets_settled``: markets we traded that the exchange settled (``--close-minutes``: an event closes
  every that many virtual minutes, settling its markets, and a new one is listed); the ledger check
  then covers the settlement payouts;
- ``unsupervised_resting_s`` (0): time our orders rested while risk's heartbeat was older than the
  dead-man timeout plus one cancel round trip (``--cancel-allowance``). A sample that sees it is read
  again at once on a new Redis connection and counts only when that reading agrees;
  ``stale_samples`` lists both readings of each such sample, ``stale_samples_unconfirmed`` counts
  those the second reading did not confirm (the sampler's own read failed or stalled);
  ``clock_steps``: steps of the machine's wall clock (heartbeats carry wall-clock times; for 1.5 s
  after a step a stale reading is listed with ``clock_stepped`` and not counted);
- ``recovery_s``: per fault, seconds from its end to recovery; ``restarts`` per service;
  ``memory_growth_mb_per_h`` per service and the simulator (the RSS slope of the longest-lived process
  after its first 2 minutes); ``dlq`` entries per service;
  tick-to-order p50/p99 over the quiet windows only; the book update rate.

``--quick`` (≤ 3 min, what ``make test`` runs): fewer markets and one round of a shorter schedule.
Exit status 1 when an invariant fails.
"""

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kmm.bus import topology as t  # noqa: E402
from kmm.bus.entries import entry_message  # noqa: E402
from kmm.bus.publisher import FIELD  # noqa: E402
from kmm.kalshi.auth import Signer  # noqa: E402
from kmm.messages import DecodeError, Fill, Heartbeat, OrderAck, decode  # noqa: E402
from kmm.messages.units import fp_to_count  # noqa: E402
from kmm.ops.histogram import histogram_quantile  # noqa: E402
from kmm.runner import cli as runner  # noqa: E402
from kmm.runner.pdeathsig import preexec  # noqa: E402
from kmm.runner.redis_proc import free_port  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SERVICES = ("marketdata", "selector", "quoter", "risk", "gateway")
ROLES = (*SERVICES, "redis")
WRITE_KEY, READ_KEY = "soak-write", "soak-read"
LIMIT_CONTRACTS = 50
DEAD_MAN_S = 3.0
MEMORY_WARMUP_S = 120.0  # a process's first seconds of RSS samples, left out of its growth
COUNTED = ("rate_limit_next", "error_next", "error_after_next", "ws_seq_gaps")  # faults used up one by one


def log(text: str) -> None:
    print(f"[soak {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


# --- processes ---------------------------------------------------------------------------------


def proc_stat(pid: int) -> tuple[str, int] | None:
    """(state, ppid) of a live process, or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()
    return (fields[0], int(fields[1])) if fields[0] not in ("Z", "X") else None


def role(pid: int) -> str:
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""
    if "redis-server" in cmd:
        return "redis"
    return cmd.split(" service ")[-1].split()[0] if " service " in cmd else ""


def slope_mb_per_h(pts: list[tuple[float, float]]) -> float:
    """The least-squares slope of (seconds, MB) samples, in MB/h."""
    n = len(pts)
    mt = sum(t for t, _ in pts) / n
    mm = sum(m for _, m in pts) / n
    var = sum((t - mt) ** 2 for t, _ in pts)
    return round(sum((t - mt) * (m - mm) for t, m in pts) / var * 3600, 1) if var else 0.0


def children(ppid: int) -> dict[str, int]:
    """{role: pid} of the live children of ``ppid``."""
    out: dict[str, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            st = proc_stat(int(entry.name))
            if st is not None and st[1] == ppid:
                r = role(int(entry.name))
                if r:
                    out[r] = int(entry.name)
    return out


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


# --- histogram ---------------------------------------------------------------------------------


def histogram(text: str, name: str = "kmm_tick_to_order_seconds") -> dict[float, float]:
    out: dict[float, float] = {}
    for line in text.splitlines():
        if line.startswith(f"{name}_bucket"):
            le = line.split('le="')[1].split('"')[0]
            out[float("inf") if le == "+Inf" else float(le)] = float(line.rsplit(" ", 1)[1])
    return out


# --- the soak ----------------------------------------------------------------------------------


class Soak:
    def __init__(self, a: argparse.Namespace) -> None:
        self.a = a
        self.workdir = Path(a.workdir or tempfile.mkdtemp(prefix="kmm-soak-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.http = httpx.Client(timeout=5)
        self.sim: subprocess.Popen | None = None
        self.runner: subprocess.Popen | None = None
        self.sim_port = 0
        self.ports: dict[str, int] = {}
        self.signer: Signer | None = None
        # sampler state
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.pids_seen: dict[str, list[tuple[int, float]]] = defaultdict(list)  # role → [(pid, first seen)]
        self.rss: dict[int, list[tuple[float, float]]] = defaultdict(list)  # pid → [(t, MB)]
        self.last_heartbeat_ns = 0
        self.resting = 0
        self.unsupervised_s = 0.0
        self.unsupervised_by_fault: Counter[str] = Counter()
        self.current = "start"  # the fault in progress (or the quiet window after it)
        self.max_gap_with_resting_s = 0.0
        self.max_gap_by_fault: dict[str, float] = {}
        self.stale_samples: list[dict[str, Any]] = []  # samples that saw a stale heartbeat with orders out
        self.unconfirmed = 0  # of those, how many the second reading did not confirm
        # heartbeats carry wall-clock times: a step of the machine's clock (NTP, a resumed VM) makes the
        # newest look older or younger than it is, so steps are detected and the samples around one set aside
        self.clock_offset_ns = time.time_ns() - time.monotonic_ns()
        self.clock_steps: list[dict[str, Any]] = []
        self.step_grace_until = 0.0
        self.samples = 0
        self.sample_errors = 0
        self.report_id = "0-0"
        self.fill_ids: set[str] = set()
        self.coid_intent: dict[str, str] = {}
        self.recoveries: dict[str, list[float]] = defaultdict(list)
        self.failures: list[str] = []
        self.quiet_hist: Counter[float] = Counter()
        self.quiet_books = 0.0
        self.quiet_seconds = 0.0

    # --- start ----------------------------------------------------------------------------
    def start(self) -> None:
        keys = runner.write_key_pairs(self.workdir / "keys", {WRITE_KEY: "write", READ_KEY: "read"})
        self.signer = Signer.from_file(WRITE_KEY, keys / "write.pem")
        self.sim_port = free_port()
        ready = self.workdir / "sim.ready"
        sim_log = open(self.workdir / "sim.log", "wb")  # noqa: SIM115 - lives as long as the process
        self.sim = subprocess.Popen(
            [sys.executable, "-m", "kmm.cli", "sim", "--port", str(self.sim_port), "--seed", str(self.a.seed),
             "--markets", str(self.a.markets), "--speed", str(self.a.speed), "--tier", "prestige",
             "--balance", str(self.a.balance_dollars),
             *(["--first-close-minutes", str(self.a.close_minutes), "--close-spacing-minutes", str(self.a.close_minutes)]
               if self.a.close_minutes else []),
             "--ready-file", str(ready), "--key", f"{WRITE_KEY}:{keys / 'write.pub.pem'}",
             "--key", f"{READ_KEY}:{keys / 'read.pub.pem'}"],
            cwd=ROOT, stdout=sim_log, stderr=subprocess.STDOUT, preexec_fn=preexec())
        self.pids_seen["exchange"].append((self.sim.pid, time.monotonic()))  # sampled for memory only
        self.until(lambda: ready.exists(), 60, "the simulator listens")
        base = f"http://127.0.0.1:{self.sim_port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("KMM_") and k != "RUN_SECONDS"}
        env.update({
            "KMM_MAX_MARKETS": str(self.a.markets), "KMM_ENTER_SCORE": "0", "KMM_EXIT_SCORE": "0",
            "KMM_MIN_TRADES_PER_H": "0", "KMM_MIN_HOURS_TO_CLOSE": "0", "KMM_CLOSE_REDUCE_MIN": "0",
            "KMM_SELECT_INTERVAL_S": "2",
            "KMM_LOG_LEVEL": "WARNING", "KMM_POSITION_LIMIT_CONTRACTS": str(LIMIT_CONTRACTS),
            "KMM_MAX_POSITION_CONTRACTS": str(LIMIT_CONTRACTS), "KMM_BASE_CONTRACTS": "10",
            "KMM_DEAD_MAN_TIMEOUT_S": str(DEAD_MAN_S), "KMM_REQUEST_TIMEOUT_S": "2",
            "KMM_AMBIGUOUS_GRACE_S": "20",
        })
        ports_file = self.workdir / "ports.json"
        run_log = open(self.workdir / "run.log", "wb")  # noqa: SIM115 - lives as long as the process
        self.runner = subprocess.Popen(
            [sys.executable, "-m", "kmm.cli", "run", "--mode", "live", "--seconds", "0", "--view", "lines",
             "--workdir", str(self.workdir / "run"), "--ports-file", str(ports_file), "--tier", "prestige",
             "--kalshi-base-url", f"{base}/trade-api/v2", "--kalshi-ws-url", f"ws://127.0.0.1:{self.sim_port}/trade-api/ws/v2",
             "--key-id", WRITE_KEY, "--private-key-path", str(keys / "write.pem"),
             "--read-key-id", READ_KEY, "--read-key-path", str(keys / "read.pem")],
            cwd=ROOT, env=env, stdout=run_log, stderr=subprocess.STDOUT, preexec_fn=preexec())

        def ports_ready() -> bool:
            if self.runner is not None and self.runner.poll() is not None:
                raise SystemExit(f"kmm run exited {self.runner.returncode}; see {self.workdir / 'run.log'}")
            return ports_file.exists() and bool(json.loads(ports_file.read_text() or "{}"))

        self.until(ports_ready, 120, "every service ready")
        self.ports = {k: v for k, v in json.loads(ports_file.read_text()).items() if k in SERVICES}
        log(f"system up in {self.workdir}; waiting for quotes")
        self.until(lambda: self.resting_now() > 0, 90, "our quotes rest")

    def admin_redis(self) -> redis.Redis:
        run = self.workdir / "run"
        pw = (run / "secrets" / "admin.password").read_text().strip()
        return redis.Redis(unix_socket_path=str(run / "redis" / "redis.sock"), username="admin", password=pw,
                           socket_timeout=2, socket_connect_timeout=2)

    # --- reads --------------------------------------------------------------------------------
    def admin(self, path: str, body: dict[str, Any] | None = None) -> Any:
        """POST to the simulator's admin API (setting or clearing faults: the same again is harmless), with
        three tries of 10 s each: a simulator busy with our own load must not end the soak."""
        for attempt in range(3):
            try:
                r = self.http.post(f"http://127.0.0.1:{self.sim_port}/admin{path}", json=body or {}, timeout=10)
                r.raise_for_status()
                return r.json()
            except httpx.TransportError:
                if attempt == 2:
                    raise

    def resting_now(self) -> int:
        r = self.http.get(f"http://127.0.0.1:{self.sim_port}/admin/orders",
                          params={"user": WRITE_KEY, "status": "resting"})
        return sum(1 for o in r.json()["orders"] if o["client_order_id"].startswith("kmm-"))

    def orders(self) -> list[dict[str, Any]]:
        r = self.http.get(f"http://127.0.0.1:{self.sim_port}/admin/orders", params={"user": WRITE_KEY}, timeout=60)
        return r.json()["orders"]

    def ready(self, name: str) -> bool:
        try:
            return self.http.get(f"http://127.0.0.1:{self.ports[name]}/readyz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def pid(self, name: str) -> int | None:
        assert self.runner is not None
        return children(self.runner.pid).get(name)

    def until(self, check: Callable[[], Any], timeout: float, what: str) -> float:
        """Poll ``check`` every 0.1 s; return the seconds it took, or record a failure at the deadline."""
        start = time.monotonic()
        while True:
            try:
                if check():
                    return time.monotonic() - start
            except (httpx.HTTPError, redis.RedisError, ValueError, KeyError):
                pass
            if time.monotonic() - start > timeout:
                self.failures.append(f"not within {timeout:g}s: {what}")
                log(f"FAILED: {what}")
                return timeout
            self.stop.wait(0.1)

    # --- sampler ------------------------------------------------------------------------------
    def read_heartbeat(self, r: redis.Redis) -> bool:
        """Take risk's newest heartbeat on ``risk:control`` into ``last_heartbeat_ns``; False when Redis
        does not answer (then no live heartbeat can reach the gateway either, unless only our
        connection is broken: ``confirm`` tells the two apart)."""
        try:
            for _, fields in r.xrevrange(t.RISK_CONTROL, count=20):
                msg = decode(fields.get(FIELD, b""))
                if isinstance(msg, Heartbeat):
                    self.last_heartbeat_ns = max(self.last_heartbeat_ns, msg.ts_init)
                    break
            return True
        except (redis.RedisError, DecodeError, OSError):
            return False

    def watch_clock(self, now: float) -> None:
        """A step of the wall clock against the monotonic one: recorded, the heartbeat already read moved
        into the new frame, and the next 1.5 s of stale readings (heartbeats stamped before the step
        and read after it) not counted."""
        offset = time.time_ns() - time.monotonic_ns()
        step = offset - self.clock_offset_ns
        if abs(step) > 500_000_000:
            self.clock_steps.append({"at": time.strftime("%H:%M:%S", time.gmtime()), "step_s": round(step / 1e9, 2)})
            log(f"the machine's wall clock stepped {step / 1e9:+.2f} s")
            if self.last_heartbeat_ns:
                self.last_heartbeat_ns += step
            self.step_grace_until = now + 1.5
        self.clock_offset_ns = offset

    def gap_s(self, at_ns: int) -> float:
        return (at_ns - self.last_heartbeat_ns) / 1e9 if self.last_heartbeat_ns else 0.0

    def confirm(self, r: redis.Redis) -> tuple[bool, dict[str, Any]]:
        """A sample saw our orders resting with risk's heartbeat too old: read both again, on a new Redis
        connection. Counted only when the second reading agrees; a sampler whose own read failed or
        stalled (a connection broken by a Redis restart that the services have already got past) is
        then told apart from a gateway that keeps orders out unsupervised."""
        r.connection_pool.disconnect()
        started = time.monotonic()
        try:
            resting = self.resting_now()
        except (httpx.HTTPError, ValueError, KeyError):
            resting = -1
        at = time.time_ns()
        read_ok = self.read_heartbeat(r)
        gap = self.gap_s(at)
        unsupervised = resting != 0 and gap > DEAD_MAN_S + self.a.cancel_allowance
        return unsupervised, {"resting": resting, "gap_s": round(gap, 2), "heartbeat_read": read_ok,
                              "read_s": round(time.monotonic() - started, 2)}

    def sample_loop(self) -> None:
        r = self.admin_redis()
        last = time.monotonic()
        last_mem = 0.0
        while not self.stop.wait(0.25):
            now = time.monotonic()
            dt, last = now - last, now
            try:
                resting = self.resting_now()
            except (httpx.HTTPError, ValueError, KeyError):
                self.sample_errors += 1
                continue
            at = time.time_ns()  # the orders rested no later than this: the gap is measured here
            self.watch_clock(now)
            read_ok = self.read_heartbeat(r)
            if not read_ok:
                self.sample_errors += 1  # Redis down: no live heartbeat can arrive either
            with contextlib.suppress(redis.RedisError, DecodeError, OSError):
                self.read_reports(r)
            gap = self.gap_s(at)
            over = bool(resting) and gap > DEAD_MAN_S + self.a.cancel_allowance
            detail: dict[str, Any] = {}
            if over:
                first = {"resting": resting, "gap_s": round(gap, 2), "heartbeat_read": read_ok,
                         "pass_s": round(time.monotonic() - now, 2)}
                over, again = self.confirm(r)
                stepped = now < self.step_grace_until
                if not over or stepped:  # the second reading stands for this sample
                    gap = again["gap_s"] if again["resting"] and not stepped else 0.0
                    over = False
                detail = {"at": time.strftime("%H:%M:%S", time.gmtime(at / 1e9)), "fault": self.current,
                          "first": first, "again": again, "counted": over,
                          **({"clock_stepped": True} if stepped else {})}
            with self.lock:
                self.resting = resting
                self.samples += 1
                if detail and len(self.stale_samples) < 50:
                    self.stale_samples.append(detail)
                if resting:
                    self.max_gap_with_resting_s = max(self.max_gap_with_resting_s, gap)
                    self.max_gap_by_fault[self.current] = max(self.max_gap_by_fault.get(self.current, 0.0), gap)
                    if over:
                        self.unsupervised_s += dt
                        self.unsupervised_by_fault[self.current] += dt
                    elif detail:
                        self.unconfirmed += 1
            if self.runner is not None and self.runner.poll() is None:
                kids = children(self.runner.pid)
                for name, pid in kids.items():
                    seen = self.pids_seen[name]
                    if not seen or seen[-1][0] != pid:
                        seen.append((pid, now))
                if now - last_mem >= 5:
                    last_mem = now
                    sim = [self.sim.pid] if self.sim is not None and self.sim.poll() is None else []
                    for pid in [*kids.values(), *sim]:
                        mb = rss_mb(pid)
                        if mb is not None:
                            self.rss[pid].append((now, mb))

    def read_reports(self, r: redis.Redis) -> None:
        """Every Fill and OrderAck the gateway reported, read incrementally (trimming cannot hide one)."""
        while True:
            got = r.xread({t.EXEC_REPORT: self.report_id}, count=5000)
            if not got:
                return
            entries = got[0][1]
            for _eid, fields in entries:
                msg = entry_message(fields)
                if msg is None:
                    continue
                if isinstance(msg, Fill):
                    self.fill_ids.add(msg.fill_id)
                elif isinstance(msg, OrderAck) and msg.intent_id != "adopted":
                    self.coid_intent[msg.client_order_id] = msg.intent_id
            self.report_id = entries[-1][0].decode()
            if len(entries) < 5000:
                return

    # --- faults -------------------------------------------------------------------------------
    def recovered(self) -> bool:
        with self.lock:
            resting = self.resting
        return resting > 0 and all(self.ready(n) for n in SERVICES)

    def fault(self, name: str, act: Callable[[], None]) -> None:
        log(f"fault: {name}")
        self.current = name
        try:
            act()  # returns when the fault has ended
        except httpx.HTTPError as exc:  # the simulator's admin API did not answer: a finding, not a crash
            self.failures.append(f"{name}: the simulator's admin API failed ({type(exc).__name__})")
            log(f"FAILED: {name}: the simulator's admin API failed ({type(exc).__name__})")
            with contextlib.suppress(httpx.HTTPError):
                self.admin("/faults/reset")
        took = self.until(self.recovered, self.a.recovery_timeout, f"recovery after {name}")
        self.recoveries[name].append(round(took, 2))
        log(f"  recovered in {took:.2f}s")

    def exchange_fault(self, body: dict[str, Any], hold: float = 0.0) -> Callable[[], None]:
        def act() -> None:
            self.admin("/faults", body)
            if hold:
                self.stop.wait(hold)
                self.admin("/faults/reset")
            else:
                self.until(lambda: not any(self.admin_state()["faults"].get(k) for k in COUNTED if k in body),
                           60, f"fault {body} consumed")
                self.admin("/faults/reset")
        return act

    def admin_state(self) -> dict[str, Any]:
        return self.http.get(f"http://127.0.0.1:{self.sim_port}/admin/state").json()

    def kill9(self, name: str) -> Callable[[], None]:
        def act() -> None:
            pid = self.pid(name)
            if pid is None:
                self.failures.append(f"{name} not running before its kill")
                return
            os.kill(pid, signal.SIGKILL)
            self.until(lambda: self.pid(name) not in (None, pid), 60, f"{name} restarted after kill -9")
        return act

    def sigstop(self, name: str, hold: float) -> Callable[[], None]:
        def act() -> None:
            pid = self.pid(name)
            if pid is None:
                self.failures.append(f"{name} not running before its SIGSTOP")
                return
            os.kill(pid, signal.SIGSTOP)
            try:
                self.stop.wait(hold)
            finally:
                os.kill(pid, signal.SIGCONT)
        return act

    def gateway_restart_while_risk_stopped(self) -> None:
        risk = self.pid("risk")
        gateway = self.pid("gateway")
        if risk is None or gateway is None:
            self.failures.append("risk or gateway not running before the gateway-restart fault")
            return
        os.kill(risk, signal.SIGSTOP)
        try:
            os.kill(gateway, signal.SIGKILL)
            self.until(lambda: self.pid("gateway") not in (None, gateway) and self.ready("gateway"), 60,
                       "the gateway restarted while risk is stopped")
            self.stop.wait(DEAD_MAN_S + 2)  # the restarted gateway must not trade unsupervised meanwhile
        finally:
            os.kill(risk, signal.SIGCONT)

    def schedule(self) -> list[tuple[str, Callable[[], None]]]:
        order_paths = ["/portfolio"]
        ex = [
            ("429 burst", self.exchange_fault({"rate_limit_next": 40, "paths": order_paths})),
            ("5xx burst", self.exchange_fault({"error_next": 30, "error_status": 503, "paths": order_paths})),
            ("2 s latency spike", self.exchange_fault({"latency_ms": 2000}, hold=10)),
            ("WS drop", self.exchange_fault({"drop_ws": True}, hold=0.5)),
            ("seq gaps", self.exchange_fault({"ws_seq_gaps": 5})),
            ("exchange pause", self.exchange_fault({"paused": True}, hold=5)),
            ("redis kill -9", self.kill9("redis")),
        ]
        if self.a.quick:
            return [*ex, ("kill -9 gateway", self.kill9("gateway")), ("kill -9 risk", self.kill9("risk")),
                    ("SIGSTOP risk", self.sigstop("risk", DEAD_MAN_S + 3)),
                    ("gateway restart while risk is stopped", self.gateway_restart_while_risk_stopped)]
        kills = [(f"kill -9 {n}", self.kill9(n)) for n in SERVICES]
        stops = [(f"SIGSTOP {n}", self.sigstop(n, DEAD_MAN_S + 3)) for n in (*SERVICES, "redis")]
        return [*ex, *kills, *stops, ("gateway restart while risk is stopped", self.gateway_restart_while_risk_stopped)]

    def quiet(self, seconds: float) -> None:
        """A window without faults: tick-to-order and the book rate are measured here."""
        gw, md = self.pid("gateway"), self.pid("marketdata")
        try:
            h0 = histogram(self.http.get(f"http://127.0.0.1:{self.ports['gateway']}/metrics").text)
            b0 = self.http.get(f"http://127.0.0.1:{self.ports['marketdata']}/status").json()["books_published"]
        except (httpx.HTTPError, ValueError, KeyError):
            self.stop.wait(seconds)
            return
        t0 = time.monotonic()
        self.stop.wait(seconds)
        try:
            h1 = histogram(self.http.get(f"http://127.0.0.1:{self.ports['gateway']}/metrics").text)
            b1 = self.http.get(f"http://127.0.0.1:{self.ports['marketdata']}/status").json()["books_published"]
        except (httpx.HTTPError, ValueError, KeyError):
            return
        if self.pid("gateway") == gw:
            for le, c in h1.items():
                self.quiet_hist[le] += c - h0.get(le, 0.0)
        if self.pid("marketdata") == md and b1 >= b0:
            self.quiet_books += b1 - b0
            self.quiet_seconds += time.monotonic() - t0

    # --- end ----------------------------------------------------------------------------------
    def exchange_fills(self) -> list[Any]:
        import asyncio

        from kmm.kalshi.rest import KalshiRest

        async def go() -> list[Any]:
            async with KalshiRest(f"http://127.0.0.1:{self.sim_port}/trade-api/v2", signer=self.signer) as api:
                return [f async for f in api.iter_fills()]

        return asyncio.run(go())

    def check_fills(self) -> dict[str, int]:
        fills = self.exchange_fills()
        per_market = Counter(f.ticker for f in fills)
        risk_port = self.ports["risk"]
        out = {"exchange_fills": len(fills), "fills_lost": 0, "fills_double_counted": 0}

        def compare() -> bool:
            applied = self.http.get(f"http://127.0.0.1:{risk_port}/state").json().get("fills_applied", {})
            out["fills_lost"] = sum(max(0, n - int(applied.get(m, 0))) for m, n in per_market.items())
            out["fills_double_counted"] = sum(max(0, int(n) - per_market.get(m, 0)) for m, n in applied.items())
            return out["fills_lost"] == 0 and out["fills_double_counted"] == 0

        self.until(compare, 60, "risk applied every exchange fill, once")
        from kmm_services.gateway.service import fill_key

        self.read_reports(self.admin_redis())
        out["fills_not_reported"] = sum(1 for f in fills if fill_key(f) not in self.fill_ids)
        return out

    def operator(self, path: str) -> None:
        token = (self.workdir / "run" / "secrets" / "admin.token").read_text().strip()
        r = self.http.post(f"http://127.0.0.1:{self.ports['risk']}{path}", json={"reason": "soak ledger check"},
                           headers={"Authorization": f"Bearer {token}"})
        r.raise_for_status()

    def check_ledger(self) -> dict[str, Any]:
        """Halted (no fill can arrive), risk's cash — kept across its restarts in ``state:risk`` — must equal
        the exchange's balance change to the micro-dollar (fills, fees and settlement payouts included; the
        exchange holds $1 per short contract as the price of the NO side)."""
        import asyncio

        from kmm.kalshi.rest import KalshiRest
        from kmm.messages.units import money_to_dollars
        from kmm.risk.engine import cash_from_exchange

        async def balance() -> int:
            async with KalshiRest(f"http://127.0.0.1:{self.sim_port}/trade-api/v2", signer=self.signer) as api:
                return (await api.get_balance()).balance

        start = self.a.balance_dollars * 1_000_000
        out: dict[str, Any] = {}

        def agree() -> bool:
            saved = self.admin_redis().hget(t.state_key("risk"), "global")
            cash = int(json.loads(saved or b"{}").get("cash", 0))
            rows = self.http.get(f"http://127.0.0.1:{self.sim_port}/admin/positions", params={"user": WRITE_KEY},
                                 timeout=30).json()["positions"]
            held = [fp_to_count(p["position_fp"]) for p in rows]
            out.update(risk_cash_dollars=money_to_dollars(cash, 6),
                       exchange_cash_dollars=money_to_dollars(cash_from_exchange(asyncio.run(balance()) - start,
                                                                                 held), 6))
            return out["risk_cash_dollars"] == out["exchange_cash_dollars"]

        out["ledger_agrees"] = self.until(agree, 60, "risk's cash equals the exchange's balance change") < 60
        if not out["ledger_agrees"]:
            out["ledger_mismatch"] = self.ledger_by_market()
        return out

    def ledger_by_market(self) -> dict[str, list[str]]:
        """Per market: [risk's cash, the cash the exchange's fills and settlements imply] where they differ."""
        import asyncio

        from kmm.kalshi.rest import KalshiRest
        from kmm.messages.units import money_to_dollars

        async def read() -> tuple[list[Any], list[Any]]:
            async with KalshiRest(f"http://127.0.0.1:{self.sim_port}/trade-api/v2", signer=self.signer) as api:
                return [f async for f in api.iter_fills()], [s async for s in api.iter_settlements()]

        fills, settlements = asyncio.run(read())
        exchange: Counter[str] = Counter()
        for f in fills:
            exchange[f.ticker] += (-1 if f.side == "bid" else 1) * f.price * f.count - f.fee
        for st in settlements:
            exchange[st.ticker] += st.revenue
        saved = self.admin_redis().hgetall(t.state_key("risk"))
        risk = {k.decode()[2:]: int(json.loads(v).get("cash", 0)) for k, v in saved.items() if k.startswith(b"m:")}
        return {m: [money_to_dollars(risk.get(m, 0), 6), money_to_dollars(exchange.get(m, 0), 6)]
                for m in sorted(set(risk) | set(exchange)) if risk.get(m, 0) != exchange.get(m, 0)}

    def check_orders(self, orders: list[dict[str, Any]]) -> dict[str, int]:
        coids = Counter(o["client_order_id"] for o in orders if o["client_order_id"])
        per_intent: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for o in orders:
            intent = self.coid_intent.get(o["client_order_id"])
            if intent:
                per_intent[(intent, o["side"])].append(o)
        overlaps = 0
        for placed in per_intent.values():
            placed.sort(key=lambda o: o["created_ts_ms"])
            for x, y in zip(placed, placed[1:], strict=False):
                if x["status"] == "resting" or y["created_ts_ms"] < x["last_updated_ts_ms"]:
                    overlaps += 1
        return {"orders": len(orders), "intents_placed_twice": overlaps,
                "client_order_ids_reused": sum(1 for n in coids.values() if n > 1)}

    def kill_runner(self) -> dict[str, Any]:
        """SIGKILL ``kmm run``: every child must exit and nothing may keep trading."""
        assert self.runner is not None
        kids = children(self.runner.pid)
        self.runner.send_signal(signal.SIGKILL)
        self.runner.wait(10)
        gone = self.until(lambda: not [p for p in kids.values() if proc_stat(p) is not None], 30,
                          "every child of the killed runner exits")
        left = sorted(n for n, p in kids.items() if proc_stat(p) is not None)
        for p in kids.values():
            with contextlib.suppress(ProcessLookupError):
                if proc_stat(p) is not None:
                    os.kill(p, signal.SIGKILL)
        resting = self.resting_now()
        count0 = len(self.orders())
        self.stop.wait(5)
        new_orders = len(self.orders()) - count0
        return {"children_exited_s": round(gone, 2), "children_left": left, "resting_after": resting,
                "orders_created_after": new_orders}

    def memory_growth(self) -> dict[str, float | None]:
        """MB/h per role: the least-squares slope of its longest-lived process's RSS, leaving out that
        process's first ``MEMORY_WARMUP_S`` (imports, the numba core, caches filling: a restarted
        process grows by tens of MB in its first minute, which over a short life read as GB/h)."""
        out: dict[str, float | None] = {}
        for name, seen in self.pids_seen.items():
            best: list[tuple[float, float]] = []
            for pid, first in seen:
                pts = [p for p in self.rss.get(pid, []) if p[0] - first >= MEMORY_WARMUP_S]
                if len(pts) > len(best):
                    best = pts
            out[name] = slope_mb_per_h(best) if len(best) >= 3 and best[-1][0] - best[0][0] >= 60 else None
        return out

    def run(self) -> dict[str, Any]:
        started = time.monotonic()
        self.start()
        sampler = threading.Thread(target=self.sample_loop, daemon=True)
        sampler.start()
        faults = self.schedule()
        rounds = 0
        i = 0
        while True:
            self.quiet(self.a.quiet)
            name, act = faults[i % len(faults)]
            self.fault(name, act)
            i += 1
            if i % len(faults) == 0:
                rounds += 1
                if self.a.quick:
                    break
            if not self.a.quick and time.monotonic() - started >= self.a.seconds:
                break
        self.quiet(self.a.quiet)
        self.operator("/halt")  # the figures are read with nothing trading; resumed before the runner kill
        self.until(lambda: self.resting_now() == 0, 30, "the halt cancels every order")
        fills = self.check_fills()
        ledger = self.check_ledger()
        orders = self.check_orders(self.orders())
        positions = self.http.get(f"http://127.0.0.1:{self.sim_port}/admin/positions",
                                  params={"user": WRITE_KEY}, timeout=30).json()["positions"]
        worst = max((fp_to_count(p["max_abs_position_fp"]) for p in positions), default=0)
        r = self.admin_redis()
        dlq = {n: int(r.xlen(t.dlq_stream(n))) for n in SERVICES}
        restarts = {n: max(0, len(self.pids_seen.get(n, [])) - 1) for n in ROLES}
        memory = self.memory_growth()
        self.stop.set()
        sampler.join(5)
        self.stop.clear()
        self.operator("/resume")
        self.until(lambda: self.resting_now() > 0, 90, "quotes rest again after the resume")
        runner_kill = self.kill_runner()
        p50, p99 = histogram_quantile(self.quiet_hist, 0.5), histogram_quantile(self.quiet_hist, 0.99)
        limit = LIMIT_CONTRACTS * 100
        result = {
            "bench": "soak",
            "quick": bool(self.a.quick),
            "seconds": round(time.monotonic() - started, 1),
            "markets": self.a.markets,
            "book_updates_per_s": round(self.quiet_books / self.quiet_seconds, 1) if self.quiet_seconds else None,
            "faults": i,
            "rounds": rounds,
            **fills,
            **ledger,
            "orders_placed_twice": orders["intents_placed_twice"] + orders["client_order_ids_reused"],
            **orders,
            "max_abs_position_over_limit": round(worst / limit, 3),
            "close_minutes": self.a.close_minutes,
            "markets_settled": sum(1 for p in positions if p.get("settled") and fp_to_count(p["volume_fp"])),
            "unsupervised_resting_s": round(self.unsupervised_s, 2),
            "max_heartbeat_gap_with_resting_s": round(self.max_gap_with_resting_s, 2),
            "max_heartbeat_gap_with_resting_by_fault_s": {k: round(v, 2) for k, v in self.max_gap_by_fault.items()},
            "unsupervised_resting_by_fault_s": {k: round(v, 2) for k, v in self.unsupervised_by_fault.items()},
            "stale_samples_unconfirmed": self.unconfirmed,
            "clock_steps": self.clock_steps,
            "stale_samples": self.stale_samples,
            "recovery_s": dict(self.recoveries),
            "recovery_max_s": {k: max(v) for k, v in self.recoveries.items()},
            "restarts": restarts,
            "memory_growth_mb_per_h": memory,
            "dlq": dlq,
            "tick_to_order_p50_ms_quiet": round(p50 * 1000, 3) if p50 is not None else None,
            "tick_to_order_p99_ms_quiet": round(p99 * 1000, 3) if p99 is not None else None,
            "orders_in_quiet_windows": int(self.quiet_hist.get(float("inf"), 0)),
            "runner_kill": runner_kill,
            "samples": self.samples,
            "sample_errors": self.sample_errors,
            "failures": self.failures,
            "workdir": str(self.workdir),
        }
        result["invariants_ok"] = (
            result["fills_lost"] == 0 and result["fills_double_counted"] == 0 and result["ledger_agrees"]
            and result["orders_placed_twice"] == 0 and result["max_abs_position_over_limit"] <= 1
            and result["unsupervised_resting_s"] == 0 and not runner_kill["children_left"]
            and runner_kill["resting_after"] == 0 and runner_kill["orders_created_after"] == 0
            and not self.failures
        )
        return result

    def close(self) -> None:
        self.stop.set()
        for p in (self.runner, self.sim):
            if p is not None and p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(10)
        self.http.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=1800.0, help="length of the fault loop (default 30 min)")
    ap.add_argument("--quick", action="store_true", help="one round of a short schedule (≤ 3 min)")
    ap.add_argument("--markets", type=int, default=None, help="default 200 (quick: 60)")
    ap.add_argument("--speed", type=float, default=None,
                    help="simulator flow speed (default 2.8: about 1,000 book updates/s at 200 markets)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--quiet", type=float, default=None, help="seconds of quiet before each fault (default 20; quick 4)")
    ap.add_argument("--recovery-timeout", type=float, default=90.0)
    ap.add_argument("--cancel-allowance", type=float, default=1.5,
                    help="seconds past the dead-man timeout allowed for the cancel round trip and sampling")
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--balance-dollars", type=int, default=10_000, help="the simulator's starting balance")
    ap.add_argument("--close-minutes", type=float, default=None,
                    help="virtual minutes to the simulator's first event close and between closes; each settles "
                         "an event's markets and lists a new event (default 10: a 20-minute soak at speed 2.8 "
                         "sees about 5; quick: 0, none)")
    a = ap.parse_args()
    a.markets = a.markets or (60 if a.quick else 200)
    a.speed = a.speed or 2.8
    a.close_minutes = a.close_minutes if a.close_minutes is not None else (0.0 if a.quick else 10.0)
    a.quiet = a.quiet if a.quiet is not None else (4.0 if a.quick else 20.0)
    soak = Soak(a)
    try:
        result = soak.run()
    finally:
        soak.close()
    print(json.dumps(result))
    sys.exit(0 if result["invariants_ok"] else 1)


if __name__ == "__main__":
    main()
