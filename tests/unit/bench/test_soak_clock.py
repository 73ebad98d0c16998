"""The soak's sampler survives a step of the machine's wall clock: heartbeats carry wall-clock times."""

import argparse
import importlib.util
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def soak():
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        spec = importlib.util.spec_from_file_location("soak_bench", ROOT / "bench" / "soak.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.path.remove(str(ROOT / "bench"))


def test_a_wall_clock_step_is_recorded_and_the_heartbeat_moved_into_the_new_frame(soak, tmp_path, monkeypatch):
    s = soak.Soak(argparse.Namespace(workdir=str(tmp_path)))
    now_wall, now_mono = time.time_ns(), time.monotonic_ns()
    s.clock_offset_ns = now_wall - now_mono
    s.last_heartbeat_ns = now_wall - 200_000_000  # risk beat 0.2 s ago
    monkeypatch.setattr(soak.time, "time_ns", lambda: now_wall + 15_000_000_000)  # the clock jumps 15 s ahead
    monkeypatch.setattr(soak.time, "monotonic_ns", lambda: now_mono)
    s.watch_clock(100.0)
    assert [step["step_s"] for step in s.clock_steps] == [15.0]
    assert s.gap_s(now_wall + 15_000_000_000) == pytest.approx(0.2)  # not 15.2
    assert s.step_grace_until == 101.5
    s.watch_clock(100.25)  # no further step: nothing more recorded
    assert len(s.clock_steps) == 1
