"""Bench: Kalshi WS frame handling (JSON decode → typed events → local books) on the real DEMO session.

Replays /work/shared/data/ws_fixtures/DEMO_env_ws_session_2026-07-01.jsonl.gz (skips when absent)
through :class:`kmm.kalshi.ws.FeedState` and ends by printing one JSON line of figures.
"""

import gzip
import json
import sys
import time
from pathlib import Path

from kmm.kalshi import wire
from kmm.kalshi.ws import FeedState

DEMO = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "ws_fixtures" / (
    "DEMO_env_ws_session_2026-07-01.jsonl.gz")


def main(rounds: int = 20) -> None:
    if not DEMO.exists():
        print(json.dumps({"bench": "kalshi_client", "skipped": "DEMO fixture absent"}))
        return
    with gzip.open(DEMO, "rt") as fh:
        lines = [ln for ln in fh.read().splitlines() if ln.strip()]
    frames = 0
    start = time.perf_counter()
    for _ in range(rounds):
        state = FeedState()
        for ln in lines:
            state.handle(wire.loads(ln))
            frames += 1
    elapsed = time.perf_counter() - start
    print(json.dumps({"bench": "kalshi_client", "frames": frames, "seconds": round(elapsed, 3),
                      "frames_per_s": round(frames / elapsed), "us_per_frame": round(1e6 * elapsed / frames, 1)}))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
