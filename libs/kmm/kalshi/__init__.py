"""Kalshi Trade API v2 venue library (Hummingbot-style venue folder).

- ``constants``: hosts, path templates, rate-limit tiers and costs, WS channels;
- ``auth``: request signing; ``wire``: JSON ↔ fixed-point dataclasses; ``errors``: classified failures;
- ``ratelimit``: read/write token buckets; ``book``: local order book;
- ``rest``: async REST client (:class:`kmm.kalshi.rest.KalshiRest`);
- ``ws``: WebSocket client (:class:`kmm.kalshi.ws.KalshiWs`).

Submodules are imported explicitly (``from kmm.kalshi.rest import KalshiRest``) so that a user of
``wire`` alone does not load httpx or websockets.
"""
