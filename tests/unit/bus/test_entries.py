"""entry_message: the message in a stream entry, or None for one a scan must skip."""

from kmm.bus.entries import entry_message
from kmm.bus.publisher import FIELD
from kmm.messages import Heartbeat, encode


def test_an_entry_gives_its_message_and_a_bad_one_none() -> None:
    hb = Heartbeat(service="risk", ts_init=7)
    assert entry_message({FIELD: encode(hb)}) == hb
    assert entry_message({FIELD: b"\xc1 not msgpack"}) is None
    assert entry_message({b"other": b"x"}) is None
    assert entry_message(None) is None
