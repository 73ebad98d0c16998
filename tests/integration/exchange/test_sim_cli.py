"""``kmm sim`` as a process (ready file, serving) and its --report / key parsing."""

import argparse
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from kmm.kalshi.auth import Signer, generate_private_pem
from kmm_services.exchange import cli
from tests.helpers import eventually


def test_parse_keys_accepts_private_and_public_pem(tmp_path: Path) -> None:
    pem = generate_private_pem()
    public = Signer.from_pem("a", pem).public_pem()
    (tmp_path / "priv.pem").write_bytes(pem)
    (tmp_path / "pub.pem").write_bytes(public)
    keys = cli.parse_keys([f"a:{tmp_path / 'priv.pem'}", f"b:{tmp_path / 'pub.pem'}"])
    assert keys == {"a": public, "b": public}
    with pytest.raises(SystemExit):
        cli.parse_keys(["no-colon"])


def test_report_json(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    rc = cli.main(parser.parse_args(["--report", "--report-hours", "0.5", "--json", "--seed", "3"]))
    out = json.loads(capsys.readouterr().out)
    assert rc == (0 if all(v["ok"] for v in out.values()) else 1)
    assert out["spread median (c)"]["value"] == 2.0


def test_sim_process_writes_ready_file_and_serves(tmp_path: Path) -> None:
    key = tmp_path / "k.pem"
    key.write_bytes(generate_private_pem())
    ready = tmp_path / "ready"
    proc = subprocess.Popen(
        [sys.executable, "-m", "kmm.cli", "sim", "--port", "0", "--key", f"k1:{key}", "--markets", "3",
         "--ready-file", str(ready), "--post-only-cross", "reject"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ},
    )
    try:
        eventually(ready.exists, timeout=20, what="ready file")
        url = ready.read_text().strip()
        assert url.endswith("/trade-api/v2")
        markets = httpx.get(url + "/markets").json()["markets"]
        assert len(markets) == 3
        state = httpx.get(url.removesuffix("/trade-api/v2") + "/admin/state").json()
        assert state["post_only_cross"] == "reject"
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)


def test_bad_settings_exit_2_naming_the_setting(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    for argv, name in ((["--shards", "0"], "--shards"), (["--tier", "platinum"], "--tier"),
                       (["--first-close-minutes", "-5"], "--first-close-minutes")):
        assert cli.main(parser.parse_args(argv)) == 2
        assert name in capsys.readouterr().err
    assert parser.parse_args([]).shards == 2


def test_post_only_cross_flag_defaults_to_cancel_and_takes_only_the_two_modes(
        capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    assert parser.parse_args([]).post_only_cross == "cancel"
    assert parser.parse_args(["--post-only-cross", "reject"]).post_only_cross == "reject"
    with pytest.raises(SystemExit):
        parser.parse_args(["--post-only-cross", "ignore"])
    assert "--post-only-cross" in capsys.readouterr().err
