"""Telling a new fill from a redelivered one: by the gateway's fill sequence and the exchange's fill id.

The gateway numbers each market's fills (``Fill.seq``); a consumer that has applied sequence n treats
anything at or below n as a redelivery. That alone loses a fill when the gateway's count goes back:
Redis (AOF ``everysec``) can lose its last second of writes — the gateway's saved sequence and the
fill's ``exec:report`` entry — after a consumer applied that fill; a gateway restarted later then
numbers its next fill with the sequence the lost one had. So a consumer also remembers the ids of
its last :data:`KEPT` fills of the market:

- a remembered id is a redelivery, whatever its sequence;
- an unknown id at or below n, but not below the oldest remembered sequence, is a new fill whose
  sequence was reused (:data:`REUSED`): it is applied, and the caller counts and logs it;
- an unknown id older than the memory cannot be told apart and is taken as a redelivery (the rule
  without ids).

A redelivery at a higher sequence than applied (a gateway that lost its count re-found an old fill
and numbered it again) still moves the consumer's applied sequence up to it, so the consumer's
count and the gateway's stay equal — the approval rule compares them.

``recent`` maps fill id → sequence, oldest first; it is part of a consumer's persisted ledger.
:func:`admit` is the whole rule for a consumer; :func:`classify` and :func:`remember` are its halves.
"""

from __future__ import annotations

NEW = "new"
DUPLICATE = "duplicate"
REUSED = "reused"
KEPT = 64


def classify(applied: int, recent: dict[str, int], seq: int, fill_id: str = "") -> str:
    """What a fill with ``seq`` / ``fill_id`` is to a consumer that has applied ``applied`` (0 = counts itself)."""
    if fill_id and fill_id in recent:
        return DUPLICATE
    if not seq or seq > applied:
        return NEW
    if fill_id and recent and seq >= min(recent.values()):
        return REUSED
    return DUPLICATE


def remember(applied: int, recent: dict[str, int], seq: int, fill_id: str = "") -> int:
    """Record an applied fill; returns the new applied sequence (a reused one does not move it)."""
    applied = max(applied, seq) if seq else applied + 1
    if fill_id:
        recent[fill_id] = seq or applied
        while len(recent) > KEPT:
            del recent[next(iter(recent))]
    return applied


def admit(applied: int, recent: dict[str, int], seq: int, fill_id: str = "") -> tuple[str, int]:
    """One fill arrives: what it is (:data:`NEW`, :data:`REUSED` — apply it — or :data:`DUPLICATE`) and the
    consumer's applied sequence after it (``recent`` is updated in place)."""
    kind = classify(applied, recent, seq, fill_id)
    if kind == DUPLICATE:
        return kind, max(applied, seq)
    return kind, remember(applied, recent, seq, fill_id)
