"""The local-folder filestore of the embedded mode, read-only here.

The repository service writes it (its ``LocalFolderFilestore``): the bytes of the object named
``key`` are in ``<root>/objects/<key>``. Both services are given the same root.
"""

import asyncio
import shutil
from pathlib import Path

from oryx_action_builder.application.ports import SourceUnavailable

DEFAULT_MAX_BYTES = 100 * 1024 * 1024
OBJECTS = "objects"


class InvalidKey(SourceUnavailable):
    pass


def resolve_key(root: Path, key: str) -> Path:
    """The file of ``key`` under ``root``; ``InvalidKey`` for keys that could leave it."""
    parts = key.split("/")
    if "\\" in key or "\0" in key or any(part in ("", ".", "..") for part in parts):
        # Empty parts also refuse "", "/absolute", "a//b" and "a/".
        raise InvalidKey(f"{key!r} is not a valid filestore key")
    path = root.joinpath(*parts)
    resolved, base = path.resolve(), root.resolve()
    if not resolved.is_relative_to(base):  # a symlink inside the root pointing out of it
        raise InvalidKey(f"{key!r} leads out of the filestore")
    return resolved


class LocalFolderSourceStore:
    def __init__(self, root: Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self._root = root / OBJECTS
        self._max_bytes = max_bytes

    async def download(self, *, key: str, destination: Path) -> None:
        await asyncio.to_thread(self._copy, key, destination)

    def _copy(self, key: str, destination: Path) -> None:
        source = resolve_key(self._root, key)
        try:
            size = source.stat().st_size
        except FileNotFoundError:
            raise SourceUnavailable(f"no file {key!r} in the filestore {self._root}") from None
        if not source.is_file():
            raise SourceUnavailable(f"{key!r} is not a file")
        if size > self._max_bytes:
            raise SourceUnavailable(f"{key!r} is {size} bytes, more than {self._max_bytes}")
        try:
            shutil.copyfile(source, destination)
        except OSError as exc:
            raise SourceUnavailable(f"cannot read {key!r}: {exc}") from exc
