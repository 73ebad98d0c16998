"""Create every consumer group in the topology table (``kmm bootstrap``).

Each service also ensures its own groups when it starts (:func:`ensure_group`, allowed by its ACL
on its own group streams only), so the bootstrap is a convenience for operators and start-up
ordering, not a requirement. Groups start at ``0`` so entries published before them are delivered.
"""

import argparse
import asyncio
import os
import sys
from pathlib import Path

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from kmm.chassis.settings import SettingError, read_setting_file

from .connection import connect
from .topology import groups


async def ensure_group(redis: aioredis.Redis, stream: str, group: str) -> bool:
    """``XGROUP CREATE stream group 0 MKSTREAM``; True if created now, False if it existed (BUSYGROUP)."""
    try:
        await redis.xgroup_create(stream, group, id="0", mkstream=True)
    except ResponseError as exc:
        if str(exc).startswith("BUSYGROUP"):
            return False
        raise
    return True


async def bootstrap(redis: aioredis.Redis) -> list[tuple[str, str]]:
    """Create missing groups; return the (stream, group) pairs created now."""
    return [(stream, group) for stream, group in groups() if await ensure_group(redis, stream, group)]


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
    password = os.environ.get("KMM_REDIS_PASSWORD")
    if args.password_file:  # the file wins, as for the services
        try:
            password = read_setting_file("KMM_REDIS_PASSWORD_FILE (--password-file)", Path(args.password_file))
        except SettingError as exc:
            print(f"bootstrap: {exc}; nothing was created", file=sys.stderr)
            return 2

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
