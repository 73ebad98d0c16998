"""Service settings from the environment (prefix ``KMM_``), validated at start.

A bad value stops the process before it does anything, with a message that names the variable:
``quoter: invalid setting KMM_HTTP_PORT: Input should be less than or equal to 65535``.
"""

import sys
from pathlib import Path
from typing import Literal, TypeVar

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "KMM_"


class ServiceSettings(BaseSettings):
    """Settings every service has. Subclasses add their own fields."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    redis_url: str = "redis://127.0.0.1:6379"
    redis_username: str | None = None
    redis_password: SecretStr | None = None
    redis_password_file: Path | None = None
    http_host: str = "0.0.0.0"
    http_port: int = Field(8080, ge=0, le=65535)
    consumer_name: str | None = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "text"] = "json"
    max_deliveries: int = Field(5, ge=1, le=1000)
    claim_idle_ms: int = Field(10_000, ge=50)
    shard_index: int = Field(0, ge=0)
    shard_count: int = Field(1, ge=1)

    def password(self) -> str | None:
        if self.redis_password_file is not None:
            try:
                return self.redis_password_file.read_text().strip()
            except OSError as exc:
                raise SettingError("KMM_REDIS_PASSWORD_FILE", f"cannot read: {exc.strerror}") from None
        return self.redis_password.get_secret_value() if self.redis_password else None


class SettingError(ValueError):
    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"invalid setting {variable}: {problem}")
        self.variable = variable


S = TypeVar("S", bound=ServiceSettings)


def describe(exc: ValidationError) -> list[str]:
    out = []
    for err in exc.errors():
        name = ENV_PREFIX + "_".join(str(p) for p in err["loc"]).upper()
        out.append(f"invalid setting {name}: {err['msg']}")
    return out


def load_settings(cls: type[S], service: str) -> S:
    """Build settings or exit 2 naming each bad variable (values are not echoed: they may be secrets)."""
    try:
        return cls()
    except ValidationError as exc:
        for line in describe(exc):
            print(f"{service}: {line}", file=sys.stderr)
        raise SystemExit(2) from None
