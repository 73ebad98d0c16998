"""Which system an operator command talks to, and the HTTP client that talks to it.

A target is one base URL per service plus (for halt and resume) the operator token. It comes from,
first match wins:

1. ``--url SERVICE=URL`` (repeatable; e.g. ``risk=http://127.0.0.1:8084`` after a
   ``kubectl port-forward``) and/or ``--ports-file FILE`` (what ``kmm run --ports-file`` writes:
   ``{service: port}`` on 127.0.0.1);
2. ``--workdir DIR``: the ``run.json`` a ``kmm run`` wrote into its workdir;
3. the ``[ops]`` table of the config file (``urls = {risk = "http://..."}``, ``token_file``);
4. the newest local ``kmm run`` that is still alive (:mod:`kmm.runner.discovery`).

The token is read from ``--token-file``; without it, a target named by URL (1 or 3) reads
``KMM_ADMIN_TOKEN_FILE``, else the config file's ``[ops] token_file``, and a ``kmm run`` found by its
workdir or on this machine (2 or 4) uses that run's own token file. Its value is never printed.
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from kmm.bus.topology import SERVICES
from kmm.runner.discovery import RunInfo, live_runs, state_dir

KNOWN = (*SERVICES, "exchange")


class OpsError(Exception):
    """A failure to report on stderr as one line; ``code`` is the exit status (1: refused or failed,
    2: the command cannot know what to talk to)."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class Target:
    urls: dict[str, str]
    token_file: Path | None = None
    source: str = ""
    run: RunInfo | None = None
    notes: list[str] = field(default_factory=list)

    def url(self, service: str) -> str:
        url = self.urls.get(service)
        if not url:
            raise OpsError(f"no URL for {service} ({self.source}): pass --url {service}=http://HOST:PORT", 2)
        return url.rstrip("/")

    def token(self) -> str:
        if self.token_file is None:
            raise OpsError("no operator token: pass --token-file FILE (or set KMM_ADMIN_TOKEN_FILE)", 2)
        try:
            token = self.token_file.read_text().strip()
        except OSError as exc:
            raise OpsError(f"cannot read the token file {self.token_file}: {exc.strerror or exc}", 2) from None
        if not token:
            raise OpsError(f"the token file {self.token_file} is empty", 2)
        return token


def add_target_arguments(p: argparse.ArgumentParser, json_flag: bool = True) -> None:
    g = p.add_argument_group("which system (default: the newest local `kmm run`)")
    g.add_argument("--url", action="append", default=[], metavar="SERVICE=URL",
                   help="a service's base URL, e.g. risk=http://127.0.0.1:8084; repeatable")
    g.add_argument("--ports-file", type=Path, default=None, help="the file `kmm run --ports-file` wrote")
    g.add_argument("--workdir", type=Path, default=None, help="a `kmm run` workdir (its run.json)")
    g.add_argument("--token-file", type=Path, default=None,
                   help="operator token for halt/resume (default: a kmm run's own; for --url/--ports-file and [ops] "
                        "urls, KMM_ADMIN_TOKEN_FILE, else [ops] token_file)")
    g.add_argument("--config", type=Path, default=None, help="config file (default: KMM_CONFIG)")
    g.add_argument("--timeout", type=float, default=5.0, help="seconds per request")
    if json_flag:
        p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def parse_urls(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        name, sep, url = item.partition("=")
        if not sep or name not in KNOWN or not url.startswith(("http://", "https://")):
            raise OpsError(f"--url expects SERVICE=http://HOST:PORT with SERVICE one of {', '.join(KNOWN)}; "
                           f"got {item!r}", 2)
        out[name] = url
    return out


def from_run(info: RunInfo, source: str) -> Target:
    return Target(dict(info.urls), Path(info.token_file) if info.token_file else None, source, info)


def _env_token() -> Path | None:
    env = os.environ.get("KMM_ADMIN_TOKEN_FILE")
    return Path(env) if env else None


def resolve(args: argparse.Namespace) -> Target:
    """The target the flags, the config file or the local runs name (see the module docstring)."""
    flag_token = getattr(args, "token_file", None)
    urls = parse_urls(getattr(args, "url", []) or [])
    ports_file = getattr(args, "ports_file", None)
    if urls or ports_file:
        merged: dict[str, str] = {}
        if ports_file:
            try:
                ports = json.loads(Path(ports_file).read_text())
                merged = {str(k): f"http://127.0.0.1:{int(v)}" for k, v in ports.items()}
            except (OSError, ValueError, TypeError, AttributeError) as exc:
                raise OpsError(f"cannot read the ports file {ports_file}: {exc}", 2) from None
        merged.update(urls)
        token = flag_token or _env_token() or ops_config(args).get("token_file")
        return Target(merged, Path(token) if token else None, "--url/--ports-file")
    workdir = getattr(args, "workdir", None)
    if workdir:
        try:
            info = RunInfo.load(Path(workdir) / "run.json")
        except FileNotFoundError as exc:
            raise OpsError(f"{exc} (is {workdir} a kmm run workdir whose services became ready?)", 2) from None
        t = from_run(info, f"workdir {workdir}")
        t.token_file = flag_token or t.token_file
        return t
    cfg = ops_config(args)
    if cfg.get("urls"):
        token = flag_token or _env_token() or cfg.get("token_file")
        return Target(dict(cfg["urls"]), Path(token) if token else None, f"[ops] in {cfg['_file']}")
    runs = live_runs()
    if not runs:
        raise OpsError(f"no running kmm found (looked in {state_dir() / 'runs'}): start one with `kmm run`, "
                       "or pass --url SERVICE=URL, --ports-file or --workdir", 2)
    t = from_run(runs[0], f"kmm run pid {runs[0].pid} ({runs[0].workdir})")
    if len(runs) > 1:
        t.notes.append(f"{len(runs)} local runs are alive; using the newest, pid {runs[0].pid} "
                       "(--workdir picks another)")
    t.token_file = flag_token or t.token_file
    return t


def ops_config(args: argparse.Namespace) -> dict[str, Any]:
    """The config file's ``[ops]`` table (empty without a config file)."""
    from kmm.chassis.config import ConfigError, load_config

    try:
        cfg = load_config(getattr(args, "config", None))
    except ConfigError as exc:
        raise OpsError(str(exc), 2) from None
    if cfg is None:
        return {}
    return cfg.ops()


class OpsClient:
    """Blocking HTTP to the services of one target; every failure becomes an :class:`OpsError`."""

    def __init__(self, target: Target, timeout: float = 5.0) -> None:
        self.target = target
        self.http = httpx.Client(timeout=timeout)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> OpsClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, service: str, method: str, path: str, *, operator: bool = False, ok: tuple[int, ...] = (200,),
                **kw: Any) -> httpx.Response:
        url = self.target.url(service) + path
        headers = dict(kw.pop("headers", {}) or {})
        if operator:
            headers["Authorization"] = f"Bearer {self.target.token()}"
        try:
            r = self.http.request(method, url, headers=headers, **kw)
        except httpx.ConnectError as exc:
            raise OpsError(f"cannot reach {service} at {self.target.url(service)}: {_reason(exc)} "
                           f"({self.target.source})") from None
        except httpx.TimeoutException:
            raise OpsError(f"{service} at {self.target.url(service)} did not answer {method} {path} in time") from None
        except httpx.HTTPError as exc:
            raise OpsError(f"{method} {url}: {type(exc).__name__}: {exc}") from None
        if r.status_code not in ok:
            raise OpsError(refusal(service, method, path, r))
        return r

    def get(self, service: str, path: str, **params: Any) -> Any:
        return self.request(service, "GET", path, params=params or None).json()

    def try_get(self, service: str, path: str, ok: tuple[int, ...] = (200,)) -> tuple[Any, str]:
        """(JSON body or None, error text) without raising: for views that show what they can."""
        try:
            return self.request(service, "GET", path, ok=ok).json(), ""
        except OpsError as exc:
            return None, str(exc)
        except ValueError:
            return None, f"{service} {path}: not JSON"

    def post(self, service: str, path: str, body: dict[str, Any] | None = None) -> Any:
        return self.request(service, "POST", path, operator=True, json=body).json()


def _reason(exc: Exception) -> str:
    text = str(exc)
    return "connection refused" if "refused" in text.lower() else text or type(exc).__name__


def refusal(service: str, method: str, path: str, r: httpx.Response) -> str:
    try:
        detail = r.json().get("detail", "")
    except ValueError:
        detail = r.text[:200]
    what = f"{service} refused {method} {path}: HTTP {r.status_code}"
    if r.status_code == 401:
        return f"{what} ({detail}): the operator token is missing or wrong — pass --token-file"
    if r.status_code == 403:
        return f"{what} ({detail})"
    return f"{what}" + (f" ({detail})" if detail else "")
