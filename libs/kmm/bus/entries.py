"""Reading stream entries back outside a consumer (XRANGE/XREVRANGE scans at start, audits)."""

from typing import Any

from kmm.messages import DecodeError, Message, decode

from .publisher import FIELD


def entry_message(fields: Any) -> Message | None:
    """The message in one entry's fields, or None when it has none or cannot be decoded (a consumer
    would dead-letter it; a scan skips it)."""
    try:
        return decode(fields.get(FIELD, b"") if isinstance(fields, dict) else b"")
    except DecodeError:
        return None
