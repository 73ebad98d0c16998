"""``KMM_PARENT_PID``: a service whose parent is not that process any more stops gracefully, exit 0."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_a_service_whose_parent_is_gone_stops_and_exits_0(redis_url: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KMM_")}
    # Our pid is this service's real parent; any other pid means "the runner that started me is gone".
    env |= {"KMM_REDIS_URL": redis_url, "KMM_REDIS_USERNAME": "default", "KMM_HTTP_PORT": "0",
            "KMM_PARENT_PID": str(os.getpid() + 1_000_000), "KMM_LOG_FORMAT": "text"}
    out = subprocess.run([sys.executable, "-m", "kmm.cli", "service", "selector"], env=env, cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "is gone; stopping" in out.stderr and "selector stopped" in out.stderr
