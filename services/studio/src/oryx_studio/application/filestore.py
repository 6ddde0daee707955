"""The filestore port: where static file inputs and file variables are kept.

Keys are relative, slash-separated paths chosen by the platform, such as
``projects/<project_id>/studio/workflows/<workflow_id>/files/<id>/<name>``. Every adapter
checks them with ``check_key`` before touching anything, so a key means the same object
everywhere and can never reach outside the store.

A key is never also the folder of other keys (``a/b`` next to ``a/b/c``): S3 would allow it,
a local folder cannot hold it and refuses it with ``InvalidFileKey``. Keys that end with a file
name, as above, never meet this.
"""

from __future__ import annotations

import unicodedata
from datetime import timedelta
from typing import Protocol

MAX_KEY_BYTES = 1024  # S3's limit on object names
MAX_SEGMENT_BYTES = 255  # a file name on every common file system
MAX_PRESIGN_EXPIRY = timedelta(days=7)  # S3 signature version 4 refuses longer


class FileNotFoundInStore(LookupError):
    """No object is stored under this key."""

    def __init__(self, key: str) -> None:
        super().__init__(f"no file stored under {key!r}")
        self.key = key


class InvalidFileKey(ValueError):
    """A key the filestore refuses: empty, absolute, with ``..``, a backslash, a control
    character, or too long."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"invalid filestore key {key!r}: {reason}")
        self.key = key
        self.reason = reason


class Filestore(Protocol):
    """Files of the platform, by key. Missing objects are ``FileNotFoundInStore``."""

    async def put(
        self, key: str, data: bytes, *, content_type: str = "application/octet-stream"
    ) -> None:
        """Store ``data`` under ``key``, replacing what was there."""
        ...

    async def get(self, key: str) -> bytes:
        """The bytes stored under ``key``; ``FileNotFoundInStore`` when there are none."""
        ...

    async def delete(self, key: str) -> None:
        """Remove the object under ``key``; nothing happens when there is none."""
        ...

    async def delete_prefix(self, prefix: str) -> int:
        """Remove every object in the folder ``prefix`` (``projects/p1`` or ``projects/p1/``:
        the keys under ``projects/p1/``, never ``projects/p10/...``); how many were removed."""
        ...

    async def exists(self, key: str) -> bool:
        """Whether an object is stored under ``key``."""
        ...

    async def presign_get(self, key: str, *, expires: timedelta) -> str:
        """A URL that downloads ``key`` without credentials until ``expires`` from now."""
        ...

    async def presign_put(self, key: str, *, expires: timedelta) -> str:
        """A URL that uploads to ``key`` (HTTP PUT) without credentials until ``expires``."""
        ...


def check_key(key: str) -> str:
    """``key`` when the filestore accepts it, else ``InvalidFileKey`` (a ``ValueError``)."""
    if not isinstance(key, str):
        raise InvalidFileKey(repr(key), "a key is a string")
    if not key:
        raise InvalidFileKey(key, "a key cannot be empty")
    if key.startswith("/"):
        raise InvalidFileKey(key, "a key is relative; it cannot start with '/'")
    if "\\" in key:
        raise InvalidFileKey(key, "a key cannot contain a backslash")
    if any(unicodedata.category(char) == "Cc" for char in key):
        raise InvalidFileKey(key, "a key cannot contain control characters")
    if any(unicodedata.category(char) == "Cs" for char in key):
        raise InvalidFileKey(key, "a key is valid Unicode text (no lone surrogates)")
    if len(key.encode()) > MAX_KEY_BYTES:
        raise InvalidFileKey(key, f"a key is at most {MAX_KEY_BYTES} bytes long (UTF-8)")
    for segment in key.split("/"):
        if segment == "..":
            raise InvalidFileKey(key, "a key cannot contain '..' segments")
        if segment in ("", "."):
            # 'a//b', 'a/./b' and 'a/' would name the same file as 'a/b' on a disk, or none.
            raise InvalidFileKey(key, "a key cannot have empty or '.' segments")
        if len(segment.encode()) > MAX_SEGMENT_BYTES:
            raise InvalidFileKey(
                key, f"each part of a key is at most {MAX_SEGMENT_BYTES} bytes long (UTF-8)"
            )
    return key


def folder_prefix(prefix: str) -> str:
    """The folder ``prefix`` names, checked like a key and ending with one ``/``."""
    folder = prefix[:-1] if isinstance(prefix, str) and prefix.endswith("/") else prefix
    return check_key(folder) + "/"


def check_expiry(expires: timedelta) -> timedelta:
    """``expires`` when it is a usable lifetime for a presigned URL, else ``ValueError``."""
    if not isinstance(expires, timedelta):
        raise TypeError("expires is a datetime.timedelta")
    if expires.total_seconds() < 1:
        raise ValueError("a presigned URL lives at least one second")
    if expires > MAX_PRESIGN_EXPIRY:
        raise ValueError(f"a presigned URL lives at most {MAX_PRESIGN_EXPIRY.days} days")
    return expires
