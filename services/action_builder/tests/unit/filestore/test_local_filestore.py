from pathlib import Path

import pytest

from oryx_action_builder.application.ports import SourceUnavailable
from oryx_action_builder.infrastructure.filestore.local import LocalFolderSourceStore


@pytest.fixture
def root(tmp_path: Path) -> Path:
    # the repository's local filestore keeps each object's bytes under objects/<key>
    (tmp_path / "store" / "objects" / "sources").mkdir(parents=True)
    (tmp_path / "store" / "objects" / "sources" / "a.tar.gz").write_bytes(b"archive")
    (tmp_path / "secret.txt").write_text("outside")
    return tmp_path / "store"


async def test_a_key_is_a_relative_path_under_the_root(root: Path, tmp_path: Path) -> None:
    store = LocalFolderSourceStore(root)

    await store.download(key="sources/a.tar.gz", destination=tmp_path / "got")

    assert (tmp_path / "got").read_bytes() == b"archive"


@pytest.mark.parametrize(
    "key", ["", "/etc/passwd", "../secret.txt", "sources/../../secret.txt", "a\\b", "./x"]
)
async def test_keys_that_could_leave_the_root_are_refused(
    root: Path, tmp_path: Path, key: str
) -> None:
    with pytest.raises(SourceUnavailable, match="not a valid filestore key"):
        await LocalFolderSourceStore(root).download(key=key, destination=tmp_path / "got")


async def test_a_symlink_out_of_the_root_is_refused(root: Path, tmp_path: Path) -> None:
    (root / "objects" / "sources" / "link").symlink_to(tmp_path / "secret.txt")

    with pytest.raises(SourceUnavailable, match="leads out of the filestore"):
        await LocalFolderSourceStore(root).download(key="sources/link", destination=tmp_path / "g")


async def test_a_missing_key_is_unavailable(root: Path, tmp_path: Path) -> None:
    with pytest.raises(SourceUnavailable, match="no file"):
        await LocalFolderSourceStore(root).download(key="sources/b", destination=tmp_path / "g")


async def test_an_archive_over_the_limit_is_refused(root: Path, tmp_path: Path) -> None:
    store = LocalFolderSourceStore(root, max_bytes=3)

    with pytest.raises(SourceUnavailable, match="more than 3"):
        await store.download(key="sources/a.tar.gz", destination=tmp_path / "got")
