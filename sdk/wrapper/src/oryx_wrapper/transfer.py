"""Downloads from presigned GET URLs, uploads to presigned PUT URLs, and directory archives.

Blocking code (urllib, tarfile, zipfile): the server calls it in threads.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tarfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

CHUNK = 1024 * 1024
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".zip")
_UNSAFE = re.compile(r"[^A-Za-z0-9._+\- ]")


class TransferError(Exception):
    """A download, an upload or an archive failed."""


@dataclass(frozen=True)
class Stored:
    size: int
    sha256: str


def safe_name(name: str, *, fallback: str) -> str:
    """A file name from a request, made safe to use as one path component."""
    base = PurePosixPath(name.replace("\\", "/")).name
    base = _UNSAFE.sub("_", base).strip(" .")
    return base[:200] or fallback


def archive_stem(name: str) -> str:
    """`photos.tar.gz` -> `photos`: the directory an archive becomes."""
    lowered = name.lower()
    for suffix in ARCHIVE_SUFFIXES:
        if lowered.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def _check_url(url: str) -> None:
    if not url.lower().startswith(("http://", "https://")):
        raise TransferError(f"only http and https URLs are accepted, not {url.split(':', 1)[0]!r}")


def _redact(url: str) -> str:
    """A URL without its query (presigned signatures stay out of messages)."""
    return url.split("?", 1)[0]


def download(url: str, destination: Path, *, timeout: float = 300.0) -> Stored:
    _check_url(url)
    digest = hashlib.sha256()
    size = 0
    try:
        with (
            urllib.request.urlopen(url, timeout=timeout) as response,  # noqa: S310 (checked)
            destination.open("wb") as out,
        ):
            while chunk := response.read(CHUNK):
                out.write(chunk)
                digest.update(chunk)
                size += len(chunk)
    except urllib.error.HTTPError as error:
        raise TransferError(f"GET {_redact(url)}: HTTP {error.code} {error.reason}") from None
    except (urllib.error.URLError, OSError) as error:
        raise TransferError(f"GET {_redact(url)}: {error}") from None
    return Stored(size=size, sha256=digest.hexdigest())


def file_digest(path: Path) -> Stored:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as data:
        while chunk := data.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return Stored(size=size, sha256=digest.hexdigest())


def upload(path: Path, url: str, *, timeout: float = 300.0) -> Stored:
    _check_url(url)
    stored = file_digest(path)
    try:
        with path.open("rb") as data:
            request = urllib.request.Request(  # noqa: S310 (checked)
                url,
                data=data,
                method="PUT",
                headers={
                    "Content-Length": str(stored.size),
                    "Content-Type": "application/octet-stream",
                },
            )
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
                response.read()
    except urllib.error.HTTPError as error:
        raise TransferError(f"PUT {_redact(url)}: HTTP {error.code} {error.reason}") from None
    except (urllib.error.URLError, OSError) as error:
        raise TransferError(f"PUT {_redact(url)}: {error}") from None
    return stored


def pack_directory(directory: Path, archive: Path) -> None:
    """A .tar.gz of the directory's contents (paths relative to the directory)."""
    try:
        with tarfile.open(archive, "w:gz", compresslevel=6) as tar:
            for entry in sorted(directory.iterdir()):
                tar.add(entry, arcname=entry.name)
    except (OSError, tarfile.TarError) as error:
        raise TransferError(f"cannot archive {directory}: {error}") from None


def _inside(root: Path, member: str) -> bool:
    target = (root / member).resolve()
    return target == root or root in target.parents


def unpack_archive(archive: Path, destination: Path, *, name: str) -> None:
    """Extract a directory archive (.tar.gz, .tgz, .tar or .zip) into `destination`.

    The format is read from the content, so an archive with an unexpected name still works.
    Members escaping the destination, links and devices are refused.
    """
    destination.mkdir(parents=True, exist_ok=True)
    root = destination.resolve()
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zipped:
                for member in zipped.namelist():
                    if not _inside(root, member):
                        raise TransferError(f"{name}: the member {member!r} leaves the directory")
                zipped.extractall(root)  # noqa: S202 (every member was checked above)
            return
        with tarfile.open(archive, "r:*") as tar:
            for entry in tar.getmembers():
                if not _inside(root, entry.name):
                    raise TransferError(f"{name}: the member {entry.name!r} leaves the directory")
                if not (entry.isfile() or entry.isdir()):
                    raise TransferError(f"{name}: {entry.name!r} is a link or a special file")
            if hasattr(tarfile, "data_filter"):
                tar.extractall(root, filter="data")
            else:  # pragma: no cover (Python without extraction filters)
                tar.extractall(root)  # noqa: S202 (every member was checked above)
    except (tarfile.TarError, zipfile.BadZipFile, OSError) as error:
        raise TransferError(f"{name}: not a readable .tar.gz or .zip archive: {error}") from None


def place_output(path: Path, staging: Path, *, directory: bool) -> Path:
    """Copy (or archive) an output into `staging`, a new path; returns it."""
    if directory:
        pack_directory(path, staging)
    else:
        try:
            shutil.copyfile(path, staging)
        except OSError as error:
            raise TransferError(f"cannot read {path}: {error}") from None
    os.chmod(staging, 0o600)
    return staging
