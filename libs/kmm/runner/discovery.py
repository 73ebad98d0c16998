"""Where a running ``kmm run`` can be found: its services' URLs, its operator token file, its venue.

Once every service is ready, ``kmm run`` writes a run file (JSON, mode 0600, no secret values — only
paths) to two places:

- ``<state dir>/runs/<pid>.json``, where the ``kmm status|positions|orders|halt|resume|fills|doctor``
  commands look when given no flags (the newest run whose process is still alive wins);
- ``<workdir>/run.json``, for ``--workdir DIR``.

The state dir is ``$KMM_STATE_DIR``, else ``$XDG_RUNTIME_DIR/kmm``, else ``~/.kmm``. The file in
the state dir is removed when the run stops; one left by a killed run is ignored (its pid is gone)
and cleaned up by the next lookup.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

STATE_DIR_ENV = "KMM_STATE_DIR"
RUN_FILE = "run.json"


def state_dir() -> Path:
    env = os.environ.get(STATE_DIR_ENV)
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg:
        return Path(xdg) / "kmm"
    return Path.home() / ".kmm"


@dataclass
class RunInfo:
    """What an operator command needs to reach one local run. Only paths, never secret values."""

    pid: int
    workdir: str
    mode: str
    started: float = field(default_factory=time.time)
    urls: dict[str, str] = field(default_factory=dict)  # service → http://127.0.0.1:<port>
    token_file: str = ""
    kalshi_base_url: str = ""
    kalshi_ws_url: str = ""
    key_id: str = ""
    private_key_path: str = ""
    read_key_id: str = ""
    read_key_path: str = ""
    tier: str = ""
    exchange_admin_url: str = ""  # the simulator's /admin (modes sim and dry-run)

    @staticmethod
    def from_dict(d: dict[str, Any]) -> RunInfo:
        return RunInfo(**{k: v for k, v in d.items() if k in RunInfo.__dataclass_fields__})

    @staticmethod
    def load(path: Path) -> RunInfo:
        try:
            return RunInfo.from_dict(json.loads(path.read_text()))
        except (OSError, ValueError, TypeError) as exc:
            raise FileNotFoundError(f"cannot read run file {path}: {exc}") from None


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def publish(info: RunInfo) -> list[Path]:
    """Write the run file into the state dir and the workdir; returns both paths."""
    text = json.dumps(asdict(info), indent=2)
    paths = [state_dir() / "runs" / f"{info.pid}.json", Path(info.workdir) / RUN_FILE]
    for p in paths:
        _write_private(p, text)
    return paths


def withdraw(pid: int) -> None:
    """Remove the run's file from the state dir (the workdir copy stays, for ``kmm report``)."""
    try:
        (state_dir() / "runs" / f"{pid}.json").unlink()
    except FileNotFoundError:
        pass


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def live_runs() -> list[RunInfo]:
    """Runs whose process is alive, newest first; files of dead runs are removed."""
    d = state_dir() / "runs"
    out = []
    for p in sorted(d.glob("*.json")) if d.is_dir() else []:
        try:
            info = RunInfo.load(p)
        except FileNotFoundError:
            continue
        if pid_alive(info.pid):
            out.append(info)
        else:
            p.unlink(missing_ok=True)
    return sorted(out, key=lambda i: -i.started)
