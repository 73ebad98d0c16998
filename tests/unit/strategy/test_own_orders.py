"""Our own resting size is rebuilt from execution reports and taken out of the book."""

from kmm.messages import BookUpdate, Fill, OrderAck, OrderCancel, OrderReject
from kmm.strategy.own_orders import OwnOrders

BOOK = BookUpdate(market="M", bids=((4300, 1000), (4200, 5000)), asks=((4500, 700), (4600, 300)))


def ack(coid: str, side: str, price: int, count: int) -> OrderAck:
    return OrderAck(client_order_id=coid, order_id="o-" + coid, market="M", side=side, price=price, count=count)


def test_our_best_bid_is_not_the_best_bid_we_price_off() -> None:
    own = OwnOrders()
    own.on_report(ack("b", "bid", 4300, 1000))
    own.on_report(ack("a", "ask", 4600, 100))
    assert own.strip(BOOK) == (((4200, 5000),), ((4500, 700), (4600, 200)))


def test_amends_fills_cancels_and_rejects_move_our_size() -> None:
    own = OwnOrders()
    own.on_report(ack("b", "bid", 4300, 1000))
    own.on_report(ack("b", "bid", 4200, 600))  # amended to another price and size
    assert own.strip(BOOK)[0] == ((4300, 1000), (4200, 4400))
    own.on_report(Fill(fill_id="f", order_id="o-b", client_order_id="b", market="M", side="bid", price=4200,
                       count=200))
    assert own.strip(BOOK)[0] == ((4300, 1000), (4200, 4600))
    own.on_report(OrderCancel(client_order_id="b", order_id="o-b", market="M", side="bid"))
    assert own.strip(BOOK) == (BOOK.bids, BOOK.asks)
    own.on_report(ack("x", "ask", 4500, 700))
    own.on_report(OrderReject(client_order_id="x", market="M", side="ask", code="post_only_rejected"))
    assert own.strip(BOOK) == (BOOK.bids, BOOK.asks)


def test_other_markets_are_untouched() -> None:
    own = OwnOrders()
    own.on_report(OrderAck(client_order_id="b", order_id="o", market="OTHER", side="bid", price=4300, count=1000))
    assert own.strip(BOOK) == (BOOK.bids, BOOK.asks)
