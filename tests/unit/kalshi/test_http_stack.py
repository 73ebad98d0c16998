"""The HTTP stack under the REST client does no per-request work it need not do."""

import asyncio
import importlib.machinery

import httpcore._synchronization as sync


def test_httpcore_finds_its_async_library_without_searching_the_disk(monkeypatch):
    searches = []
    real = importlib.machinery.PathFinder.find_spec

    def counting(*args, **kwargs):
        searches.append(args[0] if args else kwargs.get("fullname"))
        return real(*args, **kwargs)

    monkeypatch.setattr(importlib.machinery.PathFinder, "find_spec", counting)

    async def many() -> list[str]:
        return [sync.current_async_library() for _ in range(100)]

    assert asyncio.run(many()) == ["asyncio"] * 100
    assert searches == []  # without sniffio installed, every call searched sys.path for it
