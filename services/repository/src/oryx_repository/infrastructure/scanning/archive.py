"""A deterministic ``.tar.gz`` of one action folder: what the builder receives.

The same files give the same bytes, hence the same sha256, whoever archives them and when:
entries are sorted, every time is 0, owners are root with no names, modes are 644 or 755,
and gzip records no file name and no time. Symbolic links (already checked by the scan to
stay inside the repository) are stored as the files they point to, so the archive holds
regular files only.
"""

import gzip
import hashlib
import io
import os
import stat
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath


@dataclass(frozen=True)
class ActionArchive:
    data: bytes
    sha256: str

    def __repr__(self) -> str:
        return f"ActionArchive({len(self.data)} bytes, sha256={self.sha256})"


class ArchiveError(Exception):
    """A listed file is unsafe or unreadable (the folder changed since it was scanned)."""


def archive_action(*, root: Path, path: str, files: Sequence[str]) -> ActionArchive:
    """Archive ``files`` (relative to the action folder ``path``, itself relative to the
    repository ``root``), as ``ScannedAction.path`` and ``archive_files`` give them."""
    real_root = Path(os.path.realpath(root))
    folder = real_root / path
    buffer = io.BytesIO()
    with (
        gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0, compresslevel=9) as zipped,
        tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for name in sorted(set(files)):
            relative = PurePosixPath(name)
            if relative.is_absolute() or ".." in relative.parts or not relative.parts:
                raise ArchiveError(f"{name!r} is not a path inside the action folder")
            source = Path(os.path.realpath(folder / relative))
            if not source.is_relative_to(real_root) or not source.is_file():
                raise ArchiveError(f"{name!r} is not a file inside the repository")
            data = source.read_bytes()
            executable = source.stat().st_mode & (stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
            info = tarfile.TarInfo(relative.as_posix())
            info.size = len(data)
            info.mtime = 0
            info.mode = 0o755 if executable else 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.type = tarfile.REGTYPE
            tar.addfile(info, io.BytesIO(data))
    data = buffer.getvalue()
    return ActionArchive(data=data, sha256=hashlib.sha256(data).hexdigest())
