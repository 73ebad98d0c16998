"""``kmm config show|check``: the effective settings of every service and of ``kmm run``, each with its
value, where it came from (environment variable, config file and line, or default) and its default.

``show`` prints them (``--service NAME`` for one, ``--changed`` for those not at their default,
``--json``); ``check`` only validates. Both exit 2 naming the setting (and the file line) when a value
is bad, exactly as the service would at start. Secret values are masked.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from rich.table import Table

from kmm.bus.topology import SERVICES
from kmm.chassis.config import CONFIG_ENV, ConfigError, load_config
from kmm.chassis.settings import describe, explain

from .views import make_console

SECTIONS = (*SERVICES, "run")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=("show", "check"), nargs="?", default="show")
    p.add_argument("--config", type=Path, default=None, help=f"the config file (default: {CONFIG_ENV})")
    p.add_argument("--service", choices=SECTIONS, action="append", default=None, help="only these (repeatable)")
    p.add_argument("--changed", action="store_true", help="only settings not at their default")
    p.add_argument("--json", action="store_true")


def run_rows() -> list[dict[str, Any]]:
    from kmm.runner.cli import OPTIONS, resolve_options
    from kmm.runner.cli import add_arguments as run_args

    parser = argparse.ArgumentParser()
    run_args(parser)
    args = parser.parse_args([])
    sources = resolve_options(args)
    return [{"setting": o.dest, "env": o.env, "value": _plain(getattr(args, o.dest)), "source": sources[o.dest],
             "default": _plain(o.default), "help": o.help} for o in OPTIONS]


def _plain(v: Any) -> Any:
    return str(v) if isinstance(v, Path) else v


def section_rows(name: str) -> list[dict[str, Any]]:
    if name == "run":
        return run_rows()
    module = importlib.import_module(f"kmm_services.{name}.service")
    return explain(module.SERVICE.settings_cls)


def main(args: argparse.Namespace) -> int:
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
        try:
            rows = section_rows(name)
        except ConfigError as exc:
            errors.append(f"{name}: invalid config: {exc}")
            continue
        except ValidationError as exc:
            module = importlib.import_module(f"kmm_services.{name}.service")
            errors += [f"{name}: {line}" for line in describe(exc, module.SERVICE.settings_cls)]
            continue
        except SystemExit:  # kmm run's own options report and exit 2
            errors.append("run: invalid option (the line above names it)")
            continue
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
