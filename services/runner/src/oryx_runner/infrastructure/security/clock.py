"""The system clock and time-ordered ids (UUIDv7 layout)."""

import os
import threading
import time
import uuid
from datetime import UTC, datetime


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class Uuid7Generator:
    """UUIDv7: 48-bit Unix milliseconds, then 74 bits that start random in each millisecond
    and count up within it, so that ids made by one process sort in the order they were
    made (step runs created together list in their order)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ms = 0
        self._counter = 0

    def new(self) -> str:
        ms = time.time_ns() // 1_000_000
        with self._lock:
            if ms > self._ms:
                self._ms = ms
                self._counter = int.from_bytes(os.urandom(10), "big") >> 7  # 73 bits: room to count
            else:
                ms = self._ms
                self._counter += 1
            counter = self._counter & ((1 << 74) - 1)
        rand_a, rand_b = counter >> 62, counter & ((1 << 62) - 1)
        value = (ms & 0xFFFF_FFFF_FFFF) << 80 | 0x7 << 76 | rand_a << 64 | 0x2 << 62 | rand_b
        return str(uuid.UUID(int=value))
