"""The one config file (TOML) for every service, the runner and the operator commands.

``KMM_CONFIG=/path/kmm.toml`` (or ``kmm run --config``, which passes it on to every child) names it::

    [common]            # settings every service has (log_level, redis_url, max_deliveries, ...)
    log_level = "INFO"

    [quoter]            # one table per service: its own settings, names as in docs/services.md
    gamma = 0.3         # = KMM_GAMMA for the quoter only

    [risk]
    max_daily_loss_dollars = 200

    [run]               # kmm run's options (mode, markets, seed, speed, tier, ...)
    markets = 12

    [ops]               # what kmm status/halt/... talk to when given no flags
    urls = { risk = "http://127.0.0.1:8084", gateway = "http://127.0.0.1:8085" }
    token_file = "deploy/secrets/admin.token"

Precedence, highest first: the environment (``KMM_<NAME>``), the service's table, ``[common]``, the
default. A key or table the file should not have, a value of the wrong type, or a file that is not
TOML fails at start with the setting's name, the file and its line (:class:`ConfigError`).
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kmm.bus.topology import SERVICES

CONFIG_ENV = "KMM_CONFIG"
TABLES = ("common", *SERVICES, "run", "ops")
OPS_KEYS = ("urls", "token_file")

_HEADER = re.compile(r"^\s*\[\s*([A-Za-z0-9_.\-]+)\s*\]\s*(#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-]+)\s*=")


class ConfigError(ValueError):
    """A problem with the config file; the message names the file, the line and the setting."""


@dataclass
class ConfigFile:
    path: Path
    tables: dict[str, dict[str, Any]]
    lines: dict[tuple[str, str], int] = field(default_factory=dict)  # (table, key) → 1-based line

    def where(self, table: str, key: str) -> str:
        line = self.lines.get((table, key))
        return f"{self.path}" + (f" line {line}" if line else "") + f" [{table}]"

    def table(self, name: str) -> dict[str, Any]:
        return self.tables.get(name, {})

    def check_keys(self, table: str, allowed: set[str] | tuple[str, ...], hint: str = "") -> None:
        for key in self.table(table):
            if key not in allowed:
                raise ConfigError(f"unknown setting {key!r} at {self.where(table, key)}{hint}")

    def service_values(self, service: str) -> dict[str, tuple[Any, str]]:
        """Field → (value, where) for one service: ``[common]`` overlaid by ``[service]``."""
        out: dict[str, tuple[Any, str]] = {}
        for table in ("common", service):
            for key, value in self.table(table).items():
                if isinstance(value, dict):
                    raise ConfigError(f"setting {key!r} at {self.where(table, key)} must be a value, not a table")
                out[key] = (value, self.where(table, key))
        return out

    def ops(self) -> dict[str, Any]:
        ops = self.table("ops")
        self.check_keys("ops", OPS_KEYS)
        urls = ops.get("urls", {})
        if not isinstance(urls, dict) or not all(isinstance(v, str) for v in urls.values()):
            raise ConfigError(f"setting 'urls' at {self.where('ops', 'urls')} must be a table of service = \"URL\"")
        out: dict[str, Any] = {"_file": str(self.path), "urls": dict(urls)}
        if "token_file" in ops:
            out["token_file"] = str(self._relative(Path(str(ops["token_file"]))))
        return out

    def _relative(self, p: Path) -> Path:
        """A path in the file is relative to the file's directory."""
        return p if p.is_absolute() else (self.path.parent / p)


def parse(text: str, path: Path) -> ConfigFile:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    lines: dict[tuple[str, str], int] = {}
    table = ""
    for n, raw in enumerate(text.splitlines(), start=1):
        h = _HEADER.match(raw)
        if h:
            table = h.group(1)
            lines.setdefault((table, ""), n)
            continue
        k = _KEY.match(raw)
        if k and table:
            lines.setdefault((table, k.group(1)), n)
        elif k:
            lines.setdefault(("", k.group(1)), n)
    for key, value in data.items():
        if not isinstance(value, dict):
            line = lines.get(("", key))
            raise ConfigError(f"setting {key!r} at {path}" + (f" line {line}" if line else "")
                              + f" is outside a table: put it under [common] or a service's table ({', '.join(TABLES)})")
        if key not in TABLES:
            line = lines.get((key, ""))
            raise ConfigError(f"unknown table [{key}] at {path}" + (f" line {line}" if line else "")
                              + f"; the tables are {', '.join(f'[{t}]' for t in TABLES)}")
    return ConfigFile(path, data, lines)


def config_path(explicit: Path | str | None = None) -> Path | None:
    if explicit:
        return Path(explicit)
    env = os.environ.get(CONFIG_ENV)
    return Path(env) if env else None


def load_config(explicit: Path | str | None = None) -> ConfigFile | None:
    """The config file named by ``explicit`` or ``KMM_CONFIG`` (None when neither is set)."""
    path = config_path(explicit)
    if path is None:
        return None
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read the config file {path} ({CONFIG_ENV}): {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"the config file {path} is not text") from None
    return parse(text, path)
