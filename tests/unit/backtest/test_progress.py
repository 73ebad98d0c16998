"""The progress bar redraws in place on a terminal and writes one plain line anywhere else."""

import io

from kmm.backtest.progress import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_the_bar_redraws_in_place_and_ends_with_a_newline() -> None:
    out = Terminal()
    bar = Progress("run", stream=out, every_s=0.0)
    for done in range(1, 4):
        bar(done, 3)
    bar(3, 3)
    text = out.getvalue()
    assert text.count("\r") == 3 and text.endswith("\n") and text.count("\n") == 1
    assert "100.0% 3/3" in text


def test_in_a_log_only_the_completed_bar_is_written_as_one_line() -> None:
    out = io.StringIO()
    bar = Progress("session", stream=out, every_s=0.0)
    for done in range(1, 4):
        bar(done, 3)
    assert "\r" not in out.getvalue()
    (line,) = out.getvalue().splitlines()
    assert line.startswith("session [" + "#" * 30 + "] 100.0% 3/3")


def test_a_disabled_bar_writes_nothing() -> None:
    out = Terminal()
    Progress("x", stream=out, enabled=False)(1, 1)
    assert out.getvalue() == ""
