"""The system clock and time-ordered ids (UUIDv7 layout)."""

import os
import time
import uuid
from datetime import UTC, datetime


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class Uuid7Generator:
    """UUIDv7: 48-bit Unix milliseconds then randomness, so ids sort by creation time."""

    def new(self) -> str:
        ms = time.time_ns() // 1_000_000
        rand = int.from_bytes(os.urandom(10), "big")
        value = (ms & 0xFFFF_FFFF_FFFF) << 80 | rand
        value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
        value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 4122 variant
        return str(uuid.UUID(int=value))
