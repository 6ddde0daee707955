"""The way a scan goes: check out with the real git, scan the tree, archive each valid action."""

import os
from pathlib import Path

import pytest

from oryx_repository.infrastructure.git.cli import GitCli
from oryx_repository.infrastructure.scanning.archive import archive_action
from oryx_repository.infrastructure.scanning.scanner import scan_repository

from .conftest import commit_all, image, processor, source, write

EXAMPLES = Path(__file__).parents[5] / "examples" / "actions"


async def test_a_repository_checked_out_and_scanned(tmp_path: Path) -> None:
    origin = tmp_path / "origin"
    write(origin, processor("good", logo="logo.png"))
    write(origin, {"good/logo.png": image(), "good/requirements.txt": "requests==2.32.3\n"})
    write(origin, source("ticker"))
    write(origin, processor("escaping", "escaping"))
    os.symlink("/etc/passwd", origin / "escaping" / "passwd")
    sha = commit_all(origin)

    checkout = tmp_path / "checkout"
    got = await GitCli(allow_file=True).checkout(url=f"file://{origin}", destination=checkout)
    assert got == sha
    result = scan_repository(root=checkout)
    assert result.errors == []
    escaping, good, ticker = result.actions
    assert good.is_valid and ticker.is_valid and good.logo is not None
    assert [e.file for e in escaping.errors] == ["escaping/passwd"]

    archive = archive_action(root=checkout, path=good.path, files=good.archive_files)
    again = archive_action(root=origin, path=good.path, files=good.archive_files)
    assert archive.sha256 == again.sha256  # the checkout's times do not matter


@pytest.mark.skipif(not EXAMPLES.is_dir(), reason="examples/actions is not in this checkout")
def test_the_example_actions_scan_without_errors() -> None:
    result = scan_repository(root=EXAMPLES)
    assert result.errors == []
    assert len(result.actions) >= 7
    for action in result.actions:
        assert action.errors == [], action.path
        assert action.is_valid
        archive_action(root=EXAMPLES, path=action.path, files=action.archive_files)
