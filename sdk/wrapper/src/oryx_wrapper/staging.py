"""Files the wrapper keeps until the runner gives a PUT URL for them (UploadFiles).

Outputs with no PUT URL in their request, and the files of every run a source creates, are
staged: copied (directories archived) under the staging folder with an id. They are deleted
once uploaded, or when their time to live runs out.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from .transfer import file_digest, place_output
from .values import LocalPath, StoredFile


@dataclass(frozen=True)
class StagedFile:
    id: str
    path: Path
    expires_at: float


class Staging:
    def __init__(self, root: Path, *, ttl: float = 3600.0) -> None:
        self.root = root
        self.ttl = ttl
        self._files: dict[str, StagedFile] = {}
        root.mkdir(parents=True, exist_ok=True)

    @staticmethod
    def new_id() -> str:
        return secrets.token_hex(16)

    def path_of(self, staged_id: str) -> Path:
        return self.root / staged_id

    def register(self, staged_id: str, *, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self._files[staged_id] = StagedFile(staged_id, self.path_of(staged_id), now + self.ttl)

    def get(self, staged_id: str) -> StagedFile | None:
        staged = self._files.get(staged_id)
        if staged is None or staged.expires_at < time.monotonic():
            return None
        return staged

    def forget(self, staged_id: str) -> None:
        staged = self._files.pop(staged_id, None)
        path = staged.path if staged else self.path_of(staged_id)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()

    def sweep(self, *, now: float | None = None) -> int:
        """Delete the expired files; returns how many."""
        now = time.monotonic() if now is None else now
        expired = [f.id for f in self._files.values() if f.expires_at < now]
        for staged_id in expired:
            self.forget(staged_id)
        return len(expired)

    def __len__(self) -> int:
        return len(self._files)


def output_name(value: LocalPath) -> str:
    """The name an output travels under: a directory becomes `<name>.tar.gz`."""
    name = Path(value.path).name
    return f"{name}.tar.gz" if value.directory else name


def stage_output(value: LocalPath, root: Path) -> StoredFile:
    """Copy (a directory: archive) an output under `root`, named by a new staged id."""
    staged_id = Staging.new_id()
    path = place_output(Path(value.path), root / staged_id, directory=value.directory)
    digest = file_digest(path)
    return StoredFile(
        name=output_name(value),
        size=digest.size,
        sha256=digest.sha256,
        directory=value.directory,
        staged_id=staged_id,
    )
