"""Multi-day correctness and fidelity knobs: settlement releases risk, a daily-loss halt clears at the
next day by the engine's option and any other halt by the operator's daily resume unless latched (and
every halt is reported), fill reports arrive late, the write budget keeps the old quotes, trade-only
tapes use the conservative fill model."""

from kmm.backtest.engine import FillConfig, RunConfig, run
from kmm.backtest.eventlog import EventLogBuilder, MarketMeta
from kmm.backtest.policy import ASPolicy, StaticQuotes
from kmm.messages.units import COUNT_SCALE, MONEY_SCALE, NS_PER_MS, NS_PER_S
from kmm.risk.engine import RiskLimits
from kmm.strategy.quoting import QuoteParams

C = COUNT_SCALE
DAY = 86_400 * NS_PER_S
T0 = 1_700_006_400 * NS_PER_S  # 00:00 UTC + 0 (a day boundary)
MS = NS_PER_MS


def cfg(**kw: object) -> RunConfig:
    fill = FillConfig(model="trade_through", place_latency_ns=0, cancel_latency_ns=0, report_latency_ns=0)
    return RunConfig(fill=fill, decision_interval_ns=0, record_fills=True, **kw)  # type: ignore[arg-type]


def two_markets(a_close: int) -> EventLogBuilder:
    b = EventLogBuilder("t")
    b.set_market(MarketMeta(ticker="KXA-1", result="no", close_ts=a_close))
    b.set_market(MarketMeta(ticker="KXB-1", result="yes", close_ts=T0 + 3 * DAY))
    b.snapshot(T0, "KXA-1", [(4800, 100 * C)], [(5200, 100 * C)])
    b.snapshot(T0, "KXB-1", [(4800, 100 * C)], [(5200, 100 * C)])
    b.trade(T0 + 10 * MS, "KXA-1", 4900, 50 * C, taker_yes=False)  # fills our 0.50 bid in A: 50 contracts
    return b


def test_a_settled_market_releases_its_exposure() -> None:
    # A's filled $25 leaves B no room under the opening cap (75 % of $33.50 = $25.125) until A settles.
    # (One decision per market per hour: each market's next decision is its event the next day.)
    limits = RiskLimits(max_exposure=33_500_000)
    policy = StaticQuotes(bid=5000, bid_n=50 * C, risk=limits)
    hourly = RunConfig(fill=FillConfig(model="trade_through", place_latency_ns=0, cancel_latency_ns=0,
                                       report_latency_ns=0), decision_interval_ns=3_600 * NS_PER_S, record_fills=True)
    for a_close, b_trades in ((T0 + DAY // 2, True), (T0 + 2 * DAY, False)):
        b = two_markets(a_close)
        b.delta(T0 + DAY, "KXB-1", 0, 4800, C)
        b.trade(T0 + DAY + 10 * MS, "KXB-1", 4900, 10 * C, taker_yes=False)
        res = run(b.build(), policy, hourly)
        fills_b = [f for f in res.fills if f[1] == 1]
        assert bool(fills_b) == b_trades, (a_close, res.risk)
    # settled NO: the $25 paid for A is lost and booked, with the maker fee an unknown series is assumed to
    # charge (0.0175 × 50 × 0.5 × 0.5 = $0.21875 → $0.22 to the cent)
    assert res.per_market["fees"][0, 0] == 220_000
    assert res.per_market["pnl_settled"][0, 0] == -25 * MONEY_SCALE - 220_000


def test_daily_loss_halt_resets_next_day_unless_latched_and_is_reported() -> None:
    for latch in (False, True):
        policy = StaticQuotes(bid=5000, bid_n=50 * C,
                              risk=RiskLimits(max_daily_loss=10 * MONEY_SCALE, daily_loss_unlatch=not latch))
        b = two_markets(T0 + 2 * DAY)
        b.snapshot(T0 + 60 * NS_PER_S, "KXA-1", [(2800, 100 * C)], [(3000, 100 * C)])  # A marked at 29c: −$10.50
        b.delta(T0 + 61 * NS_PER_S, "KXB-1", 0, 4800, C)  # B decides while halted: denied
        b.delta(T0 + DAY + NS_PER_S, "KXB-1", 0, 4800, C)  # next day
        b.trade(T0 + DAY + 2 * NS_PER_S, "KXB-1", 4900, 10 * C, taker_yes=False)
        res = run(b.build(), policy, cfg(resume_next_day=False))  # the engine's own option, no operator
        r = res.risk[0]
        assert r["halts"] >= 1 and r["first_halt"]["reason"] == "daily_loss_breach"
        assert r["first_halt"]["market"] == "KXA-1" and r["first_halt"]["ts_ns"] >= T0 + 60 * NS_PER_S
        fills_b = [f for f in res.fills if f[1] == 1]
        assert bool(fills_b) != latch
        assert (r["halt_resets"] == 0) == latch


def test_a_position_breach_halt_is_resumed_the_next_day_unless_latched() -> None:
    """Two prints within the report latency fill 30 against a 20 limit: HALTED (position breach). The
    market settles; the next day the operator resumes a halt that no longer holds, so one overshoot
    does not end the run; with resume_next_day off it latches as live without an operator."""
    b = two_markets(T0 + DAY // 2)
    b.trade(T0 + 30 * MS, "KXA-1", 4900, 15 * C, taker_yes=False)
    for d in (1, 2):
        b.delta(T0 + d * DAY + NS_PER_S, "KXB-1", 0, 4800, C)
        b.trade(T0 + d * DAY + 2 * NS_PER_S, "KXB-1", 4900, 10 * C, taker_yes=False)
    policy = StaticQuotes(bid=5000, bid_n=15 * C, risk=RiskLimits(position_limit=20 * C))
    fill = FillConfig(model="trade_through", place_latency_ns=0, cancel_latency_ns=0, report_latency_ns=100 * MS)
    for resume in (True, False):
        res = run(b.build(), policy, RunConfig(fill=fill, decision_interval_ns=0, record_fills=True,
                                               resume_next_day=resume))
        r = res.risk[0]
        assert r["first_halt"]["reason"] == "position_breach" and r["first_halt"]["market"] == "KXA-1"
        assert res.per_market["position"][0, 0] == 30 * C
        # day 1 begins with A's settlement reaching risk while the breach still holds: refused; day 2 resumes
        assert [f[0] for f in res.fills if f[1] == 1] == ([T0 + 2 * DAY + 2 * NS_PER_S] if resume else [])
        assert (r["halt_resets"], r["latched_at_end"]) == ((1, "") if resume else (0, "position_breach"))


def test_after_a_halt_clears_every_market_quotes_again_without_waiting_for_its_next_event() -> None:
    """A daily-loss halt on day 0 cancels B's bid too. Risk sees day 1 begin: the operator resumes, and
    every market quotes again within the quoter's refresh — so B's only print of day 1, ten hours in,
    meets a resting bid. Latched, B is never quoted again."""
    b = EventLogBuilder("t")
    b.set_market(MarketMeta(ticker="KXA-1", result="no", close_ts=T0 + 3 * DAY))
    b.set_market(MarketMeta(ticker="KXB-1", result="yes", close_ts=T0 + 3 * DAY))
    b.snapshot(T0, "KXA-1", [(4800, 100 * C)], [(5200, 100 * C)])
    b.snapshot(T0, "KXB-1", [(4800, 100 * C)], [(5200, 100 * C)])
    b.trade(T0 + 10 * MS, "KXA-1", 4900, 50 * C, taker_yes=False)  # our 0.50 bid in A: 50 contracts
    b.snapshot(T0 + 60 * NS_PER_S, "KXA-1", [(2800, 100 * C)], [(3000, 100 * C)])  # marked at 29c: −$10.50
    b.trade(T0 + DAY + 10 * 3_600 * NS_PER_S, "KXB-1", 4900, 10 * C, taker_yes=False)
    policy = StaticQuotes(bid=5000, bid_n=50 * C, risk=RiskLimits(max_daily_loss=10 * MONEY_SCALE))
    for resume in (True, False):
        res = run(b.build(), policy, cfg(resume_next_day=resume))
        r = res.risk[0]
        assert r["first_halt"]["reason"] == "daily_loss_breach" and r["halt_resets"] == int(resume)
        assert [f[0] for f in res.fills if f[1] == 1] == ([T0 + DAY + 10 * 3_600 * NS_PER_S] if resume else [])


def test_a_fill_makes_the_quoter_quote_again_at_once() -> None:
    """A fill consumes our 10-lot bid; the quoter requotes on the fill report (live: on every fill), not
    at the market's next decision (here two hours on), so a print an hour later meets a fresh bid."""
    b = EventLogBuilder("t")
    b.set_market(MarketMeta(ticker="KXT-1", result="yes"))
    b.trade(T0, "KXT-1", 5000, 10 * C, taker_yes=True)
    b.trade(T0 + NS_PER_S, "KXT-1", 3900, 10 * C, taker_yes=False)  # through our 0.40 bid: filled
    b.trade(T0 + 3_600 * NS_PER_S, "KXT-1", 3900, 10 * C, taker_yes=False)  # through the refreshed bid
    fill = FillConfig(model="trade_through", place_latency_ns=0, cancel_latency_ns=0, report_latency_ns=5 * MS)
    res = run(b.build(), StaticQuotes(bid=4000, bid_n=10 * C),
              RunConfig(fill=fill, decision_interval_ns=7_200 * NS_PER_S, record_fills=True))
    assert [(f[0], f[5]) for f in res.fills] == [(T0 + NS_PER_S, 10 * C), (T0 + 3_600 * NS_PER_S, 10 * C)]


def test_fill_reports_arrive_late_so_the_quoter_overshoots_like_live() -> None:
    params = QuoteParams(gamma=0.05, kappa=5.0, base_count=10 * C, max_position=10 * C)
    for latency_ms, expected in ((0, 10 * C), (500, 20 * C)):
        b = EventLogBuilder("t")
        b.set_market(MarketMeta(ticker="KXA-1"))
        b.snapshot(T0, "KXA-1", [(4800, 100 * C)], [(5200, 100 * C)])
        b.trade(T0 + 10 * MS, "KXA-1", 4700, 10 * C, taker_yes=False)
        b.delta(T0 + 20 * MS, "KXA-1", 1, 5300, C)  # an event: the quoter decides again
        b.trade(T0 + 100 * MS, "KXA-1", 4700, 10 * C, taker_yes=False)
        fill = FillConfig(model="trade_through", place_latency_ns=0, cancel_latency_ns=0,
                          report_latency_ns=latency_ms * MS)
        res = run(b.build(), ASPolicy(params), RunConfig(fill=fill, decision_interval_ns=0, record_fills=True))
        assert res.per_market["position"][0, 0] == expected, latency_ms


def test_the_write_budget_keeps_the_previous_quotes_resting() -> None:
    """Risk's write budget pays for the first quote only; when the book moves, the new quote is kept at
    the previous approval (the live engine's RATE_LIMITED resize, not a denial): the old 49¢ bid keeps
    resting and the falling book fills it. With budget to spare the bid follows the book to 46¢."""
    def tape() -> EventLogBuilder:
        b = EventLogBuilder("t")
        b.set_market(MarketMeta(ticker="KXA-1"))
        b.snapshot(T0, "KXA-1", [(4800, 100 * C)], [(5200, 100 * C)])
        b.snapshot(T0 + NS_PER_S, "KXA-1", [(4500, 100 * C)], [(4900, 100 * C)])  # the model moves
        b.trade(T0 + 2 * NS_PER_S, "KXA-1", 4000, 5 * C, taker_yes=False)  # through any bid we had
        return b

    params = QuoteParams(gamma=0.1, kappa=2.0)
    for limits, price in ((RiskLimits(rate_capacity=20.0, rate_per_s=1e-9, request_cost=10.0), 4900),
                          (RiskLimits(), 4600)):
        res = run(tape().build(), ASPolicy(params, sigma_c=5.0, risk=limits), cfg())
        assert (res.risk[0]["rate_limited"] > 0) == (price == 4900) and not res.risk[0]["denials"]
        assert [f[4] for f in res.fills] == [price]


def test_trade_only_tapes_fill_conservatively_by_default() -> None:
    def tape() -> EventLogBuilder:
        b = EventLogBuilder("t")
        b.set_market(MarketMeta(ticker="KXT-1", result="yes"))
        b.trade(T0, "KXT-1", 5000, 10 * C, taker_yes=True)
        b.trade(T0 + NS_PER_S, "KXT-1", 4000, 30 * C, taker_yes=False)  # at our 0.40 bid
        b.trade(T0 + 2 * NS_PER_S, "KXT-1", 3900, 4 * C, taker_yes=False)  # through it
        return b

    base = FillConfig(place_latency_ns=0, report_latency_ns=0)
    pol = StaticQuotes(bid=4000, bid_n=100 * C)
    through = run(tape().build(), pol, RunConfig(fill=base, record_fills=True))
    assert [f[5] for f in through.fills] == [4 * C]  # only the print through our price
    assert bool(through.trade_only[0])
    queue = FillConfig(place_latency_ns=0, report_latency_ns=0, trade_only_model="queue",
                       trade_only_queue_ahead=25 * C)
    q = run(tape().build(), pol, RunConfig(fill=queue, record_fills=True))
    assert [f[5] for f in q.fills] == [5 * C, 4 * C]  # 30 at our price, 25 assumed ahead of us


def test_risk_marks_a_trade_only_market_at_its_last_print() -> None:
    """With no book, risk's mark is the last print (the mid the quotes are made around), not the first
    fill's price held for good: 50 bought at 0.50 while the prints fall to 0.20 is a $15 loss on the day,
    which breaches a $10 daily-loss limit (settling YES later, it would never show as a loss)."""
    b = EventLogBuilder("t")
    b.set_market(MarketMeta(ticker="KXT-1", result="yes", close_ts=T0 + DAY))
    b.trade(T0, "KXT-1", 5000, 10 * C, taker_yes=True)
    b.trade(T0 + NS_PER_S, "KXT-1", 4900, 50 * C, taker_yes=False)  # through our 0.50 bid: 50 filled
    for k, px in enumerate((4000, 3000, 2000)):
        b.trade(T0 + (2 + k) * NS_PER_S, "KXT-1", px, C, taker_yes=True)  # buyers' prints: none fill a bid
    pol = StaticQuotes(bid=5000, bid_n=50 * C, risk=RiskLimits(max_daily_loss=10 * MONEY_SCALE))
    res = run(b.build(), pol, cfg())
    assert res.fills[0][5] == 50 * C
    r = res.risk[0]
    assert r["halts"] >= 1 and r["first_halt"]["reason"] == "daily_loss_breach", r
    assert r["first_halt"]["ts_ns"] <= T0 + 4 * NS_PER_S and r["first_halt"]["market"] == "KXT-1", r
