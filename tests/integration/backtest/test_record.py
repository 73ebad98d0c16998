"""kmm record via a real Redis: publish md:* messages, record them, import, replay."""

import threading

import redis

from kmm.backtest.engine import FillConfig, RunConfig, run
from kmm.backtest.eventlog import BID
from kmm.backtest.recorder import record
from kmm.bus.publisher import FIELD
from kmm.bus.topology import MD_BOOK, MD_MARKET, MD_TRADE
from kmm.messages import BookUpdate, MarketInfo, Trade, encode
from kmm.messages.units import NS_PER_S
from tests.helpers import eventually
from tests.unit.backtest.stubs import StaticPolicy

T0 = 1_700_000_000 * NS_PER_S


def test_record_import_replay_round_trip(redis_url: str) -> None:
    r = redis.Redis.from_url(redis_url)
    t = "KXREC-1"
    r.xadd(MD_MARKET, {FIELD: encode(MarketInfo(market=t, result="yes", close_ts=T0 + 60 * NS_PER_S, ts_init=T0,
                                                fee_type="quadratic"))})  # no maker fee: the fill below pays none
    r.xadd(MD_BOOK, {FIELD: encode(BookUpdate(market=t, bids=((4000, 10_000),), asks=((4500, 10_000),),
                                              ts_init=T0 + 1))})
    box: dict = {}
    th = threading.Thread(target=lambda: box.update(
        log=record(redis_url, from_start=True, max_messages=4, duration_s=20, block_ms=50)))
    th.start()
    # messages published while recording are picked up too
    r.xadd(MD_TRADE, {FIELD: encode(Trade(market=t, trade_id="a", price=3900, count=500, taker_side="no",
                                          ts_init=T0 + 2_000_000))})
    r.xadd(MD_BOOK, {FIELD: b"not msgpack"})
    th.join(timeout=30)
    eventually(lambda: "log" in box, what="recorder finished")
    log = box["log"]
    assert log.meta["messages"] == 4
    assert sum(log.meta["skipped"].values()) == 1
    assert log.markets[0].result == "yes" and log.markets[0].fee_type == "quadratic"
    res = run(log, StaticPolicy(bid=4200, bid_n=1000),
              RunConfig(fill=FillConfig(model="trade_through", place_latency_ns=0), record_fills=True))
    assert res.fills == [(T0 + 2_000_000, 0, 0, BID, 4200, 500, 0)]
    assert res.per_market["pnl_settled"][0, 0] == 500 * (10_000 - 4200)
    r.close()
