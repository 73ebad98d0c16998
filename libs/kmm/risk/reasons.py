"""Why risk denies, resizes or changes state: the reason codes its events carry (and metrics label).

Kept apart from :mod:`kmm.risk.engine` so a service that only names reasons (every service's metrics
module) does not import the engine and numpy.
"""

# Denial codes
HALTED_CODE = "halted"
MARKET_UNKNOWN = "market_unknown"
MARKET_CLOSED = "market_closed"
OFF_GRID = "off_grid"
BAD_COUNT = "bad_count"
SELF_CROSSED = "self_crossed"
STALE_BOOK = "stale_book"
# Resize reasons
BID_CROSSES_BOOK = "bid_crosses_book"
ASK_CROSSES_BOOK = "ask_crosses_book"
VOL_SIZE = "vol_size"
NEAR_POSITION_LIMIT = "near_position_limit"
AT_POSITION_LIMIT = "at_position_limit"
POSITION_LIMIT = "position_limit"
REDUCING_ONLY = "reducing_only"
EXPOSURE_LIMIT = "exposure_limit"
RATE_LIMITED = "rate_limited"  # the side keeps its previous approval
DENIAL_CODES = (HALTED_CODE, MARKET_UNKNOWN, MARKET_CLOSED, OFF_GRID, BAD_COUNT, SELF_CROSSED, STALE_BOOK)
RESIZE_REASONS = (BID_CROSSES_BOOK, ASK_CROSSES_BOOK, VOL_SIZE, NEAR_POSITION_LIMIT, AT_POSITION_LIMIT,
                  POSITION_LIMIT, REDUCING_ONLY, EXPOSURE_LIMIT, RATE_LIMITED)
# State reasons
MANUAL = "manual"
POSITION_BREACH = "position_breach"
EXPOSURE_BREACH = "exposure_breach"
DAILY_LOSS_BREACH = "daily_loss_breach"
NEAR_EXPOSURE = "near_exposure"
NEAR_DAILY_LOSS = "near_daily_loss"
WITHIN_LIMITS = "within_limits"
