import os
import re

from kmm.bus.ids import new_id


def test_ids_are_16_hex_chars_and_do_not_repeat():
    ids = [new_id() for _ in range(100_000)]
    assert all(re.fullmatch(r"[0-9a-f]{16}", i) for i in ids)
    assert len(set(ids)) == len(ids)


def test_a_forked_child_draws_other_ids_than_its_parent():
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: report its next ids and leave
        os.write(w, " ".join(new_id() for _ in range(3)).encode())
        os._exit(0)
    os.close(w)
    os.waitpid(pid, 0)
    child = os.read(r, 1000).decode().split()
    os.close(r)
    parent = [new_id() for _ in range(3)]
    assert len(child) == 3
    assert not set(child) & set(parent)
