"""Capturing what user code prints and logs, line by line, with the time of each line.

`sys.stdout` and `sys.stderr` are replaced for good by streams that route each line to the
buffer of the running execution (or to the real stream when none runs). Logging records reach
the buffer through the streams the action's own handlers write to, or, when the action set up
no logging, through `logging.lastResort` (recorded as LOGGING with their level). Output written
straight to the file descriptors 1 and 2 (C extensions, subprocesses) is caught with a file
of the worker's own directory; those lines carry the time the execution ended.
"""

from __future__ import annotations

import io
import logging
import os
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

STDOUT = "stdout"
STDERR = "stderr"
LOGGING = "logging"
WRAPPER = "wrapper"

MAX_LINE = 16_384
FD_CAPTURE_LIMIT = 4_000_000
JOURNAL = ".oryx-log"


@dataclass(frozen=True)
class LogRecord:
    time: float  # seconds since the epoch
    stream: str  # stdout, stderr, logging or wrapper
    text: str
    level: str = ""


class LogBuffer:
    """The lines of one execution; the oldest go first beyond `limit_bytes`."""

    def __init__(self, limit_bytes: int = 1_000_000, *, journal: int | None = None) -> None:
        self.limit_bytes = limit_bytes
        self.journal = journal
        self.lines: deque[LogRecord] = deque()
        self.size = 0
        self.truncated = False
        self._lock = threading.Lock()

    def add(self, stream: str, text: str, *, level: str = "", at: float | None = None) -> None:
        if len(text) > MAX_LINE:
            text = text[:MAX_LINE] + " [line cut]"
        text = text.replace("\n", " ")
        at = time.time() if at is None else at
        record = LogRecord(time=at, stream=stream, text=text, level=level)
        with self._lock:
            if self.journal is not None:
                # text is one line: the fourth field may hold tabs (split at most 3 times)
                line = f"{record.time}\t{stream}\t{level}\t{text}\n"
                os.write(self.journal, line.encode("utf-8", errors="replace"))
            self.lines.append(record)
            self.size += len(text) + 32
            while self.size > self.limit_bytes and len(self.lines) > 1:
                dropped = self.lines.popleft()
                self.size -= len(dropped.text) + 32
                self.truncated = True

    def detach_journal(self) -> None:
        """Stop writing through to the journal (which the capture keeps open)."""
        with self._lock:
            self.journal = None

    def drain(self) -> tuple[list[LogRecord], bool]:
        """Take every line so far (and whether some were dropped), leaving the buffer empty."""
        with self._lock:
            lines, truncated = list(self.lines), self.truncated
            self.lines.clear()
            self.size = 0
            self.truncated = False
        return lines, truncated


class _LineStream(io.TextIOBase):
    """Stands for sys.stdout or sys.stderr."""

    def __init__(self, name: str, capture: Capture, fallback: TextIO) -> None:
        super().__init__()
        self._name = name
        self._capture = capture
        self._fallback = fallback
        self._partial = ""
        self._lock = threading.Lock()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return "backslashreplace"

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return self._fallback.fileno()

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        buffer = self._capture.buffer
        if buffer is None:
            return self._fallback.write(text)
        with self._lock:
            self._partial += text
            if "\n" in self._partial:
                *lines, self._partial = self._partial.split("\n")
                for line in lines:
                    buffer.add(self._name, line.rstrip("\r"))
        return len(text)

    def flush(self) -> None:
        self._fallback.flush()

    def end_line(self, buffer: LogBuffer) -> None:
        """Record a last line that had no line break."""
        with self._lock:
            if self._partial:
                buffer.add(self._name, self._partial)
                self._partial = ""


class _LastResort(logging.Handler):
    """Replaces logging.lastResort: records of an action that configured no logging."""

    def __init__(self, capture: Capture) -> None:
        super().__init__(level=logging.WARNING)
        self._capture = capture
        self.setFormatter(logging.Formatter("%(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
            buffer = self._capture.buffer
            if buffer is None:
                if sys.__stderr__ is not None:
                    sys.__stderr__.write(text + "\n")
                return
            for line in text.splitlines() or [""]:
                buffer.add(LOGGING, line, level=record.levelname, at=record.created)
        except Exception:  # logging must never raise into user code
            self.handleError(record)


class _FdCapture:
    """Points a file descriptor at a file while an execution runs (the file is reused)."""

    def __init__(self, fd: int, path: Path) -> None:
        self.fd = fd
        flags = os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
        self.file = os.open(path, flags, 0o600)
        self.saved: int | None = None

    def start(self) -> None:
        os.ftruncate(self.file, 0)
        self.saved = os.dup(self.fd)
        os.dup2(self.file, self.fd)

    def stop(self) -> bytes:
        if self.saved is None:
            return b""
        os.dup2(self.saved, self.fd)
        os.close(self.saved)
        self.saved = None
        size = os.fstat(self.file).st_size
        if size == 0:
            return b""
        return os.pread(self.file, min(size, FD_CAPTURE_LIMIT), max(0, size - FD_CAPTURE_LIMIT))


def read_journal(directory: Path) -> list[LogRecord]:
    """The lines the last execution had caught when its worker died (see `Capture.install`)."""
    records: list[LogRecord] = []
    journal = directory / JOURNAL
    if journal.is_file():
        with journal.open(encoding="utf-8", errors="replace") as lines:
            for line in lines:
                parts = line.rstrip("\n").split("\t", 3)
                if len(parts) == 4:
                    try:
                        at = float(parts[0])
                    except ValueError:
                        continue
                    records.append(
                        LogRecord(time=at, stream=parts[1], text=parts[3], level=parts[2])
                    )
    for name in (STDOUT, STDERR):
        path = directory / f".oryx-{name}"
        if path.is_file() and path.stat().st_size:
            data = path.read_bytes()[-FD_CAPTURE_LIMIT:]
            at = path.stat().st_mtime
            records.extend(
                LogRecord(time=at, stream=name, text=line)
                for line in data.decode("utf-8", errors="replace").splitlines()
            )
    return records[-10_000:]


class Capture:
    """This process's output capture; `start()` and `stop()` bracket one execution."""

    def __init__(self, *, limit_bytes: int = 1_000_000, directory: Path | None = None) -> None:
        self.limit_bytes = limit_bytes
        self.buffer: LogBuffer | None = None
        self._directory = directory
        self._journal: int | None = None
        self._fds: list[tuple[str, _FdCapture]] = []
        self._streams: list[_LineStream] = []

    def install(self) -> None:
        """Replace sys.stdout, sys.stderr and logging.lastResort, for the life of the process.

        With a `directory`, file descriptors 1 and 2 point at files there during executions,
        and every line is also written through to a journal there, so that the lines survive
        a worker that is killed (`read_journal`). The files are reused, only truncated.
        """
        fallback_out = sys.stdout if sys.stdout is not None else open(os.devnull, "w")  # noqa: SIM115
        fallback_err = sys.stderr if sys.stderr is not None else open(os.devnull, "w")  # noqa: SIM115
        self._streams = [
            _LineStream(STDOUT, self, fallback_out),
            _LineStream(STDERR, self, fallback_err),
        ]
        sys.stdout, sys.stderr = self._streams
        logging.lastResort = _LastResort(self)
        if self._directory is not None:
            self._directory.mkdir(parents=True, exist_ok=True)
            flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND
            self._journal = os.open(self._directory / JOURNAL, flags, 0o600)
            self._fds = [
                (STDOUT, _FdCapture(1, self._directory / f".oryx-{STDOUT}")),
                (STDERR, _FdCapture(2, self._directory / f".oryx-{STDERR}")),
            ]

    def start(self) -> LogBuffer:
        """Route output to a new buffer (also returned)."""
        for stream in self._streams:
            stream.flush()
        if self._journal is not None:
            os.ftruncate(self._journal, 0)
        for _, fd in self._fds:
            fd.start()
        self.buffer = LogBuffer(self.limit_bytes, journal=self._journal)
        return self.buffer

    def stop(self) -> LogBuffer:
        """Stop routing to the current buffer and return it with every line caught."""
        buffer = self.buffer if self.buffer is not None else LogBuffer(self.limit_bytes)
        for stream in self._streams:
            stream.end_line(buffer)
        buffer.detach_journal()
        for name, fd in self._fds:
            data = fd.stop()
            if data:
                for line in data.decode("utf-8", errors="replace").splitlines():
                    buffer.add(name, line)
        self.buffer = None
        return buffer
