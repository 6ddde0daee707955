"""The filestore in a local folder, for the embedded mode.

Layout under ``root``::

    objects/<key>   the bytes of each object
    types/<key>     its content type, when one was given
    tmp/            files being written; each is renamed into ``objects/`` once complete

Presigned URLs are ``<public_base_url>/filestore/<key>?expires=<unix time>&signature=<hmac>``,
signed with HMAC-SHA256 over the method, the key and the expiry, and answered by the router
from ``local_files_router(filestore)``, which the service mounts so that ``public_base_url``
reaches it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import math
import os
import tempfile
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import BinaryIO, Literal
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.responses import StreamingResponse

from oryx_runner.application.filestore import (
    FileNotFoundInStore,
    InvalidFileKey,
    check_expiry,
    check_key,
    folder_prefix,
)

DEFAULT_CONTENT_TYPE = "application/octet-stream"
MIN_SIGNING_KEY_BYTES = 32
MAX_UPLOAD_BYTES = 5 * 1024**3  # what one S3 PUT accepts
STALE_TEMP_SECONDS = 3600.0
_CHUNK = 256 * 1024
# A file served from the service's own origin must not run there as a page: the browser
# gets its type without sniffing, and any HTML or SVG is put in a sandbox of no origin.
_DOWNLOAD_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "sandbox",
}

Method = Literal["GET", "PUT"]


class PresigningUnavailable(RuntimeError):
    """Presigned URLs of a local folder need the public URL its files are served under."""


class LocalFolderFilestore:
    """Objects as files under ``root``; presigned URLs served by ``local_files_router``."""

    def __init__(
        self, root: Path, *, public_base_url: str | None = None, signing_key: bytes
    ) -> None:
        if len(signing_key) < MIN_SIGNING_KEY_BYTES:
            raise ValueError(
                f"the filestore signing key holds at least {MIN_SIGNING_KEY_BYTES} random bytes"
            )
        if public_base_url is not None:
            parts = urlsplit(public_base_url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError(
                    f"the filestore public base URL is an http(s) URL, not {public_base_url!r}"
                )
            public_base_url = public_base_url.rstrip("/")
        self.root = Path(root)
        self.public_base_url = public_base_url
        self._signing_key = signing_key
        self._objects = self.root / "objects"
        self._types = self.root / "types"
        self._tmp = self.root / "tmp"

    async def start(self) -> None:
        """Create the folders and remove files left half-written by a crash."""
        await asyncio.to_thread(self._start)

    def _start(self) -> None:
        for folder in (self._objects, self._types, self._tmp):
            folder.mkdir(parents=True, exist_ok=True)
        cutoff = time.time() - STALE_TEMP_SECONDS
        for leftover in self._tmp.iterdir():
            with contextlib.suppress(OSError):
                if leftover.stat().st_mtime < cutoff:
                    leftover.unlink()

    # -- the port -------------------------------------------------------------------------

    async def put(self, key: str, data: bytes, *, content_type: str = DEFAULT_CONTENT_TYPE) -> None:
        check_key(key)
        if not _is_content_type(content_type):
            raise ValueError(f"not a content type: {content_type!r}")
        await asyncio.to_thread(self._put, key, data, content_type)

    async def get(self, key: str) -> bytes:
        path = self._object_path(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise FileNotFoundInStore(key) from None

    async def delete(self, key: str) -> None:
        path = self._object_path(key)
        await asyncio.to_thread(self._delete, key, path)

    async def delete_prefix(self, prefix: str) -> int:
        folder = folder_prefix(prefix)
        return await asyncio.to_thread(self._delete_folder, folder)

    async def exists(self, key: str) -> bool:
        path = self._object_path(key)
        return await asyncio.to_thread(path.is_file)

    async def presign_get(self, key: str, *, expires: timedelta) -> str:
        return self._presign("GET", key, expires)

    async def presign_put(self, key: str, *, expires: timedelta) -> str:
        return self._presign("PUT", key, expires)

    # -- paths ----------------------------------------------------------------------------

    def _inside(self, tree: Path, key: str) -> Path:
        check_key(key)
        path = tree / key
        # Keys are checked, but a symbolic link planted in the folder could still lead out.
        if not path.resolve().is_relative_to(tree.resolve()):
            raise InvalidFileKey(key, "it leads outside the filestore folder")
        return path

    def _object_path(self, key: str) -> Path:
        return self._inside(self._objects, key)

    def _type_path(self, key: str) -> Path:
        return self._inside(self._types, key)

    # -- writing --------------------------------------------------------------------------

    def _temp_file(self) -> tuple[BinaryIO, Path]:
        self._tmp.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=self._tmp, prefix="upload-")
        return os.fdopen(fd, "wb"), Path(name)

    def _put(self, key: str, data: bytes, content_type: str) -> None:
        handle, temp = self._temp_file()
        try:
            with handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            self._commit(temp, key, content_type)
        finally:
            temp.unlink(missing_ok=True)

    def _commit(self, temp: Path, key: str, content_type: str) -> None:
        """Move a complete temporary file to ``key``: readers see the old or the new file."""
        path = self._object_path(key)
        type_path = self._type_path(key)
        for attempt in range(3):
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                type_path.parent.mkdir(parents=True, exist_ok=True)
                self._write_type(type_path, content_type)
                os.replace(temp, path)
                return
            except (FileExistsError, NotADirectoryError, IsADirectoryError):
                raise InvalidFileKey(
                    key,
                    "another key already uses this path as a folder or as a file "
                    "(a local folder cannot hold both 'a/b' and 'a/b/c')",
                ) from None
            except FileNotFoundError:
                # A delete emptied and removed the folder between our mkdir and rename.
                if attempt == 2:
                    raise

    def _write_type(self, type_path: Path, content_type: str) -> None:
        if content_type == DEFAULT_CONTENT_TYPE:
            type_path.unlink(missing_ok=True)
            return
        handle, temp = self._temp_file()
        try:
            with handle:
                handle.write(content_type.encode())
            os.replace(temp, type_path)
        finally:
            temp.unlink(missing_ok=True)

    async def _receive(
        self, key: str, chunks: AsyncIterator[bytes], *, content_type: str, max_bytes: int
    ) -> None:
        """Store an upload as it arrives; ``_TooLarge`` beyond ``max_bytes``."""
        check_key(key)
        handle, temp = await asyncio.to_thread(self._temp_file)
        try:
            size = 0
            with handle:
                async for chunk in chunks:
                    size += len(chunk)
                    if size > max_bytes:
                        raise _TooLarge(max_bytes)
                    if chunk:
                        await asyncio.to_thread(handle.write, chunk)
                await asyncio.to_thread(handle.flush)
                await asyncio.to_thread(os.fsync, handle.fileno())
            await asyncio.to_thread(self._commit, temp, key, content_type)
        finally:
            await asyncio.to_thread(temp.unlink, missing_ok=True)

    # -- deleting -------------------------------------------------------------------------

    def _delete(self, key: str, path: Path) -> None:
        type_path = self._type_path(key)
        with contextlib.suppress(FileNotFoundError, IsADirectoryError, NotADirectoryError):
            path.unlink()
        with contextlib.suppress(OSError):
            type_path.unlink()
        self._prune(path.parent, self._objects)
        self._prune(type_path.parent, self._types)

    def _delete_folder(self, folder: str) -> int:
        removed = 0
        for tree in (self._objects, self._types):
            top = self._inside(tree, folder.rstrip("/"))
            if not top.is_dir() or top.is_symlink():
                continue
            # Bottom-up, never following links: a link is removed, never what it points to.
            for current, dirs, files in os.walk(top, topdown=False):
                for name in files:
                    try:
                        (Path(current) / name).unlink()
                    except FileNotFoundError:
                        continue
                    if tree is self._objects:
                        removed += 1
                for name in dirs:
                    entry = Path(current) / name
                    with contextlib.suppress(OSError):
                        if entry.is_symlink():
                            entry.unlink()
                        else:
                            entry.rmdir()
            with contextlib.suppress(OSError):
                top.rmdir()
            self._prune(top.parent, tree)
        return removed

    @staticmethod
    def _prune(folder: Path, tree: Path) -> None:
        """Remove the now empty folders between ``folder`` and ``tree``."""
        while folder != tree and folder.is_relative_to(tree):
            try:
                folder.rmdir()
            except OSError:
                return
            folder = folder.parent

    # -- reading for the router -----------------------------------------------------------

    def _open(self, key: str) -> tuple[BinaryIO, int, str]:
        """The open file of ``key``, its size and content type; ``FileNotFoundInStore``."""
        path = self._object_path(key)
        try:
            handle = path.open("rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise FileNotFoundInStore(key) from None
        try:
            content_type = self._type_path(key).read_text().strip()
        except (OSError, UnicodeDecodeError):
            content_type = DEFAULT_CONTENT_TYPE
        if not _is_content_type(content_type):
            content_type = DEFAULT_CONTENT_TYPE
        return handle, os.fstat(handle.fileno()).st_size, content_type

    # -- signatures -----------------------------------------------------------------------

    def _presign(self, method: Method, key: str, expires: timedelta) -> str:
        check_key(key)
        check_expiry(expires)
        if self.public_base_url is None:
            raise PresigningUnavailable(
                "presigned URLs of the local-folder filestore need its public base URL "
                "(the address where the service serves /filestore/...); none is configured"
            )
        expires_at = math.ceil(time.time() + expires.total_seconds())
        signature = self._signature(method, key, expires_at)
        return (
            f"{self.public_base_url}/filestore/{quote(key, safe='/')}"
            f"?expires={expires_at}&signature={signature}"
        )

    def _signature(self, method: Method, key: str, expires_at: int) -> str:
        message = f"{method}\n{key}\n{expires_at}".encode()
        digest = hmac.new(self._signing_key, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def _check_signature(self, method: Method, key: str, expires: str, signature: str) -> None:
        """Nothing when the URL is genuine and alive, else ``_Refused`` with the reason."""
        if not (expires.isascii() and expires.isdigit() and len(expires) <= 12):
            raise _Refused("the URL has no valid expiry")
        expected = self._signature(method, key, int(expires))
        if not hmac.compare_digest(expected.encode(), signature.encode(errors="replace")):
            raise _Refused("the URL's signature does not match")
        if time.time() > int(expires):
            raise _Refused("the URL has expired")


def _is_content_type(value: str) -> bool:
    """Printable ASCII, short, with a slash: what can go back out as a header."""
    return 0 < len(value) <= 255 and "/" in value and all(" " <= c <= "~" for c in value)


class _Refused(Exception):
    pass


class _TooLarge(Exception):
    def __init__(self, max_bytes: int) -> None:
        super().__init__(f"an upload is at most {max_bytes} bytes")


def local_files_router(
    filestore: LocalFolderFilestore, *, max_upload_bytes: int = MAX_UPLOAD_BYTES
) -> APIRouter:
    """GET and PUT of presigned URLs: 403 when the signature is wrong or expired, 404 when
    nothing is stored, 413 for an upload above ``max_upload_bytes``, 409 for an upload onto a
    key the folder cannot hold (see ``InvalidFileKey`` in ``_commit``)."""
    router = APIRouter()

    def checked(method: Method, key: str, expires: str, signature: str) -> None:
        try:
            filestore._check_signature(method, key, expires, signature)
        except _Refused as exc:
            raise HTTPException(status_code=403, detail=str(exc)) from None

    @router.get("/filestore/{key:path}", include_in_schema=False)
    async def download(
        key: str, expires: str = Query(default=""), signature: str = Query(default="")
    ) -> StreamingResponse:
        checked("GET", key, expires, signature)
        try:
            handle, size, content_type = await asyncio.to_thread(filestore._open, key)
        except (FileNotFoundInStore, InvalidFileKey):
            raise HTTPException(status_code=404, detail="no file at this URL") from None

        async def body() -> AsyncIterator[bytes]:
            # Streams from the file opened above, even if it is replaced or deleted meanwhile.
            try:
                while chunk := await asyncio.to_thread(handle.read, _CHUNK):
                    yield chunk
            finally:
                handle.close()

        return StreamingResponse(
            body(),
            media_type=content_type,
            headers={"Content-Length": str(size), **_DOWNLOAD_HEADERS},
        )

    @router.put("/filestore/{key:path}", include_in_schema=False)
    async def upload(
        key: str,
        request: Request,
        expires: str = Query(default=""),
        signature: str = Query(default=""),
    ) -> Response:
        checked("PUT", key, expires, signature)
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > max_upload_bytes:
            raise HTTPException(
                status_code=413, detail=f"an upload is at most {max_upload_bytes} bytes"
            )
        content_type = request.headers.get("content-type", "")
        if not _is_content_type(content_type):
            content_type = DEFAULT_CONTENT_TYPE
        try:
            await filestore._receive(
                key, request.stream(), content_type=content_type, max_bytes=max_upload_bytes
            )
        except _TooLarge as exc:
            raise HTTPException(status_code=413, detail=str(exc)) from None
        except InvalidFileKey as exc:
            raise HTTPException(status_code=409, detail=exc.reason) from None
        return Response(status_code=200)

    return router
