"""The local runner's live terminal view, built from each service's ``/status`` and ``/readyz``.

On a terminal the runner redraws this table every second; otherwise (CI, pipes) it prints one
compact line every few seconds so logs stay readable.
"""

import shutil
import sys
from typing import Any

import httpx

from kmm.messages.units import count_to_fp, price_to_dollars

from .supervisor import Supervisor


def fetch(client: httpx.Client, port: int | None, path: str) -> dict[str, Any] | None:
    if port is None:
        return None
    try:
        r = client.get(f"http://127.0.0.1:{port}{path}", timeout=0.5)
        return r.json()
    except (httpx.HTTPError, ValueError):
        return None


def collect(sup: Supervisor, client: httpx.Client) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name, child in sup.children.items():
        port = child.spec.http_port
        ready = fetch(client, port, "/readyz")
        alive = sup.alive(name)
        out[name] = {
            "alive": alive,
            "ready": bool(ready and ready.get("ready")) if port is not None else alive,  # redis: up is ready
            "restarts": child.restarts,
            "status": fetch(client, port, "/status") or {},
        }
    return out


def _px(p: int | None) -> str:
    return price_to_dollars(p)[1:] if p else "  -  "


def render(state: dict[str, dict[str, Any]], elapsed: float, title: str) -> str:
    width = shutil.get_terminal_size((110, 40)).columns
    lines = [f"kmm — {title} — {elapsed:6.1f}s".ljust(width)[:width], ""]
    lines.append(f"{'service':<11} {'up':<4} {'ready':<6} {'restarts':<9} summary")
    for name, s in state.items():
        summary = s["status"].get("summary", "")
        lines.append(
            f"{name:<11} {'yes' if s['alive'] else 'NO':<4} {'yes' if s['ready'] else 'no':<6} "
            f"{s['restarts']:<9} {summary}"[:width]
        )
    markets = state.get("quoter", {}).get("status", {}).get("markets", [])
    positions = state.get("risk", {}).get("status", {}).get("positions", {})
    if markets:
        lines += ["", f"{'market':<28} {'book bid':>8} {'book ask':>8} {'our bid':>8} {'our ask':>8} {'position':>10}"]
        for m in markets[:20]:
            pos = positions.get(m["market"], 0)
            lines.append(
                f"{m['market'][:28]:<28} {_px(m.get('best_bid')):>8} {_px(m.get('best_ask')):>8} "
                f"{_px(m.get('bid')):>8} {_px(m.get('ask')):>8} {count_to_fp(pos):>10}"
            )
    return "\n".join(lines)


def draw(text: str) -> None:
    """Redraw the whole terminal with ``text``."""
    sys.stdout.write("\x1b[H\x1b[2J" + text + "\n")
    sys.stdout.flush()
