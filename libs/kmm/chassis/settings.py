"""Service settings from the environment (prefix ``KMM_``) and the config file, validated at start.

Precedence, highest first: the environment, the service's table of the config file named by
``KMM_CONFIG`` (:mod:`.config`), its ``[common]`` table, the default. A bad value stops the process
before it does anything, with a message that names the setting and, for a value from the file, the
file and line: ``quoter: invalid setting KMM_HTTP_PORT: Input should be less than or equal to 65535``,
``quoter: invalid setting KMM_GAMMA (gamma at kmm.toml line 7 [quoter]): Input should be greater
than 0``; exit 2. Files named by settings (the Redis password, the admin token, key files) are read
at start and fail the same way (:class:`SettingError`). Values are never echoed: they may be secrets.
:func:`explain` gives every setting's effective value, its source and its default (``kmm config show``).
"""

import os
import re
import sys
from pathlib import Path
from typing import Any, ClassVar, Literal, NoReturn, TypeVar
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from kmm.kalshi.constants import PROD_REST_URL, PROD_WS_URL

from .config import ConfigError, load_config

ENV_PREFIX = "KMM_"
REDIS_SCHEMES = ("redis", "rediss", "unix")


class SettingError(ValueError):
    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"invalid setting {variable}: {problem}")
        self.variable = variable


def check_redis_url(url: str) -> str:
    """``redis://``, ``rediss://`` or ``unix://`` with what redis-py needs; raises ValueError saying why."""
    try:
        parts = urlsplit(url)
        port = parts.port  # raises on a port that is not a number or out of range
    except ValueError as exc:
        raise ValueError(f"not a valid URL ({exc})") from None
    if parts.scheme not in REDIS_SCHEMES:
        raise ValueError("the scheme must be redis://, rediss:// or unix:// (e.g. redis://127.0.0.1:6379)")
    if parts.scheme == "unix":
        if not parts.path:
            raise ValueError("unix:// needs a socket path (e.g. unix:///run/redis.sock)")
    elif not parts.hostname:
        raise ValueError(f"{parts.scheme}:// needs a host (e.g. {parts.scheme}://127.0.0.1:6379)")
    del port
    db = parts.path.strip("/")
    if parts.scheme != "unix" and db and not db.isdigit():
        raise ValueError("the path must be a database number (e.g. redis://host:6379/0)")
    return url


def check_url(url: str, schemes: tuple[str, ...]) -> str:
    """A URL with one of ``schemes`` and a host (e.g. a Kalshi REST or WS base); raises ValueError saying why.
    An empty string passes (the setting is off)."""
    if not url:
        return url
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that is not a number or out of range
    except ValueError as exc:
        raise ValueError(f"not a valid URL ({exc})") from None
    if parts.scheme not in schemes or not parts.hostname:
        raise ValueError(f"must be {' or '.join(s + '://' for s in schemes)} with a host")
    return url


def read_setting_file(variable: str, path: Path) -> str:
    """The stripped text of a file a setting names; SettingError if unreadable or empty (contents never shown)."""
    try:
        text = path.read_text().strip()
    except OSError as exc:
        raise SettingError(variable, f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise SettingError(variable, f"{path} is not text") from None
    if not text:
        raise SettingError(variable, f"{path} is empty")
    return text


def section_of(cls: type[BaseSettings]) -> str:
    """The config-file table of a settings class: ``config_section``, else its name (RiskSettings → risk)."""
    explicit = getattr(cls, "config_section", "")
    if explicit:
        return explicit
    name = cls.__name__
    return name[: -len("Settings")].lower() if name.endswith("Settings") and name != "ServiceSettings" else "common"


class ConfigFileSource(PydanticBaseSettingsSource):
    """Values from the config file: the class's table over ``[common]`` (unknown keys are errors)."""

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        super().__init__(settings_cls)
        self.values: dict[str, Any] = {}
        cfg = load_config()
        if cfg is None:
            return
        section = section_of(settings_cls)
        cfg.check_keys("common", set(ServiceSettings.model_fields),
                       ": [common] holds only the settings every service has; put the others in a service's table")
        if section != "common":
            cfg.check_keys(section, set(settings_cls.model_fields), f" (not a {section} setting)")
        self.values = {k: v for k, (v, _) in cfg.service_values(section).items()
                       if k in settings_cls.model_fields}

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self.values.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self.values)


class ServiceSettings(BaseSettings):
    """Settings every service has. Subclasses add their own fields."""

    # allow_inf_nan=False: "inf" is not a timeout (KMM_DEAD_MAN_TIMEOUT_S=inf would disable the switch).
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True, allow_inf_nan=False)
    config_section: ClassVar[str] = ""

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, ConfigFileSource(settings_cls)

    redis_url: str = "redis://127.0.0.1:6379"
    redis_username: str | None = None
    redis_password: SecretStr | None = None
    redis_password_file: Path | None = None
    http_host: str = "127.0.0.1"
    http_port: int = Field(8080, ge=0, le=65535)
    admin_token_file: Path | None = None  # bearer token for operator (non-GET) endpoints
    parent_pid: int | None = Field(None, ge=1)  # stop when this process is no longer our parent
    consumer_name: str | None = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "text"] = "json"
    max_deliveries: int = Field(5, ge=1, le=1000)
    claim_idle_ms: int = Field(10_000, ge=50)
    loop_stall_exit_s: float = Field(20.0, ge=0, description="exit (the supervisor restarts the service) once "
                                     "its event loop has not run this long; 0 off")

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, v: str) -> str:
        return check_redis_url(v)

    def password(self) -> str | None:
        if self.redis_password_file is not None:
            return read_setting_file("KMM_REDIS_PASSWORD_FILE", self.redis_password_file)
        return self.redis_password.get_secret_value() if self.redis_password else None

    def admin_token(self) -> str | None:
        """The operator token, or None when no token file is configured (operator endpoints disabled)."""
        if self.admin_token_file is None:
            return None
        return read_setting_file("KMM_ADMIN_TOKEN_FILE", self.admin_token_file)

    def check_files(self) -> None:
        """Read every file the chassis needs now, so a bad one fails at start (SettingError)."""
        self.password()
        self.admin_token()


class KalshiVenueSettings(ServiceSettings):
    """The Kalshi endpoints of a service that talks to the venue (marketdata, gateway), checked at start."""

    kalshi_base_url: str = PROD_REST_URL  # Kalshi's recommended hosts (kalshi-api.md §1)
    kalshi_ws_url: str = PROD_WS_URL

    @field_validator("kalshi_base_url")
    @classmethod
    def _rest_url(cls, v: str) -> str:
        return check_url(v, ("https", "http"))

    @field_validator("kalshi_ws_url")
    @classmethod
    def _ws_url(cls, v: str) -> str:
        return check_url(v, ("wss", "ws"))


S = TypeVar("S", bound=ServiceSettings)


def env_name(field_name: str) -> str:
    return ENV_PREFIX + field_name.upper()


def file_location(cls: type[BaseSettings], field_name: str) -> str | None:
    """Where the config file sets ``field_name`` for ``cls`` (None: not there, or the environment wins)."""
    if env_name(field_name) in {k.upper() for k in os.environ}:
        return None
    try:
        cfg = load_config()
    except ConfigError:
        return None
    if cfg is None:
        return None
    hit = cfg.service_values(section_of(cls)).get(field_name)
    return hit[1] if hit else None


def describe(exc: ValidationError, cls: type[BaseSettings] | None = None) -> list[str]:
    out = []
    for err in exc.errors():
        field_name = "_".join(str(p) for p in err["loc"])
        msg = str(err["msg"]).removeprefix("Value error, ")
        where = file_location(cls, field_name) if cls is not None and err["loc"] else None
        at = f" ({field_name} at {where})" if where else ""
        out.append(f"invalid setting {env_name(field_name)}{at}: {msg}")
    return out


def fail(service: str, lines: list[str]) -> NoReturn:
    """Print each problem as ``<service>: invalid setting ...`` on stderr and exit 2."""
    for line in lines:
        print(f"{service}: {line}", file=sys.stderr)
    raise SystemExit(2)


def load_settings(cls: type[S], service: str) -> S:
    """Build settings or exit 2 naming each bad variable (values are not echoed: they may be secrets)."""
    try:
        return cls()
    except ConfigError as exc:
        fail(service, [f"invalid config: {exc}"])
    except ValidationError as exc:
        fail(service, describe(exc, cls))
    except SettingsError as exc:  # a value pydantic-settings could not even parse
        field = re.search(r'field "([^"]+)"', str(exc))
        name = ENV_PREFIX + field.group(1).upper() if field else "KMM_*"
        fail(service, [f"invalid setting {name}: cannot parse the value"])


def _shown(value: Any) -> Any:
    """A value as ``kmm config show`` prints it: secrets masked, paths as text."""
    if isinstance(value, SecretStr):
        return "********" if value.get_secret_value() else ""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, str) and "@" in value and "://" in value:
        scheme, _, rest = value.partition("://")
        creds, _, host = rest.rpartition("@")
        if ":" in creds:
            return f"{scheme}://{creds.split(':', 1)[0]}:********@{host}"
    return value


def explain(cls: type[ServiceSettings]) -> list[dict[str, Any]]:
    """Every setting of ``cls``: name, environment variable, effective value, source, default.

    Raises :class:`ConfigError` or ``ValidationError`` like a service would at start."""
    settings = cls()
    env = {k.upper() for k in os.environ}
    cfg = load_config()
    file_values = cfg.service_values(section_of(cls)) if cfg is not None else {}
    rows = []
    for name, f in cls.model_fields.items():
        if env_name(name) in env:
            source = f"env {env_name(name)}"
        elif name in file_values:
            source = file_values[name][1]
        else:
            source = "default"
        default = None if f.is_required() else f.get_default(call_default_factory=True)
        rows.append({"setting": name, "env": env_name(name), "value": _shown(getattr(settings, name)),
                     "source": source, "default": _shown(default), "help": f.description or ""})
    return rows
