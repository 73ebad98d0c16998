"""Redis ACL file generated from the topology table: the veto, enforced by the broker.

One user per service plus ``admin`` (bootstrap, operators) and ``probe`` (health checks); the
default user is off (nobody can authenticate as it; its rules allow what the AOF replay of MULTI/EXEC
needs, see :func:`render`). A service user may:
- XADD only to the streams the table says it writes (its own ``dlq:<service>`` and copies of its
  streams included), and read them back (XREVRANGE), so a restarted service can recover what it
  already published; MULTI/EXEC/DISCARD, so a message and its copies (or a stream entry and a
  state update) go in atomically — every command inside is still checked;
- XREAD (never write) its fan-out inputs;
- run its consumer group (XREADGROUP/XACK/XCLAIM/XAUTOCLAIM/XPENDING/XINFO GROUPS), read the stream
  back either way (XRANGE/XREVRANGE: the gateway's newest approvals at its start) and
  ``XGROUP CREATE`` it on its own group streams only, in a selector that has no XADD, so reading
  ``ord:approved`` never grants writing it. A group stream has exactly one group (topology), so a
  service can never touch another service's group;
- HSET/HGET/HGETALL/HDEL/HINCRBY/DEL its own ``state:<service>`` hash, and no other key.
No service user gets XDEL, XTRIM, XSETID, any other XGROUP subcommand or FLUSHALL. Passwords
appear only as SHA-256 hashes, from ``KMM_REDIS_PASSWORD_<USER>`` or ``<secrets-dir>/<user>.password``;
``kmm acl`` creates random password files for users that have none. (Redis 7.0 refuses comments in
an ACL file, so the generated file carries none: regenerate it, never edit it.)
"""

import argparse
import hashlib
import os
import secrets
import sys
from collections.abc import Iterable
from pathlib import Path

from .topology import SERVICES, TOPOLOGY, StreamSpec, state_key

ADMIN = "admin"
PROBE = "probe"
USERS = (ADMIN, PROBE, *SERVICES)
GROUP_COMMANDS = (
    "+xreadgroup", "+xack", "+xautoclaim", "+xclaim", "+xpending", "+xrange", "+xrevrange", "+xinfo|groups",
    "+xgroup|create",
)
STATE_COMMANDS = ("+hset", "+hget", "+hgetall", "+hdel", "+hincrby", "+del")
TRANSACTION_COMMANDS = ("+multi", "+exec", "+discard")


def password_hash(password: str) -> str:
    return hashlib.sha256(password.encode()).hexdigest()


def service_rules(service: str, topology: Iterable[StreamSpec] = TOPOLOGY) -> str:
    specs = tuple(topology)
    writes = [s.name for s in specs if s.writer == service]
    fanout = [s.name for s in specs if service in s.fanout_readers and s.writer != service]
    group_in = [s.name for s in specs if service in s.groups]
    parts = ["resetkeys", "resetchannels", "-@all", "+ping", *TRANSACTION_COMMANDS]
    if writes:
        parts += ["+xadd", "+xlen", "+xrevrange"]
        parts += [f"~{w}" for w in writes]
    if fanout:
        parts += ["+xread"] + ([] if writes else ["+xrevrange"])
        parts += [f"%R~{f}" for f in fanout]
    if group_in:
        parts.append("(" + " ".join([*(f"~{g}" for g in group_in), *GROUP_COMMANDS]) + ")")
    parts.append("(" + " ".join([f"~{state_key(service)}", *STATE_COMMANDS]) + ")")
    return " ".join(parts)


def render(hashes: dict[str, str], topology: Iterable[StreamSpec] = TOPOLOGY) -> str:
    specs = tuple(topology)
    lines = [
        # Off: no client can ever authenticate as it. Its rules are what Redis 7.0's AOF replay needs:
        # the replay runs as the default user and re-checks the ACL at EXEC, so with -@all every
        # MULTI/EXEC in the AOF is dropped after a crash (redis/redis#14541).
        "user default off resetchannels ~* &* +@all",
        f"user {ADMIN} on #{hashes[ADMIN]} ~* &* +@all",
        f"user {PROBE} on #{hashes[PROBE]} resetkeys resetchannels -@all +ping",
    ]
    lines += [f"user {svc} on #{hashes[svc]} {service_rules(svc, specs)}" for svc in SERVICES]
    return "\n".join(lines) + "\n"


def load_passwords(secrets_dir: Path | None, create: bool = True) -> dict[str, str]:
    """Password per user from the environment or ``<dir>/<user>.password`` (created if missing)."""
    out: dict[str, str] = {}
    for user in USERS:
        env = os.environ.get(f"KMM_REDIS_PASSWORD_{user.upper()}")
        if env:
            out[user] = env
            continue
        if secrets_dir is None:
            raise SystemExit(f"no password for Redis user {user!r}: set KMM_REDIS_PASSWORD_{user.upper()}")
        path = secrets_dir / f"{user}.password"
        if not path.exists():
            if not create:
                raise SystemExit(f"no password file {path}")
            secrets_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            path.write_text(secrets.token_urlsafe(24))
            path.chmod(0o600)
        out[user] = path.read_text().strip()
    return out


def write_acl(out: Path, secrets_dir: Path | None) -> Path:
    passwords = load_passwords(secrets_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render({u: password_hash(p) for u, p in passwords.items()}))
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("deploy/redis/users.acl"))
    parser.add_argument("--secrets-dir", type=Path, default=Path(os.environ.get("KMM_SECRETS_DIR", "var/secrets")),
                        help="where <user>.password files are read (and created when missing)")


def main(args: argparse.Namespace) -> int:
    path = write_acl(args.out, args.secrets_dir)
    print(f"wrote {path} ({len(USERS)} users)", file=sys.stderr)
    return 0
