"""Ports for our servers are picked outside the kernel's ephemeral range, where no outgoing connection
can take them between the pick and the server's bind."""

import random
import socket

from kmm.runner import redis_proc


def test_a_free_port_is_outside_the_ephemeral_range_and_bindable(tmp_path, monkeypatch) -> None:
    (tmp_path / "range").write_text("32768\t60999\n")
    monkeypatch.setattr(redis_proc, "EPHEMERAL_RANGE_FILE", tmp_path / "range")
    rng = random.Random(7)
    for _ in range(50):
        port = redis_proc.free_port(rng)
        assert not 32768 <= port <= 60999 and port >= redis_proc.LOWEST_PORT
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))


def test_with_no_port_outside_the_range_the_kernel_picks(tmp_path, monkeypatch) -> None:
    (tmp_path / "range").write_text(f"{redis_proc.LOWEST_PORT} 65535\n")
    monkeypatch.setattr(redis_proc, "EPHEMERAL_RANGE_FILE", tmp_path / "range")
    port = redis_proc.free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))


def test_an_unreadable_range_is_linux_s_default(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(redis_proc, "EPHEMERAL_RANGE_FILE", tmp_path / "missing")
    assert redis_proc.ephemeral_range() == (32768, 60999)
