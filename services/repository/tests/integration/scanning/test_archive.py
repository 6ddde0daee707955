import gzip
import hashlib
import io
import os
import shutil
import tarfile
from pathlib import Path

import pytest

from oryx_repository.infrastructure.scanning.archive import (
    ActionArchive,
    ArchiveError,
    archive_action,
)
from oryx_repository.infrastructure.scanning.scanner import scan_repository

from .conftest import processor, write


def archive_of(root: Path) -> ActionArchive:
    [action] = scan_repository(root=root).actions
    assert action.errors == []
    return archive_action(root=root, path=action.path, files=action.archive_files)


def members(archive: ActionArchive) -> list[tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(archive.data), mode="r:gz") as tar:
        return tar.getmembers()


@pytest.fixture
def action_repo(repo: Path) -> Path:
    write(repo, processor("actions/echo"))
    write(repo, {"actions/echo/lib/b.py": "B = 2\n", "actions/echo/lib/a.py": "A = 1\n"})
    write(repo, {"actions/echo/run.sh": "#!/bin/sh\necho hi\n", "actions/other.txt": "no"})
    (repo / "actions/echo/run.sh").chmod(0o775)
    return repo


def test_the_archive_holds_the_action_folder_only(action_repo: Path) -> None:
    archive = archive_of(action_repo)
    assert archive.sha256 == hashlib.sha256(archive.data).hexdigest()
    with tarfile.open(fileobj=io.BytesIO(archive.data), mode="r:gz") as tar:
        assert tar.getnames() == [
            "lib/a.py",
            "lib/b.py",
            "run.sh",
            "ryax_handler.py",
            "ryax_metadata.yaml",
        ]
        extracted = tar.extractfile("lib/a.py")
        assert extracted is not None and extracted.read() == b"A = 1\n"


def test_entries_carry_no_time_owner_or_odd_mode(action_repo: Path) -> None:
    for member in members(archive_of(action_repo)):
        assert member.isreg()
        assert (member.mtime, member.uid, member.gid, member.uname, member.gname) == (
            0,
            0,
            0,
            "",
            "",
        )
        assert member.mode == (0o755 if member.name == "run.sh" else 0o644)


def test_the_same_files_give_the_same_bytes(action_repo: Path, tmp_path: Path) -> None:
    first = archive_of(action_repo)
    copy = tmp_path / "copy"
    shutil.copytree(action_repo, copy)  # other inodes, other times
    for path in copy.rglob("*"):
        os.utime(path, (1_000_000, 1_000_000))
    (copy / "actions/echo/lib/a.py").chmod(0o600)
    second = archive_of(copy)
    assert second.data == first.data
    assert second.sha256 == first.sha256
    assert gzip.decompress(first.data)  # a valid gzip stream
    assert first.data[4:8] == b"\0\0\0\0"  # gzip header: no time


def test_other_content_gives_another_sha(action_repo: Path) -> None:
    first = archive_of(action_repo)
    write(action_repo, {"actions/echo/lib/a.py": "A = 3\n"})
    assert archive_of(action_repo).sha256 != first.sha256


def test_symlinked_files_are_stored_as_files(repo: Path) -> None:
    write(repo, processor("a"))
    write(repo, {"shared.py": "S = 1\n"})
    os.symlink("../shared.py", repo / "a" / "shared.py")
    [member] = [m for m in members(archive_of(repo)) if m.name == "shared.py"]
    assert member.isreg() and member.size == len("S = 1\n")


@pytest.mark.parametrize("name", ["../secret", "/etc/passwd", "x/../../y", ""])
def test_names_outside_the_folder_are_refused(repo: Path, name: str) -> None:
    write(repo, processor("a"))
    with pytest.raises(ArchiveError):
        archive_action(root=repo, path="a", files=[name])


def test_a_link_that_changed_to_point_outside_is_refused(repo: Path) -> None:
    write(repo, processor("a"))
    os.symlink("/etc/hostname", repo / "a" / "late")
    with pytest.raises(ArchiveError):
        archive_action(root=repo, path="a", files=["late"])
