"""``kmm bootstrap`` with a password file it cannot use exits 2 naming the setting, before any connection."""

import argparse
from pathlib import Path

import pytest

from kmm.bus.bootstrap import main


def args(password_file: Path) -> argparse.Namespace:
    return argparse.Namespace(redis_url="redis://127.0.0.1:1", username="admin", password_file=str(password_file))


def test_an_unreadable_password_file_exits_2_naming_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(args(tmp_path / "missing")) == 2
    err = capsys.readouterr().err
    assert "KMM_REDIS_PASSWORD_FILE" in err and "cannot read" in err and str(tmp_path / "missing") in err


def test_an_empty_password_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "pw").write_text("\n")
    assert main(args(tmp_path / "pw")) == 2
    assert "is empty" in capsys.readouterr().err
