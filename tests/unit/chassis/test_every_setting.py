"""Every setting of every service, given a bad value, stops the service at start with exit 2 naming the
variable — never a traceback, never the value (issue 15). The bad values are chosen from each field's
type and bounds: not a number, below the lower bound, ``inf``/``nan``, not one of the choices, a file
that does not exist, a URL without a scheme."""

import os
import subprocess
import sys
import types
import typing
from pathlib import Path

import pytest
from annotated_types import Ge, Gt, Le, Lt
from pydantic.fields import FieldInfo

from kmm.bus.topology import SERVICES
from kmm.chassis.app import create_app
from kmm.chassis.cli import service_class
from kmm.chassis.settings import ENV_PREFIX, SettingError, fail, load_settings

ROOT = Path(__file__).resolve().parents[3]
FREE_TEXT = {"redis_username", "redis_password", "consumer_name", "http_host", "kalshi_key_id",
             "kalshi_read_key_id"}  # any text is a value
URLS = {"kalshi_base_url", "kalshi_ws_url", "redis_url"}


def bad_values(name: str, info: FieldInfo) -> list[str]:
    hint = info.annotation
    optional = typing.get_origin(hint) in (typing.Union, types.UnionType)
    base = next(a for a in typing.get_args(hint) if a is not type(None)) if optional else hint
    if name in URLS:
        return ["garbage", "ftp://host/x"]
    if typing.get_origin(hint) is typing.Literal:
        return ["bogus"]
    if base is Path:
        return ["/nonexistent/kmm-setting"]
    if typing.get_origin(base) is dict:
        return ["{not json", "[1, 2]", '{"X": "soon"}']
    if typing.get_origin(base) in (list, tuple):
        return ["{not json", '"one"']
    if base is bool:
        return ["maybe"]
    out: list[str] = []
    if base in (int, float):
        out.append("many")
        for m in info.metadata:
            if isinstance(m, Ge | Gt):
                bound = m.ge if isinstance(m, Ge) else m.gt
                out.append(str(bound - 1 if isinstance(m, Ge) else bound))
            if isinstance(m, Le | Lt):
                bound = m.le if isinstance(m, Le) else m.lt
                out.append(str(bound + 1 if isinstance(m, Le) else bound))
        if base is float:
            inf_is_a_value = any(getattr(m, "allow_inf_nan", False) for m in info.metadata)  # "inf: off"
            out += ["nan"] if inf_is_a_value else ["inf", "nan"]
    if base is str and any(getattr(m, "pattern", None) for m in info.metadata):
        out.append("bogus")
    return out


def cases() -> list[tuple[str, str, str]]:
    out = []
    for service in SERVICES:
        cls = service_class(service).settings_cls
        for name, info in cls.model_fields.items():
            for value in bad_values(name, info):
                out.append((service, ENV_PREFIX + name.upper(), value))
    return out


CASES = cases()
GOOD = {"KMM_KALSHI_KEY_ID": "k", "KMM_DRY_RUN": "1"}


def start(service: str) -> None:
    """What ``kmm service NAME`` does before uvicorn runs (kmm.chassis.cli.main): settings, files, service, app."""
    cls = service_class(service)
    settings = load_settings(cls.settings_cls, service)
    try:
        settings.check_files()
        create_app(cls(settings))
    except SettingError as exc:
        fail(service, [str(exc)])


def test_every_field_of_every_service_has_a_bad_value_or_is_free_text() -> None:
    for service in SERVICES:
        cls = service_class(service).settings_cls
        for name, info in cls.model_fields.items():
            if name == "kalshi_tier":
                continue  # checked by the gateway against the known tiers (below)
            assert bad_values(name, info) or name in FREE_TEXT, f"{service}: no bad value for {name}"


@pytest.mark.parametrize("service, variable, value", CASES + [("gateway", "KMM_KALSHI_TIER", "platinum")])
def test_a_bad_value_exits_2_naming_the_variable(service: str, variable: str, value: str,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    for k in [k for k in os.environ if k.startswith(ENV_PREFIX)]:
        monkeypatch.delenv(k)
    for k, v in GOOD.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv(variable, value)
    with pytest.raises(SystemExit) as exc:
        start(service)
    err = capsys.readouterr().err
    assert exc.value.code == 2
    assert f"{service}: invalid setting {variable}" in err, err  # a dict setting names the bad key too
    if variable.lower().removeprefix("kmm_") in URLS:
        assert value not in err.split(variable, 1)[1]  # a URL is never echoed (it may carry a password)


@pytest.mark.parametrize("service", SERVICES)
def test_the_real_command_exits_2_without_a_traceback(service: str) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
    out = subprocess.run([sys.executable, "-m", "kmm.cli", "service", service],
                         env={**clean, **GOOD, "KMM_MAX_DELIVERIES": "inf"}, capture_output=True, text=True,
                         timeout=60, cwd=ROOT)
    assert out.returncode == 2, out.stderr
    assert f"{service}: invalid setting KMM_MAX_DELIVERIES: " in out.stderr
    assert "Traceback" not in out.stderr


