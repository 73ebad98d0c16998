"""Every package directory is listed in pyproject (setuptools cannot discover the renamed services/)."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_package_is_listed() -> None:
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = set()
    for top, name in (("libs/kmm", "kmm"), ("services", "kmm_services")):
        base = ROOT / top
        for init in base.rglob("__init__.py"):
            rel = init.parent.relative_to(base)
            found.add(".".join([name, *rel.parts]))
    assert found - listed == set(), f"add to pyproject [tool.setuptools] packages: {sorted(found - listed)}"


def test_settings_errors_name_the_variable() -> None:
    import subprocess
    import sys

    env = {"KMM_HTTP_PORT": "99999", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-m", "kmm.cli", "service", "gateway"], env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 2
    assert "KMM_HTTP_PORT" in out.stderr
