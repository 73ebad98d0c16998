"""Start a private ``redis-server`` from PATH on a temp unix socket or a free loopback port.

Used by ``kmm run``, the test fixtures and the benchmarks, so none of them touches a Redis that
is already running on this machine.
"""

import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis


class RedisStartError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class RedisProcess:
    """A running private redis-server. ``url`` is ``unix://...`` or ``redis://127.0.0.1:PORT``."""

    proc: subprocess.Popen
    dir: Path
    url: str
    port: int | None
    aclfile: Path | None = None
    _owned_dir: bool = field(default=False, repr=False)

    def client(self, username: str | None = None, password: str | None = None) -> redis.Redis:
        return redis.Redis.from_url(self.url, username=username, password=password)

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


def redis_server_binary() -> str | None:
    return shutil.which("redis-server")


def start_redis(
    *,
    tcp: bool = False,
    aclfile: Path | None = None,
    workdir: Path | None = None,
    admin_password: str | None = None,
    timeout: float = 10.0,
) -> RedisProcess:
    """Start redis-server; wait until it answers PING. ``admin_password`` is needed with an ACL file."""
    binary = redis_server_binary()
    if binary is None:
        raise RedisStartError("redis-server is not on PATH (apt-get install redis-server)")
    owned = workdir is None
    d = Path(tempfile.mkdtemp(prefix="kmm-redis-")) if workdir is None else workdir
    d.mkdir(parents=True, exist_ok=True)
    sock = d / "redis.sock"
    port = free_port() if tcp else 0
    args = [
        binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
        "--dir", str(d), "--maxmemory-policy", "noeviction", "--loglevel", "warning",
        "--logfile", str(d / "redis.log"),
    ]
    if not tcp:
        args += ["--unixsocket", str(sock), "--unixsocketperm", "700"]
    if aclfile is not None:
        args += ["--aclfile", str(aclfile)]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"redis://127.0.0.1:{port}" if tcp else f"unix://{sock}"
    rp = RedisProcess(proc=proc, dir=d, url=url, port=port or None, aclfile=aclfile, _owned_dir=owned)
    user = "admin" if aclfile is not None else None
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            log = (d / "redis.log").read_text(errors="replace") if (d / "redis.log").exists() else ""
            rp.stop()
            raise RedisStartError(f"redis-server exited with {proc.returncode}: {err.strip()} {log[-2000:]}")
        try:
            c = rp.client(user, admin_password)
            c.ping()
            c.close()
            return rp
        except (redis.ConnectionError, redis.ResponseError, FileNotFoundError) as exc:
            last = exc
            time.sleep(0.02)  # poll interval while the server starts
    rp.stop()
    raise RedisStartError(f"redis-server did not answer within {timeout}s: {last}")
