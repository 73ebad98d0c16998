"""``kmm doctor``: preflight checks against Kalshi (or the simulator) before trading with a key.

Checks, in order (a check that cannot run because an earlier one failed is SKIP, not PASS):

1. ``key file``: the write key's PEM file is readable, an unencrypted RSA private key, not
   readable by group or others (WARN otherwise);
2. ``exchange reachable``: ``GET /exchange/status`` answers (WARN when trading is paused or closed);
3. ``clock``: this machine's clock against the exchange's ``Date`` header (midpoint of the request);
   Kalshi rejects a signature a few seconds old, so more than :data:`MAX_SKEW_S` off fails;
4. ``key id``: a signed ``GET /portfolio/balance`` is accepted — the exchange knows the key id and the
   file is its private half (each refusal is named: unknown key id, signature mismatch, timestamp);
5. ``balance``: more than $0;
6. ``account limits``: ``GET /account/limits``; the tier the gateway budgets for (``--tier``) must not
   exceed the account's write budget;
7. ``markets``: open markets are listed;
8. ``read key``: the market-data key (when given) signs a WebSocket handshake;
9. ``websocket``: an ``orderbook_delta`` subscription delivers a snapshot;
10. ``test order`` (only with ``--place-test-order``, and only on Kalshi demo or the local
    simulator): a post-only 1-contract bid at the lowest tick, far below the market, is placed and
    cancelled.

With no flags it checks the newest local ``kmm run`` (its venue and key, from the run file);
``--mode live`` takes the Kalshi URLs and key files from the flags, the ``[run]`` table of the config
file or the environment, as ``kmm run --mode live`` does — which runs these checks itself first and
refuses to start on a failure. Exit status 0 when nothing failed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import email.utils
import json
import os
import secrets
import socket
import stat
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from kmm.kalshi import constants as kc
from kmm.kalshi import errors as kerr
from kmm.kalshi.auth import KeyError_, Signer
from kmm.kalshi.rest import KalshiRest, NewOrder
from kmm.messages import BookUpdate

from .target import OpsError

MAX_SKEW_S = 2.0
PASS, WARN, FAIL, SKIP = "PASS", "WARN", "FAIL", "SKIP"
TEST_ORDER_HOSTS = ("demo-api.kalshi.co", "external-api.demo.kalshi.co", "127.0.0.1", "localhost", "::1")


@dataclass
class Result:
    name: str
    status: str
    detail: str


@dataclass
class DoctorConfig:
    base_url: str
    ws_url: str = ""
    key_id: str = ""
    key_path: str = ""
    read_key_id: str = ""
    read_key_path: str = ""
    tier: str = "basic"
    mode: str = "live"
    place_test_order: bool = False
    timeout: float = 10.0
    facts: dict[str, Any] = field(default_factory=dict)


def result_line(r: Result) -> str:
    return f"{r.status:<4}  {r.name:<18} {r.detail}"


def failures(results: list[Result]) -> list[Result]:
    return [r for r in results if r.status == FAIL]


def run_checks(cfg: DoctorConfig) -> list[Result]:
    return asyncio.run(Checks(cfg).run())


def orders_allowed_at(base_url: str) -> bool:
    return (urlsplit(base_url).hostname or "") in TEST_ORDER_HOSTS


class Checks:
    def __init__(self, cfg: DoctorConfig) -> None:
        self.cfg = cfg
        self.results: list[Result] = []
        self.signer: Signer | None = None
        self.market: Any = None
        self.key_refused = False

    def add(self, name: str, status: str, detail: str) -> bool:
        self.results.append(Result(name, status, detail))
        return status != FAIL

    def skip(self, names: list[str], why: str) -> None:
        for n in names:
            self.add(n, SKIP, why)

    async def run(self) -> list[Result]:
        c = self.cfg
        self.key_file()
        if not await self.reachable():
            self.skip(["clock", "key id", "balance", "account limits", "markets", "read key", "websocket"],
                      "the exchange is unreachable")
            return self.results
        async with KalshiRest(c.base_url, signer=self.signer, timeout=c.timeout, max_retries=0) as api:
            if self.signer is None:
                self.skip(["key id", "balance", "account limits"], "no usable key file")
            elif await self.key_id(api):
                await self.limits(api)
            else:
                self.key_refused = True
                self.skip(["balance", "account limits"], "the exchange refused the key")
            await self.markets(api)
            await self.read_key()
            if self.key_refused and not (c.read_key_id and c.read_key_path):
                self.add("websocket", SKIP, "the exchange refused the key the handshake would be signed with")
            else:
                await self.websocket()
            if c.place_test_order:
                await self.test_order(api)
        return self.results

    # --- 1 -----------------------------------------------------------------------------------------
    def key_file(self) -> None:
        c = self.cfg
        if not c.key_path or not c.key_id:
            self.add("key file", FAIL, "no write key: give --key-id and --private-key-path")
            return
        try:
            self.signer = Signer.from_file(c.key_id, c.key_path)
        except KeyError_ as exc:
            self.add("key file", FAIL, str(exc))
            return
        mode = stat.S_IMODE(os.stat(c.key_path).st_mode)
        if mode & 0o077:
            self.add("key file", WARN, f"{c.key_path} is readable by group or others (mode {mode:o}): chmod 600 it")
        else:
            self.add("key file", PASS, f"{c.key_path}: RSA private key for key id {c.key_id}")

    # --- 2, 3 ----------------------------------------------------------------------------------------
    async def reachable(self) -> bool:
        c = self.cfg
        url = c.base_url.rstrip("/") + kc.EXCHANGE_STATUS
        try:
            async with httpx.AsyncClient(timeout=c.timeout) as http:
                t0 = time.time()
                r = await http.get(url)
                t1 = time.time()
        except httpx.ConnectError as exc:
            return self.add("exchange reachable", FAIL, f"cannot reach {c.base_url}: {connect_reason(exc)}")
        except httpx.TimeoutException:
            return self.add("exchange reachable", FAIL, f"{c.base_url} did not answer within {c.timeout:g} s")
        except httpx.HTTPError as exc:
            return self.add("exchange reachable", FAIL, f"{c.base_url}: {type(exc).__name__}: {exc}")
        if r.status_code != 200:
            return self.add("exchange reachable", FAIL, f"GET {kc.EXCHANGE_STATUS} answered HTTP {r.status_code}")
        try:
            body = r.json()
        except ValueError:
            return self.add("exchange reachable", FAIL, f"GET {kc.EXCHANGE_STATUS} did not answer JSON: "
                            f"is {c.base_url} a Kalshi API base URL (…/trade-api/v2)?")
        trading = body.get("trading_active")
        self.add("exchange reachable", PASS if trading else WARN,
                 f"{c.base_url} ({(t1 - t0) * 1000:.0f} ms), trading {'active' if trading else 'NOT active (paused or closed)'}")
        self.clock(r.headers.get("date"), t0, t1)
        return True

    def clock(self, date: str | None, t0: float, t1: float) -> None:
        if not date:
            self.add("clock", WARN, "the exchange sent no Date header: skew not measured")
            return
        try:
            server = email.utils.parsedate_to_datetime(date).timestamp() + 0.5  # Date is whole seconds
        except (TypeError, ValueError):
            self.add("clock", WARN, f"unreadable Date header {date!r}: skew not measured")
            return
        skew = server - (t0 + t1) / 2
        self.cfg.facts["clock_skew_s"] = round(skew, 3)
        ahead = "behind" if skew > 0 else "ahead of"
        if abs(skew) > MAX_SKEW_S:
            self.add("clock", FAIL, f"this machine is {abs(skew):.1f} s {ahead} the exchange (its Date header); "
                     f"Kalshi rejects signatures timestamped a few seconds off: sync the clock "
                     "(timedatectl set-ntp true, or chrony)")
        else:
            self.add("clock", PASS, f"within {max(abs(skew), 0.5):.1f} s of the exchange (Date header, ±0.5 s)")

    # --- 4, 5, 6 -----------------------------------------------------------------------------------
    async def key_id(self, api: KalshiRest) -> bool:
        c = self.cfg
        try:
            bal = await api.get_balance()
        except kerr.Unauthorized as exc:
            text = f"{exc.code} {exc.message} {exc.details}".lower()
            if "timestamp" in text:
                why = ("the exchange rejected the request's timestamp (header_timestamp_expired): this "
                       "machine's clock is off; sync it")
            elif "incorrect_api_key_signature" in text or "signature" in text:
                why = f"the key file {c.key_path} is not the private key of key id {c.key_id} (signature mismatch)"
            else:
                why = f"the exchange does not know key id {c.key_id} ({exc.details or exc.message})"
            return self.add("key id", FAIL, why)
        except kerr.Forbidden as exc:
            return self.add("key id", FAIL, f"key id {c.key_id} may not read the portfolio: {exc}")
        except kerr.KalshiError as exc:
            return self.add("key id", FAIL, f"signed GET /portfolio/balance failed: {exc}")
        self.add("key id", PASS, f"the exchange accepts signatures of key id {c.key_id}")
        dollars = bal.balance / 1_000_000
        self.cfg.facts["balance_dollars"] = f"{dollars:.2f}"
        self.add("balance", PASS if bal.balance > 0 else FAIL,
                 f"${dollars:,.2f} available" if bal.balance > 0 else "$0.00: fund the account before trading")
        return True

    async def limits(self, api: KalshiRest) -> None:
        c = self.cfg
        try:
            lim = await api.get_account_limits()
        except kerr.KalshiError as exc:
            self.add("account limits", FAIL, f"GET /account/limits failed: {exc}")
            return
        tier = str(lim.get("usage_tier", "?"))
        write = int((lim.get("write") or {}).get("refill_rate", 0))
        self.cfg.facts["usage_tier"] = tier
        wanted = kc.TIERS.get(c.tier, (0, 0))[1]
        if c.tier not in kc.TIERS:
            self.add("account limits", FAIL, f"--tier {c.tier!r} is not a Kalshi tier ({', '.join(kc.TIERS)})")
        elif wanted > write:
            self.add("account limits", FAIL, f"the account is tier {tier} ({write} write tokens/s) but the gateway "
                     f"would budget for {c.tier} ({wanted}/s): run with --tier {tier}")
        else:
            self.add("account limits", PASS, f"tier {tier}: {write} write tokens/s (the gateway budgets for {c.tier})")

    # --- 7, 8, 9 -----------------------------------------------------------------------------------
    async def markets(self, api: KalshiRest) -> None:
        try:
            page = await api.get_markets(status="open", limit=100)
        except kerr.KalshiError as exc:
            self.add("markets", FAIL, f"GET /markets failed: {exc}")
            return
        if not page.items:
            self.add("markets", FAIL, "no open market is listed")
            return
        two_sided = [m for m in page.items if m.yes_bid and m.yes_ask]
        self.market = (two_sided or page.items)[0]
        self.add("markets", PASS, f"{len(page.items)}{'+' if page.cursor else ''} open markets, e.g. {self.market.ticker}")

    async def read_key(self) -> None:
        c = self.cfg
        if not c.read_key_id and not c.read_key_path:
            self.add("read key", SKIP, "no read-only key given (marketdata would use none)")
            return
        try:
            Signer.from_file(c.read_key_id, c.read_key_path)
        except KeyError_ as exc:
            self.add("read key", FAIL, str(exc))
            return
        self.add("read key", PASS, f"{c.read_key_path}: RSA private key for key id {c.read_key_id}")

    async def websocket(self) -> None:
        from kmm.kalshi.ws import Disconnected, KalshiWs

        c = self.cfg
        if not c.ws_url:
            self.add("websocket", SKIP, "no WebSocket URL given (--kalshi-ws-url)")
            return
        if self.market is None:
            self.add("websocket", SKIP, "no open market to subscribe to")
            return
        signer = self.signer
        if c.read_key_id and c.read_key_path:
            try:
                signer = Signer.from_file(c.read_key_id, c.read_key_path)
            except KeyError_:
                pass
        ticker = self.market.ticker
        ws = KalshiWs(c.ws_url, signer=signer, backoff_max=1.0, open_timeout=c.timeout)
        try:
            ws.start()
            ev = await ws.next_event(c.timeout)
            if isinstance(ev, Disconnected):
                self.add("websocket", FAIL, f"could not connect to {c.ws_url}: {ev.reason}")
                return
            await ws.subscribe([kc.CH_ORDERBOOK], [ticker], timeout=c.timeout)
            deadline = time.monotonic() + c.timeout
            while time.monotonic() < deadline:
                ev = await ws.next_event(max(0.1, deadline - time.monotonic()))
                if isinstance(ev, BookUpdate) and ev.market == ticker:
                    self.add("websocket", PASS, f"{c.ws_url}: orderbook snapshot of {ticker} received")
                    return
            self.add("websocket", FAIL, f"subscribed to {ticker} but no orderbook snapshot within {c.timeout:g} s")
        except TimeoutError:
            self.add("websocket", FAIL, f"{c.ws_url}: no answer within {c.timeout:g} s (connect or subscribe)")
        except ConnectionError as exc:
            self.add("websocket", FAIL, f"subscription to {ticker} failed: {exc}")
        finally:
            await ws.close()

    # --- 10 --------------------------------------------------------------------------------------------
    async def test_order(self, api: KalshiRest) -> None:
        c = self.cfg
        if not orders_allowed_at(c.base_url):
            self.add("test order", FAIL, f"refused: test orders go only to Kalshi demo or the local simulator, "
                     f"not {urlsplit(c.base_url).hostname}")
            return
        if self.signer is None or self.market is None:
            self.add("test order", SKIP, "no usable key or no open market")
            return
        m = self.market
        price = kc_lowest_tick(m)
        if m.yes_bid and m.yes_bid <= price * 3:
            self.add("test order", SKIP, f"{m.ticker}'s best bid is too close to the lowest tick to stay far away")
            return
        coid = f"kmm-doctor-{secrets.token_hex(6)}"
        try:
            ack = await api.create_order(NewOrder(ticker=m.ticker, side="bid", price=price, count=100,
                                                  client_order_id=coid, post_only=True), retry_unknown=True)
            await api.cancel_order(ack.order_id, market_ticker=m.ticker)
            order = await api.get_order(ack.order_id)
        except kerr.KalshiError as exc:
            self.add("test order", FAIL, f"post-only bid on {m.ticker} failed: {exc}")
            return
        if order.status != "canceled":
            self.add("test order", FAIL, f"order {ack.order_id} is {order.status} after the cancel: cancel it by hand")
            return
        self.add("test order", PASS, f"post-only bid 1 @ ${price / 10_000:.4f} on {m.ticker} placed and cancelled")


def connect_reason(exc: BaseException) -> str:
    """Why a connection failed, in words (httpx only says "All connection attempts failed")."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ConnectionRefusedError):
            return "connection refused (nothing listens there)"
        if isinstance(seen, socket.gaierror):
            return "the host name does not resolve (DNS)"
        if isinstance(seen, OSError) and seen.strerror:
            return seen.strerror
        seen = seen.__cause__ or seen.__context__
    text = str(exc)
    return "connection refused (nothing listens there)" if "refused" in text.lower() or "all connection attempts" \
        in text.lower() else text or type(exc).__name__


def kc_lowest_tick(market: Any) -> int:
    """The lowest price a market accepts (its first tick range's step; 1¢ by default)."""
    ranges = getattr(market, "tick_ranges", None) or ((0, 10_000, 100),)
    start, _, step = (int(x) for x in ranges[0])
    return start or step or 100


# --- the command ---------------------------------------------------------------------------------
def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--mode", choices=("local", "live"), default=None,
                   help="local: the newest kmm run's venue and key (the default without Kalshi flags); "
                        "live: the Kalshi URLs and keys from the flags, [run] or the environment")
    p.add_argument("--workdir", type=Path, default=None, help="check this kmm run's venue and key")
    p.add_argument("--kalshi-base-url", default=None)
    p.add_argument("--kalshi-ws-url", default=None)
    p.add_argument("--key-id", default=None)
    p.add_argument("--private-key-path", default=None)
    p.add_argument("--read-key-id", default=None)
    p.add_argument("--read-key-path", default=None)
    p.add_argument("--tier", default=None, help="the tier the gateway budgets for (default basic)")
    p.add_argument("--config", type=Path, default=None, help="config file (default: KMM_CONFIG)")
    p.add_argument("--place-test-order", action="store_true",
                   help="place and cancel a post-only order far from the market (demo or simulator only)")
    p.add_argument("--timeout", type=float, default=10.0)
    p.add_argument("--json", action="store_true")


def config_from_args(args: argparse.Namespace) -> DoctorConfig:
    live_flags = any(getattr(args, k) for k in ("kalshi_base_url", "key_id", "private_key_path"))
    if args.mode == "live" or (args.mode is None and live_flags):
        from kmm.runner.cli import add_arguments as run_args
        from kmm.runner.cli import resolve_options

        parser = argparse.ArgumentParser()
        run_args(parser)
        flags = ["--mode", "live"]
        for k in ("kalshi_base_url", "kalshi_ws_url", "key_id", "private_key_path", "read_key_id",
                  "read_key_path", "tier", "config"):
            v = getattr(args, k)
            if v:
                flags += ["--" + k.replace("_", "-"), str(v)]
        r = parser.parse_args(flags)
        resolve_options(r)
        if not r.kalshi_base_url:
            raise OpsError("--mode live needs --kalshi-base-url (or [run] kalshi_base_url / KMM_KALSHI_BASE_URL)", 2)
        return DoctorConfig(base_url=r.kalshi_base_url, ws_url=r.kalshi_ws_url or "", key_id=r.key_id or "",
                            key_path=r.private_key_path or "", read_key_id=r.read_key_id or "",
                            read_key_path=r.read_key_path or "", tier=r.tier, mode="live",
                            place_test_order=args.place_test_order, timeout=args.timeout)
    from .target import resolve

    target = resolve(argparse.Namespace(url=[], ports_file=None, workdir=args.workdir, token_file=None,
                                        config=args.config))
    info = target.run
    if info is None or not info.kalshi_base_url:
        raise OpsError("kmm doctor: no local run with a venue to check; give --mode live with the Kalshi flags", 2)
    return DoctorConfig(base_url=info.kalshi_base_url, ws_url=info.kalshi_ws_url, key_id=info.key_id,
                        key_path=info.private_key_path, read_key_id=info.read_key_id,
                        read_key_path=info.read_key_path, tier=args.tier or info.tier or "basic", mode=info.mode,
                        place_test_order=args.place_test_order, timeout=args.timeout)


def main(args: argparse.Namespace) -> int:
    try:
        cfg = config_from_args(args)
    except OpsError as exc:
        print(f"kmm doctor: {exc}", file=sys.stderr)
        return exc.code
    results = run_checks(cfg)
    bad = failures(results)
    if args.json:
        print(json.dumps({"base_url": cfg.base_url, "ok": not bad, "facts": cfg.facts,
                          "checks": [asdict(r) for r in results]}, indent=2))
    else:
        print(f"kmm doctor ({cfg.mode}) against {cfg.base_url}")
        for r in results:
            print("  " + result_line(r))
        print(f"{len(bad)} check(s) failed: {', '.join(r.name for r in bad)}" if bad else "all checks passed")
    return 1 if bad else 0
