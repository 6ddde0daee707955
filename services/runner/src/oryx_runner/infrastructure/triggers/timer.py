"""Waiting, for the triggers (the ``Timer`` port; tests use a fake that a test advances)."""

from __future__ import annotations

import asyncio


class AsyncioTimer:
    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))
