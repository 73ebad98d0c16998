"""The quoter's inventory counts each of our fills once, by the gateway's sequence and the fill's id."""

from kmm.messages import Fill
from kmm_services.quoter.service import QuoterService, QuoterSettings


def fill(fill_id: str, seq: int, count: int = 100) -> Fill:
    return Fill(fill_id=fill_id, order_id="o", client_order_id="kmm-b-1", market="M", side="bid", price=5000,
                count=count, seq=seq)


async def test_a_new_fill_at_a_reused_sequence_counts_and_a_redelivery_does_not() -> None:
    q = QuoterService(QuoterSettings())
    q.publish_nowait = lambda stream, msg: None  # type: ignore[method-assign]
    for f in (fill("f1", 1), fill("f1", 1), fill("f2", 1), fill("f1", 2), fill("f3", 3)):
        await q.on_report(f, None)  # type: ignore[arg-type]
    assert q.models["M"].position == 300  # f1, f2 (the gateway's count went back), f3
    assert q.fill_seq["M"] == 3
