"""``kmm config show|check``: the effective settings of every service and of ``kmm run``, each with its
value, where it came from (environment variable, config file and line, or default) and its default.

``show`` prints them (``--service NAME`` for one, ``--changed`` for those not at their default,
``--json``); ``check`` only validates, and also reads the files each service reads at start (the
Redis password and admin token files, the Kalshi key files, parsed and never shown), so a check that
passes is a start that passes. Both exit 2 naming the setting (and the file line) when a value is
bad, exactly as the service would at start; never its value. Secret values are masked.
:func:`service_problems` is that check for one service; ``kmm run`` runs it before it starts anything.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import re
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_settings import SettingsError
from rich.table import Table

from kmm.bus.topology import SERVICES
from kmm.chassis.config import CONFIG_ENV, ConfigError, load_config
from kmm.chassis.settings import ENV_PREFIX, ServiceSettings, SettingError, describe, env_name, explain
from kmm.kalshi.auth import Signer

from .views import make_console

SECTIONS = (*SERVICES, "run")
# Key files a service parses at start (gateway: the write key, marketdata: the read key): path field, key id field.
KEY_FILES = (("kalshi_private_key_path", "kalshi_key_id"), ("kalshi_read_key_path", "kalshi_read_key_id"))


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=("show", "check"), nargs="?", default="show")
    p.add_argument("--config", type=Path, default=None, help=f"the config file (default: {CONFIG_ENV})")
    p.add_argument("--service", choices=SECTIONS, action="append", default=None, help="only these (repeatable)")
    p.add_argument("--changed", action="store_true", help="only settings not at their default")
    p.add_argument("--json", action="store_true")


def run_rows() -> list[dict[str, Any]]:
    """``kmm run``'s options; ConfigError or OptionError (one line naming the option) when one is bad."""
    from kmm.runner.cli import OPTIONS, resolve_options
    from kmm.runner.cli import add_arguments as run_args

    parser = argparse.ArgumentParser()
    run_args(parser)
    args = parser.parse_args([])
    sources = resolve_options(args, report=False)
    return [{"setting": o.dest, "env": o.env, "value": _plain(getattr(args, o.dest)), "source": sources[o.dest],
             "default": _plain(o.default), "help": o.help} for o in OPTIONS]


def _plain(v: Any) -> Any:
    return str(v) if isinstance(v, Path) else v


def settings_class(name: str) -> type[ServiceSettings]:
    return importlib.import_module(f"kmm_services.{name}.service").SERVICE.settings_cls


@contextlib.contextmanager
def environment(env: Mapping[str, str] | None) -> Iterator[None]:
    """``os.environ`` with ``env`` over it, restored afterwards."""
    saved = {k: os.environ.get(k) for k in env or {}}
    os.environ.update(env or {})
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def service_settings(name: str, env: Mapping[str, str] | None = None) -> tuple[ServiceSettings | None, list[str]]:
    """Service ``name``'s settings as :func:`kmm.chassis.settings.load_settings` builds them (with ``env``
    over this environment), or None and one line per bad setting: ``<name>: invalid setting KMM_...:
    <problem>``, never the value."""
    cls = settings_class(name)
    with environment(env):
        try:
            return cls(), []
        except ConfigError as exc:
            return None, [f"{name}: invalid config: {exc}"]
        except ValidationError as exc:
            return None, [f"{name}: {line}" for line in describe(exc, cls)]
        except SettingsError as exc:  # a value pydantic-settings could not even parse (as load_settings says)
            field = re.search(r'field "([^"]+)"', str(exc))
            return None, [f"{name}: invalid setting {env_name(field.group(1)) if field else ENV_PREFIX + '*'}: "
                          "cannot parse the value"]


def service_problems(name: str, files: bool = True, env: Mapping[str, str] | None = None) -> list[str]:
    """What would stop service ``name`` at start (with ``env`` over this environment): its bad settings
    (:func:`service_settings`); with ``files``, also the files it reads at start:
    :meth:`ServiceSettings.check_files` and the Kalshi key files (only parsed, as
    :meth:`Signer.from_file` does in the gateway and marketdata; an unset key path is not a problem)."""
    settings, problems = service_settings(name, env)
    if settings is None or not files:
        return problems
    try:
        settings.check_files()
    except SettingError as exc:
        problems.append(f"{name}: {exc}")
    for path_field, id_field in KEY_FILES:
        path = getattr(settings, path_field, None)
        if path is None:
            continue
        try:
            Signer.from_file(getattr(settings, id_field, ""), path)
        except ValueError as exc:  # names the path, never the key
            problems.append(f"{name}: {SettingError(env_name(path_field), str(exc))}")
    return problems


def main(args: argparse.Namespace) -> int:
    from kmm.runner.cli import OptionError

    if args.config:
        os.environ[CONFIG_ENV] = str(args.config.resolve())
    try:
        cfg = load_config()
        if cfg is not None:
            cfg.ops()  # validates [ops] too
    except ConfigError as exc:
        print(f"kmm config: {exc}", file=sys.stderr)
        return 2
    out: dict[str, list[dict[str, Any]]] = {}
    errors: list[str] = []
    for name in args.service or SECTIONS:
        if name == "run":
            try:
                rows = run_rows()
            except (ConfigError, OptionError) as exc:
                errors.append(f"run: {exc}" if isinstance(exc, OptionError) else f"run: invalid config: {exc}")
                continue
        else:
            problems = service_problems(name, files=args.action == "check")
            if problems:
                errors += problems
                continue
            rows = explain(settings_class(name))
        out[name] = [r for r in rows if not args.changed or r["source"] != "default"]
    for line in errors:
        print(line, file=sys.stderr)
    if errors:
        return 2
    if args.action == "check":
        print(f"config OK ({cfg.path if cfg else 'no config file; environment and defaults'})")
        return 0
    if args.json:
        print(json.dumps({"config": str(cfg.path) if cfg else None, "settings": out}, indent=2, default=str))
        return 0
    console = make_console()
    console.print(f"config file: {cfg.path if cfg else f'none ({CONFIG_ENV} not set)'}; "
                  "precedence: environment > [service] > [common] > default")
    for name, rows in out.items():
        if not rows:
            continue
        t = Table(title=f"[{name}]", title_justify="left", expand=False)
        for c in ("setting", "value", "source", "default"):
            t.add_column(c, overflow="fold")
        for r in rows:
            t.add_row(r["setting"], _show(r["value"]), r["source"], _show(r["default"]))
        console.print(t)
    return 0


def _show(v: Any) -> str:
    return "-" if v is None else str(v)
