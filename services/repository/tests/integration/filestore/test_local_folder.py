"""What only the local-folder filestore does: its folder, its limits, its router."""

import os
import secrets
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from oryx_repository.application.filestore import InvalidFileKey
from oryx_repository.infrastructure.filestore.local import (
    LocalFolderFilestore,
    PresigningUnavailable,
    local_files_router,
)

MINUTE = timedelta(minutes=1)
BASE_URL = "http://oryx.test/repository"


@pytest.fixture
async def store(tmp_path: Path) -> LocalFolderFilestore:
    filestore = LocalFolderFilestore(
        tmp_path / "store", public_base_url=BASE_URL, signing_key=secrets.token_bytes(32)
    )
    await filestore.start()
    return filestore


def client_of(filestore: LocalFolderFilestore, **router_options: int) -> httpx.AsyncClient:
    """An HTTP client on the router, mounted where ``BASE_URL`` says, without a server."""
    app = FastAPI()
    app.include_router(local_files_router(filestore, **router_options), prefix="/repository")
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://oryx.test")


async def test_objects_are_plain_files_under_the_root(store: LocalFolderFilestore) -> None:
    await store.put("projects/p1/actions/a1/source.tar.gz", b"archive")

    assert (store.root / "objects/projects/p1/actions/a1/source.tar.gz").read_bytes() == b"archive"


async def test_writes_leave_no_temporary_file(store: LocalFolderFilestore) -> None:
    await store.put("projects/p1/a", b"x" * 1000)
    await store.put("projects/p1/a", b"y", content_type="text/plain")
    async with client_of(store) as client:
        await client.put(await store.presign_put("projects/p1/b", expires=MINUTE), content=b"z")

    assert list((store.root / "tmp").iterdir()) == []


async def test_delete_removes_the_emptied_folders(store: LocalFolderFilestore) -> None:
    await store.put("projects/p1/runs/r1/out", b"x", content_type="text/plain")
    await store.put("projects/p2/kept", b"y")

    await store.delete("projects/p1/runs/r1/out")
    assert await store.delete_prefix("projects/p2") == 1

    assert list((store.root / "objects").iterdir()) == []
    assert list((store.root / "types").iterdir()) == []


async def test_a_key_cannot_be_both_a_file_and_a_folder(store: LocalFolderFilestore) -> None:
    await store.put("projects/p1/a", b"file")
    await store.put("projects/p1/b/c", b"in a folder")

    with pytest.raises(InvalidFileKey, match="as a folder or as a file"):
        await store.put("projects/p1/a/c", b"under the file")
    with pytest.raises(InvalidFileKey, match="as a folder or as a file"):
        await store.put("projects/p1/b", b"over the folder")

    assert await store.get("projects/p1/a") == b"file"
    assert await store.get("projects/p1/b/c") == b"in a folder"
    assert list((store.root / "tmp").iterdir()) == []


async def test_a_link_planted_in_the_folder_does_not_lead_out(
    store: LocalFolderFilestore, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"not yours")
    (store.root / "objects/projects").mkdir(parents=True)
    (store.root / "objects/projects/p1").symlink_to(outside)

    with pytest.raises(InvalidFileKey, match="outside the filestore folder"):
        await store.get("projects/p1/secret")
    with pytest.raises(InvalidFileKey, match="outside the filestore folder"):
        await store.put("projects/p1/planted", b"x")
    with pytest.raises(InvalidFileKey, match="outside the filestore folder"):
        await store.delete_prefix("projects/p1/")

    assert sorted(p.name for p in outside.iterdir()) == ["secret"]


async def test_delete_prefix_removes_links_not_what_they_point_to(
    store: LocalFolderFilestore, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_bytes(b"keep")
    await store.put("projects/p1/a", b"x")
    (store.root / "objects/projects/p1/link").symlink_to(outside)

    assert await store.delete_prefix("projects/p1/") == 1

    assert (outside / "keep").read_bytes() == b"keep"
    assert not (store.root / "objects/projects/p1").exists()


async def test_start_removes_stale_temporary_files(tmp_path: Path) -> None:
    root = tmp_path / "store"
    (root / "tmp").mkdir(parents=True)
    stale = root / "tmp/upload-crashed"
    stale.write_bytes(b"half")
    old = time.time() - 2 * 3600
    os.utime(stale, (old, old))
    fresh = root / "tmp/upload-in-progress"
    fresh.write_bytes(b"half")

    await LocalFolderFilestore(root, signing_key=secrets.token_bytes(32)).start()

    assert not stale.exists()
    assert fresh.exists()


async def test_without_a_public_url_presigning_says_why(tmp_path: Path) -> None:
    store = LocalFolderFilestore(tmp_path / "store", signing_key=secrets.token_bytes(32))
    await store.start()
    await store.put("projects/p1/a", b"x")

    with pytest.raises(PresigningUnavailable, match="public base URL"):
        await store.presign_get("projects/p1/a", expires=MINUTE)
    with pytest.raises(PresigningUnavailable, match="public base URL"):
        await store.presign_put("projects/p1/a", expires=MINUTE)
    assert await store.get("projects/p1/a") == b"x"


@pytest.mark.parametrize("signing_key", [b"", b"short", b"x" * 31])
def test_a_short_signing_key_is_refused(tmp_path: Path, signing_key: bytes) -> None:
    with pytest.raises(ValueError, match="at least 32"):
        LocalFolderFilestore(tmp_path, signing_key=signing_key)


@pytest.mark.parametrize("url", ["oryx.test", "ftp://oryx.test", "http://", "/filestore"])
def test_the_public_url_is_an_http_url(tmp_path: Path, url: str) -> None:
    with pytest.raises(ValueError, match="public base URL"):
        LocalFolderFilestore(tmp_path, public_base_url=url, signing_key=secrets.token_bytes(32))


async def test_downloads_never_run_as_pages_of_the_service(store: LocalFolderFilestore) -> None:
    await store.put("projects/p1/page.html", b"<script>steal()</script>", content_type="text/html")

    async with client_of(store) as client:
        response = await client.get(
            await store.presign_get("projects/p1/page.html", expires=MINUTE)
        )

    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-security-policy"] == "sandbox"


@pytest.mark.parametrize("content_type", ["", "text/plain\r\nX-Evil: 1", "plain", "a/" + "b" * 300])
async def test_a_content_type_is_a_header_value(
    store: LocalFolderFilestore, content_type: str
) -> None:
    with pytest.raises(ValueError, match="not a content type"):
        await store.put("projects/p1/a", b"x", content_type=content_type)


async def test_an_upload_without_a_usable_content_type_is_octet_stream(
    store: LocalFolderFilestore,
) -> None:
    url = await store.presign_put("projects/p1/a", expires=MINUTE)

    async with client_of(store) as client:
        await client.put(url, content=b"x", headers={"content-type": "nonsense"})
        response = await client.get(await store.presign_get("projects/p1/a", expires=MINUTE))

    assert response.headers["content-type"] == "application/octet-stream"


async def test_urls_follow_the_public_base_url(store: LocalFolderFilestore) -> None:
    url = await store.presign_get("projects/p1/été 1.txt", expires=MINUTE)

    assert url.startswith(f"{BASE_URL}/filestore/projects/p1/%C3%A9t%C3%A9%201.txt?expires=")
    assert "&signature=" in url


async def test_urls_signed_with_another_key_are_refused(
    store: LocalFolderFilestore, tmp_path: Path
) -> None:
    impostor = LocalFolderFilestore(
        tmp_path / "other", public_base_url=BASE_URL, signing_key=secrets.token_bytes(32)
    )
    await store.put("projects/p1/a", b"x")

    async with client_of(store) as client:
        response = await client.get(await impostor.presign_get("projects/p1/a", expires=MINUTE))

    assert response.status_code == 403
    assert response.json() == {"detail": "the URL's signature does not match"}


@pytest.mark.parametrize(
    "query",
    ["", "?expires=99999999999", "?signature=abc", "?expires=soon&signature=abc", "?expires=-1"],
)
async def test_unsigned_urls_are_refused(store: LocalFolderFilestore, query: str) -> None:
    await store.put("projects/p1/a", b"x")

    async with client_of(store) as client:
        got = await client.get(f"/repository/filestore/projects/p1/a{query}")
        put = await client.put(f"/repository/filestore/projects/p1/a{query}", content=b"y")

    assert got.status_code == 403
    assert put.status_code == 403
    assert await store.get("projects/p1/a") == b"x"


async def test_an_upload_above_the_limit_is_refused(store: LocalFolderFilestore) -> None:
    url = await store.presign_put("projects/p1/big", expires=MINUTE)

    async with client_of(store, max_upload_bytes=1000) as client:
        declared = await client.put(url, content=b"x" * 1001)

        async def undeclared() -> AsyncIterator[bytes]:  # chunked: no Content-Length
            for _ in range(11):
                yield b"x" * 100

        streamed = await client.put(url, content=undeclared())
        within = await client.put(url, content=b"x" * 1000)

    assert declared.status_code == 413
    assert streamed.status_code == 413
    assert within.status_code == 200
    assert await store.get("projects/p1/big") == b"x" * 1000
    assert list((store.root / "tmp").iterdir()) == []


async def test_an_upload_onto_a_folder_is_a_conflict(store: LocalFolderFilestore) -> None:
    await store.put("projects/p1/folder/file", b"x")

    async with client_of(store) as client:
        response = await client.put(
            await store.presign_put("projects/p1/folder", expires=MINUTE), content=b"y"
        )

    assert response.status_code == 409


async def test_a_download_survives_a_delete_that_comes_during_it(
    session_local_filestore: LocalFolderFilestore, http: httpx.AsyncClient
) -> None:
    store = session_local_filestore  # served by uvicorn: the response really streams
    data = os.urandom(8 * 1024 * 1024)
    await store.put("projects/p1/streamed", data)
    url = await store.presign_get("projects/p1/streamed", expires=MINUTE)

    async with http.stream("GET", url) as response:
        chunks = response.aiter_raw()
        first = await anext(chunks)
        await store.delete("projects/p1/streamed")
        rest = b"".join([chunk async for chunk in chunks])

    assert response.status_code == 200
    assert first + rest == data
    assert not await store.exists("projects/p1/streamed")
