"""The simulator's HTTP protocol writes less often: an answer's head with its body, a turn's WebSocket frames together."""

import asyncio

from kmm_services.exchange.onewrite import HeadWithBody, WritesPerTurn


class StubTransport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closing


class StubCycle:
    response_started = False


HEAD = b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\n"


async def test_the_head_waits_for_the_body_and_goes_out_with_it() -> None:
    transport, cycle = StubTransport(), StubCycle()
    w = HeadWithBody(transport, cycle)  # type: ignore[arg-type]
    w.write(b"HTTP/1.1 100 Continue\r\n\r\n")  # before the response starts: written as it comes
    cycle.response_started = True
    w.write(HEAD)
    assert transport.writes == [b"HTTP/1.1 100 Continue\r\n\r\n"]
    w.write(b'{"ok": 1}')
    assert transport.writes[1:] == [HEAD + b'{"ok": 1}']
    await asyncio.sleep(0)  # the end of the loop's turn: nothing was left behind
    assert len(transport.writes) == 2


async def test_a_head_whose_body_does_not_follow_in_the_same_turn_goes_out_alone() -> None:
    transport, cycle = StubTransport(), StubCycle()
    w = HeadWithBody(transport, cycle)  # type: ignore[arg-type]
    cycle.response_started = True
    w.write(HEAD)
    await asyncio.sleep(0)
    assert transport.writes == [HEAD]
    w.write(b"more body")  # a later part of a streamed body: as it comes
    assert transport.writes == [HEAD, b"more body"]


async def test_a_held_head_is_dropped_when_the_connection_closed_meanwhile() -> None:
    transport, cycle = StubTransport(), StubCycle()
    w = HeadWithBody(transport, cycle)  # type: ignore[arg-type]
    cycle.response_started = True
    w.write(HEAD)
    transport.closing = True
    await asyncio.sleep(0)
    assert transport.writes == [] and w.is_closing()


class ClosingTransport(StubTransport):
    def close(self) -> None:
        self.writes.append(b"<closed>")
        self.closing = True


async def test_websocket_frames_of_one_turn_go_out_in_one_write_in_order() -> None:
    transport = ClosingTransport()
    w = WritesPerTurn(transport)  # type: ignore[arg-type]
    for frame in (b"f1", b"f2", b"f3"):
        w.write(frame)
    assert transport.writes == []
    await asyncio.sleep(0)
    assert transport.writes == [b"f1f2f3"]
    w.write(b"f4")
    w.write(b"close-frame")
    w.close()  # what is pending goes out before the close
    assert transport.writes == [b"f1f2f3", b"f4close-frame", b"<closed>"]
    await asyncio.sleep(0)
    assert transport.writes[-1] == b"<closed>"
