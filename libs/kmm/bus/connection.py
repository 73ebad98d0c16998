"""Redis connections for services: credentials from settings, binary replies, no read timeout.

A socket timeout shorter than a blocking XREADGROUP makes redis-py re-issue the read, so consumer
connections have none; liveness of the socket is covered by TCP keepalive and health checks.
A command that fails on a connection error is retried once on a fresh connection (a pooled
connection may be dead after Redis restarted); longer outages are the callers' to ride out
(:mod:`kmm.bus.retry`).
"""

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff


def connect(url: str, username: str | None = None, password: str | None = None) -> aioredis.Redis:
    tcp = {} if url.startswith("unix:") else {"socket_keepalive": True}
    return aioredis.Redis.from_url(
        url,
        username=username,
        password=password,
        decode_responses=False,
        socket_timeout=None,
        socket_connect_timeout=5,
        health_check_interval=30,
        retry=Retry(NoBackoff(), 1),
        protocol=2,
        **tcp,
    )
