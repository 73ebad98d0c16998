"""Locating the deploy tree and the external tools (kustomize, promtool) the deploy checks use.

CI installs them: ``apt-get install -y --no-install-recommends prometheus`` (promtool) and
``pip install kubernetes-validate`` (Kubernetes JSON schemas); kustomize comes from ``kubectl``
(``kubectl kustomize``, preinstalled on the build machines) or a standalone ``kustomize`` binary.
A check whose tool is missing skips with the install line as its reason.
"""

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
OVERLAYS = ("dev", "prod")


def kustomize_command() -> list[str] | None:
    """The command that renders a kustomization, or None when neither tool is installed."""
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize"]
    return None


def kustomize_build(path: Path) -> list[dict]:
    """Render ``path`` with kustomize and return its resources (skips when kustomize is missing)."""
    cmd = kustomize_command()
    if cmd is None:
        pytest.skip("kustomize not installed: needs `kubectl` (kubectl kustomize) or a `kustomize` binary")
    out = subprocess.run([*cmd, str(path)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, f"kustomize build {path} failed:\n{out.stderr}"
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def promtool() -> str:
    """Path of promtool (skips when missing)."""
    path = shutil.which("promtool")
    if path is None:
        pytest.skip("promtool not installed: apt-get install -y --no-install-recommends prometheus")
    return path


def run_promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool(), *args], capture_output=True, text=True, timeout=60, cwd=ROOT)
