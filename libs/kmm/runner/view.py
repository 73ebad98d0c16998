"""Every child's readiness and ``/status`` as the runner sees them, for the run's summary.

(The live console is :mod:`.console`; the per-market views are :mod:`kmm.ops.views`.)
"""

from typing import Any

import httpx

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
