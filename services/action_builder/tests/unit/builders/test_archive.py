"""Extracting untrusted source archives: what passes, what is refused."""

import io
import tarfile
from pathlib import Path

import pytest

from oryx_action_builder.infrastructure.builders.archive import (
    ArchiveRejected,
    extract,
    extract_action,
)


def tarball(path: Path, *members: tuple[tarfile.TarInfo, bytes | None]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def file(name: str, data: bytes = b"x") -> tuple[tarfile.TarInfo, bytes]:
    return tarfile.TarInfo(name), data


def link(name: str, target: str, *, hard: bool = False) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = tarfile.LNKTYPE if hard else tarfile.SYMTYPE
    info.linkname = target
    return info, None


def folder(name: str) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    return info, None


def test_an_action_archive_extracts(tmp_path: Path) -> None:
    archive = tarball(
        tmp_path / "a.tar.gz",
        file("ryax_metadata.yaml"),
        folder("pkg"),
        file("pkg/mod.py", b"print(1)"),
        link("pkg/alias.py", "mod.py"),
    )

    extract_action(archive, tmp_path / "action")

    assert (tmp_path / "action" / "pkg" / "mod.py").read_bytes() == b"print(1)"
    assert (tmp_path / "action" / "pkg" / "alias.py").resolve().name == "mod.py"


def test_an_archive_of_the_folder_itself_is_unwrapped(tmp_path: Path) -> None:
    archive = tarball(
        tmp_path / "a.tar.gz", folder("echo"), file("echo/ryax_metadata.yaml"), file("echo/h.py")
    )

    extract_action(archive, tmp_path / "action")

    assert sorted(p.name for p in (tmp_path / "action").iterdir()) == ["h.py", "ryax_metadata.yaml"]


@pytest.mark.parametrize(
    ("member", "reason"),
    [
        (file("/etc/passwd"), "absolute path"),
        (file("../outside.py"), "leaves the archive's folder"),
        (file("pkg/../../outside.py"), "leaves the archive's folder"),
        (link("escape", "/etc/passwd"), "leaves the archive"),
        (link("pkg/escape", "../../outside"), "leaves the archive"),
        (link("hard", "../outside", hard=True), "leaves the archive"),
    ],
)
def test_entries_leaving_the_folder_are_refused(
    tmp_path: Path, member: tuple[tarfile.TarInfo, bytes | None], reason: str
) -> None:
    archive = tarball(tmp_path / "a.tar.gz", file("ok.py"), member)

    with pytest.raises(ArchiveRejected, match=reason):
        extract(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()  # checked before anything is written


def test_devices_are_refused(tmp_path: Path) -> None:
    device = tarfile.TarInfo("dev")
    device.type = tarfile.CHRTYPE
    archive = tarball(tmp_path / "a.tar.gz", (device, None))

    with pytest.raises(ArchiveRejected, match="not a file, folder or link"):
        extract(archive, tmp_path / "out")


def test_the_extracted_size_is_bounded_before_writing(tmp_path: Path) -> None:
    archive = tarball(tmp_path / "a.tar.gz", file("a", b"0" * 600), file("b", b"0" * 600))

    with pytest.raises(ArchiveRejected, match="more than 1000 bytes"):
        extract(archive, tmp_path / "out", max_bytes=1000)
    assert not (tmp_path / "out").exists()


def test_the_number_of_entries_is_bounded(tmp_path: Path) -> None:
    archive = tarball(tmp_path / "a.tar.gz", *(file(f"f{i}") for i in range(5)))

    with pytest.raises(ArchiveRejected, match="more than 3 entries"):
        extract(archive, tmp_path / "out", max_members=3)


def test_something_else_than_a_tarball_is_refused(tmp_path: Path) -> None:
    junk = tmp_path / "a.tar.gz"
    junk.write_bytes(b"not an archive at all")

    with pytest.raises(ArchiveRejected, match="not a readable"):
        extract(junk, tmp_path / "out")
