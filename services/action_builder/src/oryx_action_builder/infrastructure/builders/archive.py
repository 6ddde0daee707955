"""Extracting an action's source archive (.tar.gz) without trusting it.

Refused: absolute paths, ``..``, links whose target leaves the folder, devices and fifos, more
than ``max_members`` entries, and more than ``max_bytes`` once extracted (counted from the
headers, which bound what extraction writes, so a gzip bomb stops before it is written).
"""

import os
import shutil
import tarfile
from pathlib import Path, PurePosixPath

DEFAULT_MAX_BYTES = 200 * 1024 * 1024
DEFAULT_MAX_MEMBERS = 20_000
METADATA_FILES = ("ryax_metadata.yaml", "oryx_metadata.yaml")


class ArchiveRejected(Exception):
    """The archive is unsafe, malformed or too big; the message says which and why."""


def _check_member(member: tarfile.TarInfo) -> None:
    name = PurePosixPath(member.name)
    if name.is_absolute() or member.name.startswith(("/", "\\")):
        raise ArchiveRejected(f"{member.name!r} is an absolute path")
    if ".." in name.parts:
        raise ArchiveRejected(f"{member.name!r} leaves the archive's folder (..)")
    if member.issym() or member.islnk():
        target = PurePosixPath(member.linkname)
        base = name.parent if member.issym() else PurePosixPath()
        if target.is_absolute() or not _inside(base / target):
            raise ArchiveRejected(f"link {member.name!r} -> {member.linkname!r} leaves the archive")
    elif not (member.isfile() or member.isdir()):
        raise ArchiveRejected(f"{member.name!r} is not a file, folder or link")


def _inside(path: PurePosixPath) -> bool:
    """Whether a relative path stays inside its root once ``..`` are applied."""
    depth = 0
    for part in path.parts:
        if part == "..":
            depth -= 1
            if depth < 0:
                return False
        elif part not in ("", "."):
            depth += 1
    return True


def extract(
    archive: Path,
    destination: Path,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_members: int = DEFAULT_MAX_MEMBERS,
) -> None:
    """Extract ``archive`` into ``destination`` (created; must not exist) after checking it all."""
    try:
        with tarfile.open(archive, mode="r:*") as tar:
            members = []
            total = 0
            for member in tar:
                members.append(member)
                if len(members) > max_members:
                    raise ArchiveRejected(f"more than {max_members} entries")
                _check_member(member)
                total += max(member.size, 0)
                if total > max_bytes:
                    raise ArchiveRejected(f"more than {max_bytes} bytes once extracted")
            destination.mkdir(parents=True)
            if hasattr(tarfile, "data_filter"):  # Python >= 3.11.4
                # The "data" filter repeats the checks above and drops permissions that do not
                # belong in sources (setuid, group/other write).
                tar.extractall(destination, members=members, filter="data")
            else:  # pragma: no cover - the checks above are the guard
                tar.extractall(destination, members=members)  # noqa: S202
    except ArchiveRejected:
        raise
    except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
        raise ArchiveRejected(f"not a readable .tar.gz archive: {exc}") from exc


def action_root(extracted: Path) -> Path:
    """The action folder inside an extracted archive.

    Archives are made of the action folder's contents; one made of the folder itself (one
    top-level folder and no metadata beside it) is accepted too.
    """
    if any((extracted / name).is_file() for name in METADATA_FILES):
        return extracted
    entries = list(extracted.iterdir())
    if len(entries) == 1 and entries[0].is_dir() and not entries[0].is_symlink():
        return entries[0]
    return extracted


def extract_action(archive: Path, destination: Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
    """Extract the action's folder of ``archive`` as ``destination``."""
    staging = destination.with_name(destination.name + ".extracting")
    extract(archive, staging, max_bytes=max_bytes)
    root = action_root(staging)
    os.replace(root, destination)
    if staging.exists():
        shutil.rmtree(staging)
