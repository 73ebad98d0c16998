"""Create every consumer group in the topology table (``kmm bootstrap``); services never do.

Groups start at ``0`` so entries published before the bootstrap are still delivered.
"""

import argparse
import asyncio
import os
import sys

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from .connection import connect, read_secret
from .topology import groups


async def bootstrap(redis: aioredis.Redis) -> list[tuple[str, str]]:
    """Create missing groups; return the (stream, group) pairs created now."""
    created = []
    for stream, group in groups():
        try:
            await redis.xgroup_create(stream, group, id="0", mkstream=True)
            created.append((stream, group))
        except ResponseError as exc:
            if not str(exc).startswith("BUSYGROUP"):
                raise
    return created


async def missing_groups(redis: aioredis.Redis, streams: tuple[str, ...], group: str) -> list[str]:
    """Streams among ``streams`` on which ``group`` does not exist (for readiness checks)."""
    missing = []
    for s in streams:
        try:
            info = await redis.xinfo_groups(s)
        except ResponseError:
            missing.append(s)
            continue
        names = {(g["name"].decode() if isinstance(g["name"], bytes) else g["name"]) for g in info}
        if group not in names:
            missing.append(s)
    return missing


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--redis-url", default=os.environ.get("KMM_REDIS_URL", "redis://127.0.0.1:6379"))
    parser.add_argument("--username", default=os.environ.get("KMM_REDIS_USERNAME", "admin"))
    parser.add_argument("--password-file", default=os.environ.get("KMM_REDIS_PASSWORD_FILE"))


def main(args: argparse.Namespace) -> int:
    password = read_secret(os.environ.get("KMM_REDIS_PASSWORD"), args.password_file)

    async def go() -> list[tuple[str, str]]:
        r = connect(args.redis_url, args.username, password)
        try:
            return await bootstrap(r)
        finally:
            await r.aclose()

    created = asyncio.run(go())
    print(f"bootstrap: {len(created)} groups created, {len(groups()) - len(created)} already present",
          file=sys.stderr)
    return 0
