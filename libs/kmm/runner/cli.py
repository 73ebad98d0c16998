"""``kmm run``: the whole system on this machine — what ``make run`` calls.

Steps: a private ``redis-server`` on a unix socket in the workdir with the generated ACL file and
an AOF (or ``REDIS_URL``), itself a supervised child (killed → restarted on the same socket and
directory, so the AOF reloads); consumer-group bootstrap; the exchange simulator with synthetic
markets (mode ``sim``); then the five services as processes under a supervisor that restarts
crashed ones with backoff. Every child gets SIGTERM if the runner dies (``PR_SET_PDEATHSIG``) and
every service also watches ``KMM_PARENT_PID``. An operator token is written to
``<workdir>/secrets/admin.token`` (0600) and given to every service (``KMM_ADMIN_TOKEN_FILE``). A
live status view runs until Ctrl-C, SIGTERM, SIGHUP or ``RUN_SECONDS``; then everything stops in
order and a summary is printed (and written as JSON with ``--summary-json``).

Before anything starts, every service's settings are checked as ``kmm config check`` does
(:func:`kmm.ops.config_cmd.service_problems`, with the environment the runner gives each service):
a bad one refuses the run with exit 2, one line per setting. A service that still exits 2 (its
"bad configuration" exit, e.g. the config file was edited during the run) is not restarted: the
run stops, saying which service and where its log is, and exits 1.

Modes: ``sim`` (default; trades against the local simulator), ``dry-run`` (the gateway sends
nothing), ``live`` (Kalshi demo or production: only the base URLs and key files differ).
"""

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from kmm.backtest.recorder import SessionJournal
from kmm.bus import acl
from kmm.bus.bootstrap import bootstrap
from kmm.bus.connection import connect
from kmm.bus.topology import SERVICES
from kmm.chassis.config import CONFIG_ENV, ConfigError, load_config
from kmm.chassis.stall import EXIT_STALLED
from kmm.kalshi.auth import Signer, generate_private_pem
from kmm.ops import snapshot
from kmm.ops.target import OpsClient, Target

from . import discovery
from .console import QUIT, LiveConsole
from .discovery import RunInfo
from .liveness import Watchdog, livez, redis_ping
from .redis_proc import RedisStartError, free_port, redis_argv, redis_server_binary, wait_until_up
from .supervisor import FIRST_BACKOFF_S, ProcSpec, Supervisor
from .view import collect, fetch

STOP_ORDER = ["quoter", "selector", "marketdata", "risk", "gateway", "exchange", "redis"]
WRITE_KEY_ID = "kmm-local-write"
READ_KEY_ID = "kmm-local-read"
# While the gateway is down nobody can cancel our resting orders (only it holds the key), and a gateway
# restarted while risk is silent must cancel them within the dead-man timeout: it is restarted sooner.
FIRST_BACKOFF_S_BY_SERVICE = {"gateway": 0.1}
BAD_CONFIG_EXIT = 2  # a service's exit for a bad setting (kmm.chassis.settings.fail): a restart would repeat it
SERVICE_EXITS = {EXIT_STALLED: "its event loop hung: the stack is in its log"}  # kmm.chassis.stall
# Stand-ins for what the runner decides only as it starts things (the socket, the simulator's port), so
# the settings check before the start sees every variable the runner sets (see settings_problems).
PENDING_REST, PENDING_WS = "http://127.0.0.1/trade-api/v2", "ws://127.0.0.1/trade-api/ws/v2"


class OptionError(ValueError):
    """A bad ``kmm run`` option from the environment or the config file: names it and the type, not the value."""


def _bool(text: str) -> bool:
    low = str(text).strip().lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off"):
        return False
    raise ValueError("not a boolean")


def _seconds(text: str) -> float:
    value = float(text)
    if not value >= 0:  # negative or NaN
        raise ValueError("not a number of seconds")
    return value


_seconds.__name__ = "seconds (>= 0)"  # argparse names the type in its message


def _minutes(text: str) -> float:
    value = float(text)
    if not (value > 0 and value != float("inf")):  # zero, negative, NaN or infinite
        raise ValueError("not a number of minutes")
    return value


_minutes.__name__ = "minutes (> 0)"


def _mebibytes(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError("not a size in MiB")
    return value


_mebibytes.__name__ = "MiB (a whole number >= 0)"


@dataclass(frozen=True)
class Option:
    """One ``kmm run`` option: its flag, the environment variable and ``[run]`` key that also set it."""

    dest: str
    type: Callable[[str], Any]
    default: Any
    help: str
    env: str = ""
    choices: tuple[str, ...] = ()


OPTIONS: tuple[Option, ...] = (
    Option("mode", str, "sim", "sim (the local simulator), dry-run (the gateway sends nothing) or live", "KMM_MODE",
           ("sim", "dry-run", "live")),
    Option("seconds", float, 0.0, "stop after this many seconds (0: until Ctrl-C or q)", "RUN_SECONDS"),
    Option("summary_json", Path, None, "write the summary here as JSON"),
    Option("ports_file", Path, None, "write {service: http_port} as JSON once every service is ready"),
    Option("workdir", Path, None, "keep logs, secrets and the session recording here (default: a temp dir)"),
    Option("redis_url", str, None, "use this Redis (ACL file already loaded) instead of a private one", "REDIS_URL"),
    Option("markets", int, 12, "synthetic markets in the simulator", "KMM_SIM_MARKETS"),
    Option("seed", int, 1, "simulator scenario seed", "KMM_SIM_SEED"),
    Option("speed", float, 5.0, "simulator clock speed (5: a short run sees a realistic hour compressed)",
           "KMM_SIM_SPEED"),
    Option("history_hours", float, None, "virtual hours of public trades and candles the simulator keeps "
           "(unset: kmm sim's default, 24; 0: all)", "KMM_SIM_HISTORY_HOURS"),
    Option("first_close_minutes", _minutes, None, "virtual minutes until the simulator's first event closes and "
           "settles (unset: kmm sim's default, 390)", "KMM_SIM_FIRST_CLOSE_MINUTES"),
    Option("close_spacing_minutes", _minutes, None, "virtual minutes between the simulator's event closes, each "
           "rolling in a new event (unset: kmm sim's default, 60)", "KMM_SIM_CLOSE_SPACING_MINUTES"),
    Option("tier", str, "basic", "Kalshi rate-limit tier the simulator enforces and the gateway budgets for",
           "KMM_KALSHI_TIER"),
    Option("kalshi_base_url", str, None, "live: Kalshi REST base URL", "KMM_KALSHI_BASE_URL"),
    Option("kalshi_ws_url", str, None, "live: Kalshi WebSocket URL", "KMM_KALSHI_WS_URL"),
    Option("key_id", str, None, "live: the write key's id", "KMM_KALSHI_KEY_ID"),
    Option("private_key_path", str, None, "live: the write key's PEM file", "KMM_KALSHI_PRIVATE_KEY_PATH"),
    Option("read_key_id", str, None, "live: the read-only key's id", "KMM_KALSHI_READ_KEY_ID"),
    Option("read_key_path", str, None, "live: the read-only key's PEM file", "KMM_KALSHI_READ_KEY_PATH"),
    Option("view", str, "auto", "console on a terminal, plain lines otherwise (auto), or force one", "",
           ("auto", "table", "lines")),
    Option("record", _bool, True, "keep md:* and exec:report as <workdir>/session.npz and fills.csv", "KMM_RECORD"),
    Option("record_max_mb", _mebibytes, 128, "keep at most this much recorded market data, the latest "
           "(every execution report is kept; 0: no cap, the recording grows with the run)", "KMM_RECORD_MAX_MB"),
    Option("liveness_s", _seconds, 30.0, "kill (so the runner restarts it) a service whose /livez, or the runner's "
           "Redis, has answered nothing for this many seconds (0: never)", "KMM_LIVENESS_S"),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    for o in OPTIONS:
        flag = "--" + o.dest.replace("_", "-")
        src = f"; env {o.env}" if o.env else ""
        if o.type is _bool:
            parser.add_argument(flag, dest=o.dest, action=argparse.BooleanOptionalAction, default=None,
                                help=f"{o.help} (default {o.default}{src}; [run] {o.dest})")
            continue
        parser.add_argument(flag, dest=o.dest, type=o.type, default=None, choices=o.choices or None,
                            help=f"{o.help} (default {o.default}{src}; [run] {o.dest})")
    parser.add_argument("--config", type=Path, default=None,
                        help="the config file (TOML) for the runner and every service; env KMM_CONFIG")


def resolve_options(args: argparse.Namespace, report: bool = True) -> dict[str, str]:
    """Fill every unset option from its environment variable, the config file's ``[run]`` table or its
    default (in that order; a flag wins over all); returns each option's source. Idempotent. A bad
    option or config file prints one line naming it and exits 2 (``report=False``: raises OptionError
    or ConfigError instead)."""
    if getattr(args, "_sources", None) is not None:
        return args._sources
    if getattr(args, "config", None):
        os.environ[CONFIG_ENV] = str(Path(args.config).resolve())  # every child reads the same file
    try:
        return _resolve(args)
    except (ConfigError, OptionError) as exc:
        if not report:
            raise
        print(f"kmm run: {'invalid config: ' if isinstance(exc, ConfigError) else ''}{exc}", file=sys.stderr)
        raise SystemExit(2) from None


def _resolve(args: argparse.Namespace) -> dict[str, str]:
    cfg = load_config()
    if cfg:
        cfg.check_keys("run", {o.dest for o in OPTIONS}, " (not a kmm run option)")
    table = cfg.table("run") if cfg else {}
    sources: dict[str, str] = {}
    for o in OPTIONS:
        value, source = getattr(args, o.dest, None), "flag"
        if value is None and o.env and os.environ.get(o.env):
            value, source = _convert(o, os.environ[o.env], f"env {o.env}"), f"env {o.env}"
        if value is None and o.dest in table and cfg is not None:
            where = cfg.where("run", o.dest)
            value, source = _convert(o, table[o.dest], where), where
        if value is None:
            value, source = o.default, "default"
        setattr(args, o.dest, value)
        sources[o.dest] = source
    args._sources = sources
    return sources


TYPE_NAMES: dict[Callable[[str], Any], str] = {
    float: "a number", _seconds: "a number of seconds >= 0", _mebibytes: "a whole number of MiB >= 0",
    _minutes: "a number of minutes > 0",
    int: "a whole number", _bool: "true or false", Path: "a path", str: "text"}


def _convert(o: Option, raw: Any, where: str) -> Any:
    """A value from the environment or the file as the option's type; OptionError naming the option and
    what it takes (never the value: the conversion's own message quotes it)."""
    expected = f"must be one of {', '.join(o.choices)}" if o.choices else f"expected {TYPE_NAMES.get(o.type, 'a value')}"
    try:
        if isinstance(raw, bool) and o.type is _bool:
            value: Any = raw
        elif isinstance(raw, dict | list) or (isinstance(raw, bool) and o.type is not _bool):
            raise ValueError
        else:
            value = o.type(str(raw)) if o.type is not str else str(raw)
        if o.choices and value not in o.choices:
            raise ValueError
    except ValueError:
        raise OptionError(f"invalid setting {o.dest} ({where}): {expected}") from None
    return value


def simulator_argv(args: argparse.Namespace, port: int, keys: Path, ready: Path) -> list[str]:
    """``kmm sim``'s command line for this run: its options, the two keys' public halves in ``keys``, and
    ``ready``, the file it writes once it listens."""
    optional = {"--history-hours": args.history_hours, "--first-close-minutes": args.first_close_minutes,
                "--close-spacing-minutes": args.close_spacing_minutes}
    return [sys.executable, "-m", "kmm.cli", "sim", "--port", str(port), "--seed", str(args.seed),
            "--markets", str(args.markets), "--speed", str(args.speed), "--ready-file", str(ready), "--tier", args.tier,
            *[x for flag, value in optional.items() if value is not None for x in (flag, str(value))],
            "--key", f"{WRITE_KEY_ID}:{keys / 'write.pub.pem'}", "--key", f"{READ_KEY_ID}:{keys / 'read.pub.pem'}"]


class Run:
    def __init__(self, args: argparse.Namespace) -> None:
        resolve_options(args)
        self.args = args
        self.workdir = args.workdir or Path(tempfile.mkdtemp(prefix="kmm-run-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.secrets = self.workdir / "secrets"
        self.admin_token_file = self.secrets / "admin.token"
        self.sup = Supervisor(self.workdir / "logs")
        self.redis_url = args.redis_url
        self.events: list[str] = []
        self.started = time.monotonic()
        self.base_url = self.ws_url = ""
        self.journal: SessionJournal | None = None
        self.published = False
        self.resting_after_stop: int | None = None
        self.venue_positions: list[dict[str, Any]] | None = None
        self.before_stop: dict[str, dict[str, Any]] = {}
        self.venue_lost = False
        self.misconfigured = ""  # a service that exited BAD_CONFIG_EXIT: the run stopped for it
        self.watchdog: Watchdog | None = None

    def say(self, text: str) -> None:
        if self._console is not None:  # the console owns the screen: show it there
            self._console.note(text)
            return
        try:
            print(f"[kmm run {time.monotonic() - self.started:6.1f}s] {text}", flush=True)
        except OSError:  # the terminal is gone (SIGHUP): keep stopping cleanly
            pass

    # --- setup ------------------------------------------------------------------------------
    def start_redis(self) -> None:
        aclfile = acl.write_acl(self.secrets / "users.acl", self.secrets)
        self.write_admin_token()
        if self.redis_url:
            self.say(f"using Redis at {self.redis_url}")
            return
        binary = redis_server_binary()
        if binary is None:
            raise SystemExit("redis-server is not on PATH (make system-deps, or apt-get install redis-server)")
        admin = (self.secrets / "admin.password").read_text().strip()
        d = self.workdir / "redis"
        if self.args.mode != "live" and d.exists():
            # A new simulator session: a bus left by an earlier run in this workdir would be stale.
            shutil.rmtree(d)
        d.mkdir(parents=True, exist_ok=True)
        argv = redis_argv(binary, d, aclfile=aclfile, appendonly=True, appendfsync="everysec")
        self.sup.add(ProcSpec("redis", argv))
        self.redis_url = f"unix://{d / 'redis.sock'}"
        try:
            wait_until_up(self.redis_url, "admin", admin, 30, alive=lambda: self.sup.alive("redis"))
        except RedisStartError as exc:
            raise SystemExit(f"{exc}; see {d / 'redis.log'}") from None
        self.say(f"redis-server on {self.redis_url} (AOF in {d}, ACL file {aclfile})")

    def write_admin_token(self) -> None:
        """The operator token (0600), created once per workdir; its value is never printed."""
        self.secrets.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            fd = os.open(self.admin_token_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(32) + "\n")

    def bootstrap(self) -> None:
        async def go() -> int:
            r = connect(self.redis_url, "admin", (self.secrets / "admin.password").read_text().strip())
            try:
                return len(await bootstrap(r))
            finally:
                await r.aclose()

        self.say(f"consumer groups bootstrapped ({asyncio.run(go())} created)")

    def start_simulator(self) -> tuple[str, str]:
        keys = write_key_pairs(self.workdir / "keys", {WRITE_KEY_ID: "write", READ_KEY_ID: "read"})
        port = free_port()
        ready = self.workdir / "sim.ready"
        argv = simulator_argv(self.args, port, keys, ready)
        # not restarted: its book, orders and our account live only in its memory, so a new one would be
        # a different exchange from the one the services and risk's ledger traded on (see loop)
        self.sup.add(ProcSpec("exchange", argv, http_port=port, restart=False))
        deadline = time.monotonic() + 60
        while not ready.exists():
            if not self.sup.alive("exchange") or time.monotonic() > deadline:
                raise SystemExit(f"simulator did not start; see {self.sup.log_path('exchange')}")
            time.sleep(0.05)
        base = f"http://127.0.0.1:{port}/trade-api/v2"
        self.args.key_id, self.args.private_key_path = WRITE_KEY_ID, str(keys / "write.pem")
        self.args.read_key_id, self.args.read_key_path = READ_KEY_ID, str(keys / "read.pem")
        self.say(f"exchange simulator on {base} ({self.args.markets} markets, seed {self.args.seed})")
        return base, f"ws://127.0.0.1:{port}/trade-api/ws/v2"

    def service_env(self, name: str, port: int, base: str, ws: str) -> dict[str, str]:
        env = {
            "KMM_REDIS_URL": self.redis_url or "",
            "KMM_REDIS_USERNAME": name,
            "KMM_REDIS_PASSWORD_FILE": str(self.secrets / f"{name}.password"),
            "KMM_HTTP_HOST": "127.0.0.1",
            "KMM_HTTP_PORT": str(port),
            "KMM_LOG_FORMAT": "json",
            "KMM_ADMIN_TOKEN_FILE": str(self.admin_token_file),
            "KMM_PARENT_PID": str(os.getpid()),
        }
        if name == "gateway":
            env |= {"KMM_KALSHI_BASE_URL": base, "KMM_KALSHI_WS_URL": ws,
                    "KMM_KALSHI_KEY_ID": self.args.key_id or "",
                    "KMM_KALSHI_PRIVATE_KEY_PATH": self.args.private_key_path or "",
                    "KMM_KALSHI_TIER": self.args.tier,
                    "KMM_DRY_RUN": "1" if self.args.mode == "dry-run" else "0"}
        if name == "selector" and self.args.mode != "live":
            # A fresh simulator has no 24 h volume yet: admit every eligible market at once (the
            # caller's own KMM_* settings still win).
            sim_defaults = {"KMM_ENTER_SCORE": "0", "KMM_EXIT_SCORE": "0", "KMM_SELECT_INTERVAL_S": "2"}
            cfg = load_config()
            in_file = set(cfg.table("selector")) if cfg else set()
            env |= {k: v for k, v in sim_defaults.items()
                    if k not in os.environ and k.removeprefix("KMM_").lower() not in in_file}
        if name == "marketdata":
            env |= {"KMM_KALSHI_BASE_URL": base, "KMM_KALSHI_WS_URL": ws,
                    "KMM_KALSHI_READ_KEY_ID": self.args.read_key_id or "",
                    "KMM_KALSHI_READ_KEY_PATH": self.args.read_key_path or ""}
        return env

    def start_services(self, base: str, ws: str) -> None:
        for name in SERVICES:
            port = free_port()
            argv = [sys.executable, "-m", "kmm.cli", "service", name]
            self.sup.add(ProcSpec(name, argv, env=self.service_env(name, port, base, ws), http_port=port,
                                  first_backoff=FIRST_BACKOFF_S_BY_SERVICE.get(name, FIRST_BACKOFF_S),
                                  final_exit_codes=frozenset({BAD_CONFIG_EXIT}), exit_reasons=SERVICE_EXITS))
        self.say("services started: " + ", ".join(SERVICES))
        self.say(f"to halt trading: {self.halt_command()}")
        self.say("or from another terminal: kmm status | kmm halt | kmm resume | kmm positions | kmm fills")

    def halt_command(self) -> str:
        port = self.sup.children["risk"].spec.http_port
        return (f'curl -X POST -H "Authorization: Bearer $(cat {self.admin_token_file})" '
                f"http://127.0.0.1:{port}/halt")

    def settings_problems(self) -> list[str]:
        """Every service's settings as it would start with them (this environment and the config file
        under the variables the runner sets for it), checked by ``kmm config check``'s own code: one line
        per bad setting, naming service and setting, never the value. The files the runner writes
        itself (passwords, token, keys) do not exist yet: those are the services' own check at start."""
        from kmm.ops.config_cmd import service_problems

        return [line for name in SERVICES for line in service_problems(name, files=False, env=self.planned_env(name))]

    def planned_env(self, name: str) -> dict[str, str]:
        """The variables the runner sets for service ``name`` (:meth:`service_env`), with stand-ins for what
        it decides only as it starts things (its port, Redis's socket, the simulator's URLs)."""
        a = self.args
        base, ws = (a.kalshi_base_url or "", a.kalshi_ws_url or "") if a.mode == "live" else (PENDING_REST, PENDING_WS)
        env = self.service_env(name, 0, base, ws)
        env["KMM_REDIS_URL"] = env["KMM_REDIS_URL"] or f"unix://{self.workdir.resolve() / 'redis' / 'redis.sock'}"
        return env

    def live_parameters(self) -> dict[str, Any]:
        """The quoter's parameters and risk's limits as those two will read them (with what the runner sets)."""
        from .session import live_parameters

        return live_parameters({name: self.planned_env(name) for name in ("quoter", "risk")})

    def start_all(self) -> str:
        """Preflight (live), Redis, groups, the session recorder, the venue (simulator unless live) and the
        services; returns the REST base URL."""
        args = self.args
        if args.mode == "live":
            if not (args.kalshi_base_url and args.key_id and args.private_key_path):
                raise SystemExit("live mode needs --kalshi-base-url, --key-id and --private-key-path")
            self.preflight()
        self.start_redis()
        self.bootstrap()
        self.start_recording()
        if args.mode == "live":
            base, ws = args.kalshi_base_url, args.kalshi_ws_url or ""
        else:
            base, ws = self.start_simulator()
        self.base_url, self.ws_url = base, ws
        self.start_services(base, ws)
        self.start_watchdog()
        return base

    def start_watchdog(self) -> None:
        """Kill what hangs so the supervisor restarts it (:mod:`kmm.runner.liveness`): the services, and
        Redis when the runner started it."""
        if self.args.liveness_s <= 0:
            return
        probes = {n: livez(self.sup.children[n].spec.http_port) for n in SERVICES if n in self.sup.children}
        if "redis" in self.sup.children and self.redis_url:
            probes["redis"] = redis_ping(Path(self.redis_url.removeprefix("unix://")))

        def note(text: str) -> None:
            self.events.append(text)
            self.say(text)

        self.watchdog = Watchdog(self.sup, probes, self.args.liveness_s, note)
        self.watchdog.start()

    def stop_watchdog(self) -> None:
        """Before the stop: a service shutting down answers nothing, and must not be killed for it."""
        if self.watchdog is not None:
            self.watchdog.stop()

    def preflight(self) -> None:
        """``kmm doctor --mode live`` before anything starts; any failure refuses the run."""
        from kmm.ops.doctor import DoctorConfig, failures, result_line, run_checks

        a = self.args
        cfg = DoctorConfig(base_url=a.kalshi_base_url, ws_url=a.kalshi_ws_url or "", key_id=a.key_id,
                           key_path=a.private_key_path, read_key_id=a.read_key_id or "",
                           read_key_path=a.read_key_path or "", tier=a.tier, mode="live")
        self.say(f"preflight (kmm doctor --mode live) against {a.kalshi_base_url}")
        results = run_checks(cfg)
        for r in results:
            self.say("  " + result_line(r))
        bad = failures(results)
        if bad:
            raise SystemExit(f"kmm run: refusing to start live trading: {len(bad)} preflight check(s) failed "
                             f"({', '.join(r.name for r in bad)}); nothing was started")

    def start_recording(self) -> None:
        if not self.args.record:
            return
        from .session import JOURNAL

        admin = (self.secrets / "admin.password").read_text().strip()
        # the live parameters as this run starts with them: a later kmm report (of a killed run) has them
        # even from another environment
        cap = self.args.record_max_mb
        self.journal = SessionJournal(self.redis_url or "", self.workdir / JOURNAL, username="admin", password=admin,
                                      meta={"live": self.live_parameters()}, max_md_bytes=cap * 2**20)
        self.journal.start()
        self.say(f"recording md:* and exec:report to {self.workdir / JOURNAL} (session.npz at the end; "
                 + (f"the latest {cap:,} MiB of market data and order reports kept, every fill)" if cap
                    else "no cap)"))

    # --- run ----------------------------------------------------------------------------------
    def urls(self) -> dict[str, str]:
        return {n: f"http://127.0.0.1:{p}" for n, p in self.ports().items()}

    def run_info(self) -> RunInfo:
        a = self.args
        admin = f"{self.urls()['exchange']}/admin" if "exchange" in self.sup.children else ""
        return RunInfo(pid=os.getpid(), workdir=str(self.workdir.resolve()), mode=a.mode, urls=self.urls(),
                       token_file=str(self.admin_token_file.resolve()), kalshi_base_url=self.base_url,
                       kalshi_ws_url=self.ws_url, key_id=a.key_id or "", private_key_path=str(a.private_key_path or ""),
                       read_key_id=a.read_key_id or "", read_key_path=str(a.read_key_path or ""), tier=a.tier,
                       exchange_admin_url=admin)

    def publish_when_ready(self, client: OpsClient) -> None:
        """Once every service is ready: the ports file and the run file the operator commands find."""
        for n in SERVICES:
            body, _ = client.try_get(n, "/readyz", ok=(200, 503))
            if not (body and body.get("ready")):
                return
        if self.args.ports_file:
            write_file(self.args.ports_file, json.dumps(self.ports()))
        paths = discovery.publish(self.run_info())
        self.published = True
        self.say(f"every service ready; run file {paths[0]} (kmm status, kmm halt ... find this run)")

    def runner_rows(self) -> dict[str, dict[str, Any]]:
        """What only the runner knows: each child alive and its restarts; exchange and redis health."""
        rows: dict[str, dict[str, Any]] = {}
        for name, child in self.sup.children.items():
            rows[name] = {"alive": self.sup.alive(name), "restarts": child.restarts, "ready": self.sup.alive(name)}
        if "exchange" in rows and self._client is not None:
            st, _ = self._client.try_get("exchange", "/status")
            rows["exchange"]["summary"] = (st or {}).get("summary", "")
            rows["exchange"]["ready"] = st is not None
        if "redis" in rows:
            rows["redis"]["summary"] = self.redis_url or ""
        return rows

    _client: OpsClient | None = None
    _console: LiveConsole | None = None

    def loop(self) -> None:
        args = self.args
        tty = args.view == "table" or (args.view == "auto" and sys.stdout.isatty() and sys.stdin.isatty())
        stop_at = time.monotonic() + args.seconds if args.seconds > 0 else None
        target = Target(self.urls(), self.admin_token_file, "this run")
        with OpsClient(target, timeout=1.0) as client:
            self._client = client
            console = LiveConsole(client, f"mode {args.mode}, workdir {self.workdir}", self.runner_rows) if tty else None
            last_line = last_check = 0.0
            status: threading.Thread | None = None
            self._console = console
            with console if console is not None else contextlib.nullcontext():
                while stop_at is None or time.monotonic() < stop_at:
                    for e in self.sup.poll():
                        self.events.append(e)
                        self.say(e)
                    if self.simulator_died() or self.service_misconfigured():
                        break
                    now = time.monotonic()
                    if not self.published and now - last_check >= 0.5:
                        last_check = now
                        self.publish_when_ready(client)
                    if console is not None:
                        if console.step(0.1) == QUIT:
                            break
                        continue
                    if now - last_line >= 5.0 and (status is None or not status.is_alive()):
                        last_line = now
                        # off the supervision loop: a stopped service makes its status poll wait for the
                        # timeout, and a child that died meanwhile must not wait that long to be restarted
                        status = threading.Thread(target=self.status_line, args=(target,), daemon=True)
                        status.start()
                    time.sleep(0.1)
            self._client = None
            self._console = None

    def simulator_died(self) -> bool:
        """The simulator exited: say why the run stops instead of starting a new one."""
        ex = self.sup.children.get("exchange")
        if ex is None or ex.proc is not None or ex.last_exit is None:
            return False
        self.venue_lost = True
        self.say(f"the exchange simulator exited with {ex.last_exit} (see {self.sup.log_path('exchange')}); "
                 "its book, orders and our account lived only in its memory, so a new one would be a different "
                 "exchange: stopping the run")
        return True

    def service_misconfigured(self) -> bool:
        """A service exited BAD_CONFIG_EXIT (not restarted: the same settings would fail again): say which,
        what it said (its own ``invalid setting`` lines name the setting, never the value) and where its
        log is, and stop the run."""
        for name in SERVICES:
            child = self.sup.children.get(name)
            if child is None or child.proc is not None or child.last_exit != BAD_CONFIG_EXIT:
                continue
            self.misconfigured = name
            log = self.sup.log_path(name)
            self.say(f"{name} exited with {BAD_CONFIG_EXIT}, a service's exit for a bad configuration: not restarted, "
                     f"the same settings would fail again (its log: {log}); stopping the run")
            for line in bad_setting_lines(log, name):
                self.say(f"  {line}")
            return True
        return False

    def status_line(self, target: Target) -> None:
        with OpsClient(target, timeout=1.0) as client:
            self.say(snapshot.one_line(snapshot.collect(client)))

    def ports(self) -> dict[str, int]:
        return {n: c.spec.http_port for n, c in self.sup.children.items() if c.spec.http_port}

    def wind_down(self, timeout_s: float = 15.0) -> None:
        """Stop the quoter (it pulls its quotes), then wait, at most ``timeout_s``, until nothing of ours
        rests and risk has booked every fill the gateway reported: the summary that follows is the run's
        final state, not a snapshot taken while orders could still fill."""
        self.stop_watchdog()
        with httpx.Client() as client:
            self.before_stop = collect(self.sup, client)
            if "quoter" not in self.sup.children or "gateway" not in self.sup.children:
                return
            self.sup.stop("quoter")
            # nothing can be cancelled or filled any more (the venue is gone), or nobody would cancel
            # (the gateway is down, and nothing restarts it now): no point waiting
            if self.venue_lost or not self.sup.alive("gateway"):
                return
            deadline = time.monotonic() + timeout_s

            def status(name: str) -> dict[str, Any]:
                return fetch(client, self.sup.children[name].spec.http_port, "/status") or {}

            while time.monotonic() < deadline:
                gw = status("gateway")
                if gw.get("open_orders") == [] and self.count_resting() in (0, None):
                    break
                time.sleep(0.1)
            else:
                self.say(f"the gateway still has orders open after {timeout_s:.0f} s; its stop cancels them")
                return
            while time.monotonic() < deadline:
                if risk_booked_every_fill(status("gateway"), status("risk")):
                    return
                time.sleep(0.1)
            self.say("risk has not booked every fill the gateway reported; the summary shows both")

    def summary(self) -> dict[str, Any]:
        with httpx.Client() as client:
            state = collect(self.sup, client)
        for name, s in state.items():  # stopped by the wind-down: what it said just before
            if not s["alive"] and name in self.before_stop:
                state[name] = {**self.before_stop[name], "restarts": s["restarts"]}
        return {
            "mode": self.args.mode,
            "seconds": round(time.monotonic() - self.started, 1),
            "services": {n: {"ready": s["ready"], "restarts": s["restarts"], **s["status"]}
                         for n, s in state.items()},
            "events": self.events[-50:],
            "workdir": str(self.workdir),
        }

    def count_resting(self) -> int | None:
        """Our orders still resting at the simulator (None in live mode or when it does not answer)."""
        if "exchange" not in self.sup.children or not self.sup.alive("exchange"):
            return None
        try:
            r = httpx.get(f"{self.urls()['exchange']}/admin/orders", params={"user": self.args.key_id}, timeout=5)
            return sum(1 for o in r.json()["orders"] if o["status"] == "resting")
        except (httpx.HTTPError, ValueError, KeyError):
            return None

    def exchange_positions(self) -> list[dict[str, Any]] | None:
        """The simulator's own record of our account, per market (None in live mode or when it does not answer)."""
        if "exchange" not in self.sup.children or not self.sup.alive("exchange"):
            return None
        try:
            r = httpx.get(f"{self.urls()['exchange']}/admin/positions", params={"user": self.args.key_id}, timeout=5)
            return list(r.json()["positions"])
        except (httpx.HTTPError, ValueError, KeyError):
            return None

    def shutdown(self) -> dict[str, int | None]:
        """Stop the services in order (the gateway cancels every resting order as it stops), count what
        still rests at the simulator, finish the recording, then stop the venue and Redis."""
        self.stop_watchdog()
        codes = {n: self.sup.stop(n) for n in STOP_ORDER if n in self.sup.children and n in SERVICES}
        self.resting_after_stop = self.count_resting()
        self.venue_positions = self.exchange_positions()
        if self.journal is not None:
            self.journal.stop()
        codes |= {n: self.sup.stop(n) for n in ("exchange", "redis") if n in self.sup.children}
        codes |= self.sup.stop_all()
        discovery.withdraw(os.getpid())
        return codes

    def write_session(self) -> dict[str, Any] | None:
        if self.journal is None:
            return None
        from kmm.backtest.progress import Progress

        from .session import write_session

        try:
            return write_session(self.workdir, self.args.mode, progress=Progress("session", every_s=0.5),
                                 venue_positions=self.venue_positions)
        except Exception as exc:  # the run itself went fine: say so, keep the journal for a retry
            print(f"kmm run: could not write the session ({session_failure(exc)}); "
                  f"the journal is kept in {self.workdir}", file=sys.stderr)
            return None


def session_failure(exc: Exception) -> str:
    """Why the session could not be written, without a setting's value (a ValidationError's text has it)."""
    from pydantic import ValidationError

    from kmm.chassis.settings import describe

    from .session import SessionError

    if isinstance(exc, SessionError):
        return str(exc)
    if isinstance(exc, ValidationError):
        return "; ".join(describe(exc))
    return f"{type(exc).__name__}: {exc}"


def write_file(path: Path, text: str) -> None:
    """``path`` with ``text``, its directories created (``--summary-json out/summary.json`` on a fresh clone)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def bad_setting_lines(log: Path, service: str, tail_bytes: int = 8192) -> list[str]:
    """The ``<service>: invalid ...`` lines a service printed last before its bad-configuration exit
    (:func:`kmm.chassis.settings.fail`: they name the setting, never its value); nothing else of the log."""
    try:
        with open(log, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - tail_bytes))
            lines = f.read().decode(errors="replace").splitlines()
    except OSError:
        return []
    out: list[str] = []
    for line in reversed(lines):
        if not line.startswith(f"{service}: invalid "):
            break
        out.append(line)
    return out[::-1]


def write_key_pairs(keys: Path, names: dict[str, str]) -> Path:
    """A fresh RSA key per ``{key_id: name}`` in ``keys`` (0700): ``<name>.pem`` (0600) and ``<name>.pub.pem``."""
    keys.mkdir(exist_ok=True, mode=0o700)
    for key_id, name in names.items():
        pem = generate_private_pem()
        (keys / f"{name}.pem").write_bytes(pem)
        (keys / f"{name}.pem").chmod(0o600)
        (keys / f"{name}.pub.pem").write_bytes(Signer.from_pem(key_id, pem).public_pem())
    return keys


def print_summary(summary: dict[str, Any]) -> None:
    print("\n=== kmm run summary ===")
    for name, s in summary["services"].items():
        line = s.get("summary", "")
        print(f"  {name:<11} restarts {s.get('restarts', 0):<3} {line}")
    totals = summary.get("totals", {})
    for k, v in totals.items():
        print(f"  {k}: {'-' if v is None else v}")
    for name, what in (("gateway", "orders_placed and tick_to_order"), ("risk", "fill_to_risk")):
        restarts = summary["services"].get(name, {}).get("restarts", 0)
        if restarts:  # those figures are the process's own: they count from its last start
            print(f"  ({what}: since the {name}'s restart #{restarts})")
    if summary.get("resting_orders_after_stop") is not None:
        print(f"  resting orders at the exchange after stop: {summary['resting_orders_after_stop']}")
    session = summary.get("session")
    if session:
        o = session["overall"]
        print(f"  session: {summary['workdir']}/session.npz ({session['events']} events, {o['fills']} fills, "
              f"P&L ${o['pnl_usd']:,.4f} marked at the recorded last mids); kmm report {summary['workdir']}")
        dropped = session.get("market_data_dropped")
        if dropped:
            print(f"  its market data and order reports are the latest the recording kept ({dropped['frames']:,} "
                  "older entries dropped at --record-max-mb); every fill and settlement is in it")
        venue = session.get("venue")
        if venue is not None:
            verdict = "agree" if venue["agrees"] else f"DISAGREE: {venue['mismatches'][:5]}"
            print(f"  the session's fills and the exchange's record ({venue['contracts_traded']:g} contracts traded "
                  f"in {venue['markets']} markets): {verdict}")
    print(f"  logs: {summary['workdir']}/logs")


def exit_report(bad: dict[str, int | None]) -> list[str]:
    """The lines a run that ended with services exiting badly prints: their exit codes, and which of them
    the stop had to kill because they did not stop within their timeout."""
    lines = [f"services exited badly: {bad}"]
    lines += [f"  {name} did not stop within its timeout and was killed (SIGKILL)"
              for name in sorted(n for n, c in bad.items() if c == -signal.SIGKILL)]
    return lines


def main(args: argparse.Namespace) -> int:
    run = Run(args)
    problems = run.settings_problems()
    if problems:
        for line in problems:
            print(line, file=sys.stderr)
        print(f"kmm run: refusing to start: {len(problems)} bad setting(s) (kmm config check names them too); "
              "nothing was started", file=sys.stderr)
        return 2

    def on_signal(signum: int, frame: object) -> None:
        for sig in (signal.SIGTERM, signal.SIGHUP):  # one clean stop; later signals do not interrupt it
            signal.signal(sig, signal.SIG_IGN)
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)  # the terminal went away: stop the same clean way
    try:
        run.start_all()
        run.loop()
        if not run.venue_lost:
            run.say("stopping: the quoter pulls its quotes, the gateway cancels what is left, then the venue")
    except KeyboardInterrupt:
        run.say("interrupted; stopping (the quoter pulls its quotes, the gateway cancels what is left)")
    except BaseException:
        run.shutdown()
        raise
    summary: dict[str, Any] = {}
    try:
        with contextlib.suppress(KeyboardInterrupt):
            run.wind_down()
        summary = run.summary()
        summary["totals"] = totals(summary)
    finally:
        codes = run.shutdown()
    summary["exit_codes"] = codes
    summary["resting_orders_after_stop"] = run.resting_after_stop
    summary["session"] = run.write_session()
    try:
        print_summary(summary)
    except OSError:  # the terminal is gone (SIGHUP)
        pass
    if args.summary_json:
        write_file(args.summary_json, json.dumps(summary, indent=2, default=str))
    bad = {n: c for n, c in codes.items() if c not in (0, None, -signal.SIGTERM)}
    if run.venue_lost:
        bad.setdefault("exchange", codes.get("exchange"))
    if run.misconfigured:
        bad.setdefault(run.misconfigured, codes.get(run.misconfigured))
    if bad:
        print("\n".join(exit_report(bad)), file=sys.stderr)
        return 1
    venue = (summary.get("session") or {}).get("venue")
    if venue is not None and not venue["agrees"]:
        print(f"the session's fills disagree with the exchange's record: {venue['mismatches']}", file=sys.stderr)
        return 1
    return 0


def risk_booked_every_fill(gateway: dict[str, Any], risk: dict[str, Any]) -> bool:
    """Whether risk has booked every fill the gateway reported, market by market: each side keeps its
    fill sequence per market across restarts (the services' fill counters start again at 0)."""
    if "fill_seq" not in gateway or "fill_seq" not in risk:
        return False
    booked = risk["fill_seq"]
    return all(booked.get(market, 0) >= seq for market, seq in gateway["fill_seq"].items())


def totals(summary: dict[str, Any]) -> dict[str, Any]:
    s = summary["services"]
    gw = s.get("gateway", {})
    risk = s.get("risk", {})
    return {
        "fills": risk.get("fills_booked", gw.get("fills", 0)),
        "orders_placed": gw.get("orders_placed", 0),
        "pnl_dollars": risk.get("pnl_dollars", "0"),
        "markets_quoted": len(s.get("quoter", {}).get("markets", [])),
        "tick_to_order_p50_ms": gw.get("tick_to_order_p50_ms"),
        "tick_to_order_p99_ms": gw.get("tick_to_order_p99_ms"),
        "fill_to_risk_p50_ms": risk.get("fill_latency_p50_ms"),
        "fill_to_risk_p99_ms": risk.get("fill_latency_p99_ms"),
    }
