"""The filestore contract: what every adapter does, run against each (see conftest)."""

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import pytest

from oryx_repository.application.filestore import FileNotFoundInStore, Filestore, InvalidFileKey

TEN_MB = 10 * 1024 * 1024
MINUTE = timedelta(minutes=1)


# storing and reading ------------------------------------------------------------------------


async def test_put_then_get_returns_the_bytes(filestore: Filestore, keys: str) -> None:
    key = f"{keys}actions/a1/source.tar.gz"

    await filestore.put(key, b"the archive", content_type="application/gzip")

    assert await filestore.get(key) == b"the archive"
    assert await filestore.exists(key)


async def test_put_replaces_what_was_there(filestore: Filestore, keys: str) -> None:
    key = f"{keys}logo.png"
    await filestore.put(key, b"first")

    await filestore.put(key, b"second")

    assert await filestore.get(key) == b"second"


async def test_an_empty_object_is_an_object(filestore: Filestore, keys: str) -> None:
    key = f"{keys}empty"

    await filestore.put(key, b"")

    assert await filestore.get(key) == b""
    assert await filestore.exists(key)


async def test_get_of_a_missing_key_raises_file_not_found(filestore: Filestore, keys: str) -> None:
    key = f"{keys}missing.txt"

    with pytest.raises(FileNotFoundInStore) as raised:
        await filestore.get(key)

    assert raised.value.key == key
    assert not await filestore.exists(key)


async def test_a_folder_is_not_an_object(filestore: Filestore, keys: str) -> None:
    await filestore.put(f"{keys}folder/file", b"x")

    assert not await filestore.exists(f"{keys}folder")
    with pytest.raises(FileNotFoundInStore):
        await filestore.get(f"{keys}folder")


async def test_a_big_object_goes_and_comes_back(filestore: Filestore, keys: str) -> None:
    data = os.urandom(TEN_MB)
    key = f"{keys}big.bin"

    await filestore.put(key, data)

    assert await filestore.get(key) == data


async def test_keys_with_spaces_and_unicode(filestore: Filestore, keys: str) -> None:
    key = f"{keys}outputs/résultat final (1).txt"

    await filestore.put(key, "données".encode())

    assert await filestore.get(key) == "données".encode()


async def test_concurrent_puts_of_one_key_leave_one_whole_object(
    filestore: Filestore, keys: str
) -> None:
    key = f"{keys}raced"
    versions = [bytes([n]) * 100_000 for n in range(8)]

    await asyncio.gather(*(filestore.put(key, data) for data in versions))

    assert await filestore.get(key) in versions


# deleting -----------------------------------------------------------------------------------


async def test_delete_removes_the_object(filestore: Filestore, keys: str) -> None:
    key = f"{keys}gone.txt"
    await filestore.put(key, b"x")

    await filestore.delete(key)

    assert not await filestore.exists(key)
    with pytest.raises(FileNotFoundInStore):
        await filestore.get(key)


async def test_delete_of_a_missing_key_is_no_error(filestore: Filestore, keys: str) -> None:
    await filestore.delete(f"{keys}never-stored")
    await filestore.delete(f"{keys}never-stored")


async def test_delete_leaves_the_other_objects(filestore: Filestore, keys: str) -> None:
    await filestore.put(f"{keys}a/one", b"1")
    await filestore.put(f"{keys}a/two", b"2")

    await filestore.delete(f"{keys}a/one")

    assert await filestore.get(f"{keys}a/two") == b"2"


@pytest.mark.parametrize("trailing_slash", ["/", ""])
async def test_delete_prefix_removes_the_folder_and_counts(
    filestore: Filestore, keys: str, trailing_slash: str
) -> None:
    inside = [f"{keys}p1/a", f"{keys}p1/b/c", f"{keys}p1/b/d/e.tar.gz"]
    outside = [f"{keys}p10/a", f"{keys}p1.txt", f"{keys}p2/p1/a"]
    for key in inside + outside:
        await filestore.put(key, key.encode())

    removed = await filestore.delete_prefix(f"{keys}p1{trailing_slash}")

    assert removed == len(inside)
    for key in inside:
        assert not await filestore.exists(key)
    for key in outside:
        assert await filestore.get(key) == key.encode()


async def test_delete_prefix_of_an_empty_folder_removes_nothing(
    filestore: Filestore, keys: str
) -> None:
    assert await filestore.delete_prefix(f"{keys}nothing-here/") == 0


async def test_a_folder_can_be_refilled_after_delete_prefix(
    filestore: Filestore, keys: str
) -> None:
    await filestore.put(f"{keys}runs/r1/out", b"old")
    await filestore.delete_prefix(f"{keys}runs/")

    await filestore.put(f"{keys}runs/r1/out", b"new")

    assert await filestore.get(f"{keys}runs/r1/out") == b"new"


# keys ---------------------------------------------------------------------------------------

BAD_KEYS = [
    pytest.param("", id="empty"),
    pytest.param("/projects/p1/file", id="absolute"),
    pytest.param("projects/../etc/passwd", id="dot-dot"),
    pytest.param("..", id="only-dot-dot"),
    pytest.param("projects/p1/..", id="trailing-dot-dot"),
    pytest.param("projects\\p1\\file", id="backslash"),
    pytest.param("projects/p1/a\x00b", id="nul"),
    pytest.param("projects/p1/a\nb", id="newline"),
    pytest.param("projects/p1/a\x7fb", id="delete-char"),
    pytest.param("projects/p1/a\x85b", id="c1-control"),
    pytest.param("projects//p1", id="empty-segment"),
    pytest.param("projects/./p1", id="dot-segment"),
    pytest.param("projects/p1/", id="trailing-slash"),
    pytest.param("projects/" + "x" * 256, id="segment-too-long"),
    pytest.param("/".join(["abcdefgh"] * 120), id="key-too-long"),
]


@pytest.mark.parametrize("key", BAD_KEYS)
async def test_bad_keys_are_refused_by_every_operation(filestore: Filestore, key: str) -> None:
    operations: dict[str, Callable[[], Awaitable[object]]] = {
        "put": lambda: filestore.put(key, b"x"),
        "get": lambda: filestore.get(key),
        "delete": lambda: filestore.delete(key),
        "exists": lambda: filestore.exists(key),
        "presign_get": lambda: filestore.presign_get(key, expires=MINUTE),
        "presign_put": lambda: filestore.presign_put(key, expires=MINUTE),
    }
    for name, operation in operations.items():
        with pytest.raises(ValueError, match="invalid filestore key") as raised:
            await operation()
        assert isinstance(raised.value, InvalidFileKey), name


@pytest.mark.parametrize("prefix", ["", "/", "//", "/projects/", "projects/../", "a\\b/"])
async def test_bad_prefixes_are_refused(filestore: Filestore, prefix: str) -> None:
    with pytest.raises(ValueError, match="invalid filestore key"):
        await filestore.delete_prefix(prefix)


@pytest.mark.parametrize("expires", [timedelta(0), timedelta(seconds=-5), timedelta(days=8)])
async def test_presigned_lifetimes_are_bounded(
    filestore: Filestore, keys: str, expires: timedelta
) -> None:
    with pytest.raises(ValueError, match="presigned URL lives"):
        await filestore.presign_get(f"{keys}f", expires=expires)
    with pytest.raises(ValueError, match="presigned URL lives"):
        await filestore.presign_put(f"{keys}f", expires=expires)


# presigned URLs -----------------------------------------------------------------------------


async def test_presigned_get_downloads_the_object(
    filestore: Filestore, keys: str, http: httpx.AsyncClient
) -> None:
    key = f"{keys}inputs/report.csv"
    await filestore.put(key, b"a,b\n1,2\n", content_type="text/csv")

    response = await http.get(await filestore.presign_get(key, expires=MINUTE))

    assert response.status_code == 200
    assert response.content == b"a,b\n1,2\n"
    assert response.headers["content-type"].startswith("text/csv")


async def test_presigned_put_uploads_the_object(
    filestore: Filestore, keys: str, http: httpx.AsyncClient
) -> None:
    key = f"{keys}outputs/image.png"

    url = await filestore.presign_put(key, expires=MINUTE)
    response = await http.put(url, content=b"\x89PNG...", headers={"content-type": "image/png"})

    assert response.status_code == 200, response.text
    assert await filestore.get(key) == b"\x89PNG..."
    downloaded = await http.get(await filestore.presign_get(key, expires=MINUTE))
    assert downloaded.headers["content-type"] == "image/png"


async def test_presigned_urls_carry_big_objects(
    filestore: Filestore, keys: str, http: httpx.AsyncClient
) -> None:
    data = os.urandom(TEN_MB)
    key = f"{keys}outputs/big.bin"

    uploaded = await http.put(await filestore.presign_put(key, expires=MINUTE), content=data)
    downloaded = await http.get(await filestore.presign_get(key, expires=MINUTE))

    assert uploaded.status_code == 200, uploaded.text
    assert downloaded.status_code == 200
    assert len(downloaded.content) == TEN_MB
    assert downloaded.content == data


async def test_presigned_urls_of_keys_with_spaces_and_unicode(
    filestore: Filestore, keys: str, http: httpx.AsyncClient
) -> None:
    key = f"{keys}outputs/été 2024 #1 ?.txt"

    uploaded = await http.put(await filestore.presign_put(key, expires=MINUTE), content=b"ok")
    downloaded = await http.get(await filestore.presign_get(key, expires=MINUTE))

    assert uploaded.status_code == 200, uploaded.text
    assert downloaded.content == b"ok"
    assert await filestore.get(key) == b"ok"


async def test_presigned_get_of_a_missing_object_is_404(
    filestore: Filestore, keys: str, http: httpx.AsyncClient
) -> None:
    response = await http.get(await filestore.presign_get(f"{keys}missing", expires=MINUTE))

    assert response.status_code == 404


async def test_a_get_url_cannot_upload_and_a_put_url_cannot_download(
    filestore: Filestore, keys: str, http: httpx.AsyncClient
) -> None:
    key = f"{keys}guarded"
    await filestore.put(key, b"original")

    upload = await http.put(await filestore.presign_get(key, expires=MINUTE), content=b"evil")
    download = await http.get(await filestore.presign_put(key, expires=MINUTE))

    assert upload.status_code == 403
    assert download.status_code == 403
    assert await filestore.get(key) == b"original"


def _with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    query.update(changes)
    return urlunsplit(parts._replace(query=urlencode(query)))


def _signature_field(url: str) -> str:
    fields = dict(parse_qsl(urlsplit(url).query))
    return "X-Amz-Signature" if "X-Amz-Signature" in fields else "signature"


def _expiry_field(url: str) -> str:
    fields = dict(parse_qsl(urlsplit(url).query))
    return "X-Amz-Expires" if "X-Amz-Expires" in fields else "expires"


async def test_tampered_urls_are_refused(
    filestore: Filestore, keys: str, http: httpx.AsyncClient
) -> None:
    key = f"{keys}secret.txt"
    other = f"{keys}other.txt"
    await filestore.put(key, b"content of the secret")
    await filestore.put(other, b"content of the other")
    url = await filestore.presign_get(key, expires=MINUTE)
    fields = dict(parse_qsl(urlsplit(url).query))
    signature = fields[_signature_field(url)]
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]

    tampered = [  # a forged signature, a longer life, another key
        _with_query(url, **{_signature_field(url): flipped}),
        _with_query(url, **{_expiry_field(url): str(int(fields[_expiry_field(url)]) + 3600)}),
        url.replace("secret.txt", "other.txt"),
    ]
    for bad in tampered:
        response = await http.get(bad)
        assert response.status_code == 403, bad
        assert b"content of" not in response.content
    # Without a signature S3 answers 400 (a malformed request); refused all the same.
    unsigned = await http.get(_with_query(url, **{_signature_field(url): ""}))
    assert unsigned.status_code in (400, 403)
    assert b"content of" not in unsigned.content

    put_url = await filestore.presign_put(key, expires=MINUTE)
    redirected = put_url.replace("secret.txt", "other.txt")
    response = await http.put(redirected, content=b"overwritten")
    assert response.status_code == 403
    assert await filestore.get(other) == b"content of the other"


async def test_expired_urls_are_refused(
    filestore: Filestore, keys: str, http: httpx.AsyncClient
) -> None:
    key = f"{keys}short-lived"
    await filestore.put(key, b"soon gone")
    signed_at = time.monotonic()
    # S3 counts from the signing time cut to the second: a 2-second URL lives 1 to 2 seconds.
    get_url = await filestore.presign_get(key, expires=timedelta(seconds=2))
    put_url = await filestore.presign_put(key, expires=timedelta(seconds=2))
    assert (await http.get(get_url)).status_code == 200

    await asyncio.sleep(signed_at + 3.1 - time.monotonic())

    assert (await http.get(get_url)).status_code == 403
    assert (await http.put(put_url, content=b"late")).status_code == 403
    assert await filestore.get(key) == b"soon gone"
