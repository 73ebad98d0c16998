"""The simulator serving a replayed orderbook log: the REST book is the recording's."""

import json
from pathlib import Path

import httpx

from kmm_services.exchange.harness import simulator
from tests.helpers import eventually


def test_replayed_book_is_served(tmp_path: Path) -> None:
    log = tmp_path / "book.jsonl"
    log.write_text("\n".join(json.dumps(r) for r in [
        {"type": "orderbook_snapshot", "msg": {"market_ticker": "KXREP-1", "yes_dollars_fp": [["0.3000", "5.00"]],
                                               "no_dollars_fp": [["0.6500", "2.00"]]}},
        {"type": "orderbook_delta", "msg": {"market_ticker": "KXREP-1", "price_dollars": "0.3100",
                                            "delta_fp": "4.00", "side": "yes", "ts_ms": 1}},
    ]) + "\n")
    with simulator(n_markets=0, flow=False, replay_path=str(log)) as sim:
        def book() -> dict[str, object]:
            return httpx.get(sim.base_url + "/markets/KXREP-1/orderbook").json()["orderbook_fp"]

        eventually(lambda: book() == {"yes_dollars": [["0.3000", "5.00"], ["0.3100", "4.00"]],
                                      "no_dollars": [["0.6500", "2.00"]]}, what="replayed book")
