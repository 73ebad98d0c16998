"""Start a private ``redis-server`` from PATH on a temp unix socket or a free loopback port.

Used by ``kmm run``, the test fixtures and the benchmarks, so none of them touches a Redis that
is already running on this machine. With ``appendonly`` the data lives in an AOF in the same
directory, so :meth:`RedisProcess.restart` (same socket or port, same directory) brings it back.
"""

import random
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import redis


class RedisStartError(RuntimeError):
    pass


EPHEMERAL_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
LOWEST_PORT = 20_000


def ephemeral_range() -> tuple[int, int]:
    """The ports the kernel hands out to outgoing connections (Linux's default when unreadable)."""
    try:
        lo, hi = (int(x) for x in EPHEMERAL_RANGE_FILE.read_text().split())
    except (OSError, ValueError):
        return 32768, 60999
    return lo, hi


def free_port(rng: random.Random | None = None) -> int:
    """A port free on 127.0.0.1 now and outside the ephemeral range: a port the kernel picks (bind to 0)
    comes from that range, and between the pick and the server's own bind any outgoing connection of
    the machine may take it as its local port (seen: a restarted gateway that could not bind, three
    times in two seconds, and a run stopped for it)."""
    lo, hi = ephemeral_range()
    outside = [*range(LOWEST_PORT, lo), *range(max(hi + 1, LOWEST_PORT), 65536)]
    for port in (rng or random.Random()).sample(outside, min(200, len(outside))):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:  # every port out there taken: the kernel's
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def redis_server_binary() -> str | None:
    return shutil.which("redis-server")


def redis_argv(
    binary: str,
    d: Path,
    *,
    port: int = 0,
    aclfile: Path | None = None,
    appendonly: bool = False,
    appendfsync: str = "everysec",
) -> list[str]:
    """The redis-server command line: loopback only, ``noeviction``, logs and data in ``d``;
    a unix socket ``d/redis.sock`` when ``port`` is 0."""
    args = [
        binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
        "--appendonly", "yes" if appendonly else "no", "--dir", str(d),
        "--maxmemory-policy", "noeviction", "--loglevel", "warning", "--logfile", str(d / "redis.log"),
    ]
    if appendonly:
        args += ["--appendfsync", appendfsync]
    if not port:
        args += ["--unixsocket", str(d / "redis.sock"), "--unixsocketperm", "700"]
    if aclfile is not None:
        args += ["--aclfile", str(aclfile)]
    return args


def wait_until_up(
    url: str, username: str | None, password: str | None, timeout: float, alive: Callable[[], bool] | None = None
) -> None:
    """Poll PING until it answers (raises RedisStartError at the deadline or when ``alive()`` is False)."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if alive is not None and not alive():
            raise RedisStartError("redis-server exited while starting")
        try:
            c = redis.Redis.from_url(url, username=username, password=password)
            try:
                c.ping()
                return
            finally:
                c.close()
        except (redis.ConnectionError, redis.ResponseError, FileNotFoundError) as exc:
            last = exc
            time.sleep(0.02)  # poll interval while the server starts (or loads its AOF)
    raise RedisStartError(f"redis-server did not answer within {timeout}s: {last}")


@dataclass
class RedisProcess:
    """A running private redis-server. ``url`` is ``unix://...`` or ``redis://127.0.0.1:PORT``."""

    proc: subprocess.Popen
    dir: Path
    url: str
    port: int | None
    aclfile: Path | None = None
    argv: list[str] = field(default_factory=list)
    admin_password: str | None = field(default=None, repr=False)
    _owned_dir: bool = field(default=False, repr=False)

    def client(self, username: str | None = None, password: str | None = None) -> redis.Redis:
        return redis.Redis.from_url(self.url, username=username, password=password)

    def kill(self) -> None:
        """SIGKILL (no shutdown, no final fsync): what a crash looks like."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(5)

    def restart(self, timeout: float = 10.0) -> None:
        """Start again with the same command line (same socket or port, same directory and AOF)."""
        if self.proc.poll() is None:
            raise RedisStartError("redis-server is still running")
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self._wait(timeout)

    def _wait(self, timeout: float) -> None:
        user = "admin" if self.aclfile is not None else None
        try:
            wait_until_up(self.url, user, self.admin_password, timeout, alive=lambda: self.proc.poll() is None)
        except RedisStartError as exc:
            exited = self.proc.poll() is not None and self.proc.stderr is not None
            err = self.proc.stderr.read().decode(errors="replace") if exited and self.proc.stderr else ""
            log = (self.dir / "redis.log").read_text(errors="replace") if (self.dir / "redis.log").exists() else ""
            self.stop()
            raise RedisStartError(f"{exc} (exit {self.proc.returncode}): {err.strip()} {log[-2000:]}") from None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self._owned_dir:
            shutil.rmtree(self.dir, ignore_errors=True)


def start_redis(
    *,
    tcp: bool = False,
    aclfile: Path | None = None,
    workdir: Path | None = None,
    admin_password: str | None = None,
    appendonly: bool = False,
    appendfsync: str = "everysec",
    timeout: float = 10.0,
) -> RedisProcess:
    """Start redis-server; wait until it answers PING. ``admin_password`` is needed with an ACL file."""
    binary = redis_server_binary()
    if binary is None:
        raise RedisStartError("redis-server is not on PATH (apt-get install redis-server)")
    owned = workdir is None
    d = Path(tempfile.mkdtemp(prefix="kmm-redis-")) if workdir is None else workdir
    d.mkdir(parents=True, exist_ok=True)
    port = free_port() if tcp else 0
    argv = redis_argv(binary, d, port=port, aclfile=aclfile, appendonly=appendonly, appendfsync=appendfsync)
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"redis://127.0.0.1:{port}" if tcp else f"unix://{d / 'redis.sock'}"
    rp = RedisProcess(proc=proc, dir=d, url=url, port=port or None, aclfile=aclfile, argv=argv,
                      admin_password=admin_password, _owned_dir=owned)
    rp._wait(timeout)
    return rp
