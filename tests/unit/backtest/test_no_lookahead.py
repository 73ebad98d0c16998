"""The policy cannot see results or future data: flipping every result and rewriting every event after
a cut leaves every fill (time, price, size) and every position before the cut unchanged — for the
A–S policy with the live two-scale σ, the guard (fills and prints) and risk on, in a multi-market run."""

import numpy as np

from kmm.backtest.engine import RunConfig, run
from kmm.backtest.eventlog import TRADE, EventLog
from kmm.backtest.policy import ASPolicy
from kmm.backtest.synthetic import generate
from kmm.messages.units import NS_PER_S
from kmm.risk.engine import RiskLimits
from kmm.strategy.quoting import QuoteParams


def test_no_result_and_no_future_event_reaches_a_decision() -> None:
    log = generate(seed=21, n_markets=3, events_per_market=6000, duration_s=1800)
    ts = log.events["ts"]
    cut = int(ts[len(ts) // 2])
    altered = log.events.copy()
    later = altered["ts"] > cut
    rng = np.random.default_rng(0)
    trades = later & (altered["kind"] == TRADE)
    altered["price"][trades] = np.clip(altered["price"][trades] + rng.integers(-800, 800, trades.sum()) // 100 * 100,
                                       100, 9900)
    altered["qty"][trades] = altered["qty"][trades] * 3
    flipped = [m.__class__(**{**m.__dict__, "result": {"yes": "no", "no": "yes"}.get(m.result, "")})
               for m in log.markets]
    other = EventLog(altered, flipped, dict(log.meta))
    params = QuoteParams(gamma=0.2, kappa=2.5, reduce_before_h=0.0, jump_frac=0.01, flow_threshold=0.5, flow_min=1.0)
    policy = ASPolicy(params, sigma_estimator="tsrv", risk=RiskLimits())
    cfg = RunConfig(decision_interval_ns=0, record_fills=True, record_inventory=True)
    a, b = run(log, policy, cfg), run(other, policy, cfg)
    before_a = [f for f in a.fills if f[0] <= cut]
    before_b = [f for f in b.fills if f[0] <= cut]
    assert len(before_a) >= 5
    assert before_a == before_b
    assert [x for x in a.inventory if x[0] <= cut] == [x for x in b.inventory if x[0] <= cut]
    assert a.fills != b.fills  # the rewritten future does change what happens after the cut
    assert all(m.close_ts > cut + NS_PER_S for m in log.markets)  # no market settled before the cut
