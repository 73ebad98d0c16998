"""The simulator's HTTP protocol writes an answer's head together with its body."""

import asyncio

from kmm_services.exchange.onewrite import HeadWithBody


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
