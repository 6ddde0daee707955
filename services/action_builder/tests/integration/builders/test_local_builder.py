"""The local builder with a real ``python -m venv`` and a real pip.

The wrapper is the tests' tiny wheel and the requirements are local packages, so these builds
need no network, except the one that must fail to resolve a name on the package index.
"""

import asyncio
import io
import json
import subprocess
import tarfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from oryx_action_builder.domain.builds import BuildRequest, BuildResult
from oryx_action_builder.domain.status import BuildStatus
from oryx_action_builder.infrastructure.builders.local import LocalVenvBuilder
from oryx_action_builder.infrastructure.builders.wrapper import WrapperSource

from ...conftest import (  # type: ignore[import-not-found]
    archive_of,
    eventually,
    process_gone,
    slow_package_files,
    write_wheel,
)

BuilderFactory = Callable[..., LocalVenvBuilder]


@pytest.fixture
def artifacts(tmp_path: Path) -> Path:
    return tmp_path / "artifacts"


@pytest.fixture
def make_builder(artifacts: Path, fake_wrapper_wheel: Path) -> BuilderFactory:
    def make(**settings: object) -> LocalVenvBuilder:
        wrapper = WrapperSource(
            path=fake_wrapper_wheel, requirement="oryx-wrapper", cache_dir=artifacts / ".wrapper"
        )
        options: dict[str, object] = {"pip_timeout": 120.0, **settings}
        return LocalVenvBuilder(artifacts_dir=artifacts, wrapper=wrapper, **options)  # type: ignore[arg-type]

    return make


async def build(
    builder: LocalVenvBuilder,
    folder: Path,
    *,
    build_id: str = "b1",
    python_version: str = "",
    archive: bytes | None = None,
) -> tuple[BuildRequest, BuildResult]:
    data, sha = archive_of(folder) if archive is None else (archive, _sha(archive))
    path = folder.parent / f"{build_id}.tar.gz"
    path.write_bytes(data)
    request = BuildRequest(
        build_id=build_id,
        action_id=f"action-of-{folder.name}",
        project_id="p1",
        action_name=folder.name,
        version="1.0",
        source_archive_key=path.name,
        source_sha256=sha,
        python_version=python_version,
    )
    return request, await builder.build(request=request, archive=path)


def _sha(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def leftovers(artifacts: Path) -> list[Path]:
    """Builds in progress (none once a build returned)."""
    return list((artifacts / ".tmp").iterdir()) if (artifacts / ".tmp").exists() else []


def visible(artifacts: Path) -> list[str]:
    """The artifacts folder's entries, hidden ones (.tmp, .wrapper) aside."""
    return sorted(p.name for p in artifacts.iterdir() if not p.name.startswith("."))


async def test_a_trivial_action_builds_into_a_runnable_venv(
    make_builder: BuilderFactory, make_action: Callable[..., Path], artifacts: Path
) -> None:
    builder = make_builder()

    started = time.monotonic()
    _, result = await build(builder, make_action("trivial"))
    seconds = time.monotonic() - started

    assert result.status is BuildStatus.SUCCEEDED, result
    assert result.artifact_ref.startswith("local:")
    folder = builder.artifact_dir(result.artifact_ref)
    assert (folder / "READY").is_file()
    assert (folder / "action" / "ryax_handler.py").is_file()
    assert (folder / "action" / "ryax_metadata.yaml").is_file()
    assert "oryx-wrapper" in (folder / "requirements.lock").read_text()
    assert result.lock == (folder / "requirements.lock").read_text()
    assert "built in" in (folder / "build.log").read_text()
    assert "built in" in result.log_tail
    record = json.loads((folder / "artifact.json").read_text())
    assert record["artifact_ref"] == result.artifact_ref
    assert record["build_id"] == "b1"
    # The venv runs the wrapper, by module and by its script (whose shebang was moved along).
    run = subprocess.run(
        [folder / "venv" / "bin" / "python", "-m", "oryx_wrapper", "--port", "8080"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert run.stdout.strip() == "fake wrapper ['--port', '8080']"
    script = subprocess.run(
        [folder / "venv" / "bin" / "oryx-wrapper"], capture_output=True, text=True, check=True
    )
    assert script.stdout.startswith("fake wrapper")
    assert leftovers(artifacts) == []
    assert seconds < 30, f"a trivial build took {seconds:.1f} s"


async def test_an_identical_action_is_found_built_at_once(
    make_builder: BuilderFactory, make_action: Callable[..., Path]
) -> None:
    builder = make_builder()
    folder = make_action("trivial")
    request, first = await build(builder, folder, build_id="b1")

    started = time.monotonic()
    found = await builder.find(request=request)
    again = await build(builder, folder, build_id="b2")
    seconds = time.monotonic() - started

    assert found is not None and found.reused
    assert found.artifact_ref == first.artifact_ref
    assert found.lock == first.lock
    assert again[1].reused and again[1].artifact_ref == first.artifact_ref
    assert seconds < 1.0


async def test_another_wrapper_version_is_another_artifact(
    make_builder: BuilderFactory,
    make_action: Callable[..., Path],
    tmp_path: Path,
    artifacts: Path,
) -> None:
    request, _ = await build(make_builder(), make_action("trivial"))
    other_wrapper = write_wheel(
        tmp_path / "other", "oryx-wrapper", "0.0.2", {"oryx_wrapper/__init__.py": ""}
    )
    builder = LocalVenvBuilder(
        artifacts_dir=artifacts,
        wrapper=WrapperSource(
            path=other_wrapper, requirement="oryx-wrapper", cache_dir=tmp_path / "cache"
        ),
    )

    assert await builder.find(request=request) is None


async def test_requirements_that_do_not_resolve_fail_with_pips_words(
    make_builder: BuilderFactory, make_action: Callable[..., Path], artifacts: Path
) -> None:
    missing = "oryx-no-such-package-3b9f1c7e"
    builder = make_builder(pip_network_timeout=15.0)

    _, result = await build(builder, make_action("broken", requirements=f"{missing}\n"))

    assert result.status is BuildStatus.FAILED
    assert result.error.startswith("pip could not install the action's requirements")
    assert missing in result.log_tail
    assert "failed:" in result.log_tail
    kept = artifacts / "logs" / "b1.log"
    assert str(kept) in result.error
    assert missing in kept.read_text()
    assert visible(artifacts) == ["logs"]
    assert leftovers(artifacts) == []


async def test_the_lock_records_resolved_versions_and_a_rebuild_reuses_them(
    make_builder: BuilderFactory, make_action: Callable[..., Path], tmp_path: Path
) -> None:
    index = tmp_path / "index"
    write_wheel(index, "oryx-test-tinydep", "1.0", {"oryx_test_tinydep/__init__.py": "V = 1\n"})
    requirements = f"--no-index\n--find-links {index}\noryx-test-tinydep\n"
    folder = make_action("locked", requirements=requirements)
    builder = make_builder()
    _, first = await build(builder, folder)
    assert "oryx-test-tinydep==1.0" in first.lock.splitlines()

    # A newer release appears; an operator forces a rebuild of the same artifact.
    write_wheel(index, "oryx-test-tinydep", "2.0", {"oryx_test_tinydep/__init__.py": "V = 2\n"})
    artifact = builder.artifact_dir(first.artifact_ref)
    (artifact / "READY").unlink()
    _, rebuilt = await build(builder, folder, build_id="b2")

    assert rebuilt.status is BuildStatus.SUCCEEDED and not rebuilt.reused
    assert rebuilt.artifact_ref == first.artifact_ref
    assert "oryx-test-tinydep==1.0" in rebuilt.lock.splitlines()
    assert "rebuilding with the versions of" in (artifact / "build.log").read_text()
    # Without a lock, the same requirements resolve to the new release.
    fresh = make_action("unlocked", requirements=requirements)
    _, other = await build(builder, fresh, build_id="b3")
    assert "oryx-test-tinydep==2.0" in other.lock.splitlines()


async def test_cancelling_a_build_kills_pip_and_leaves_nothing(
    make_builder: BuilderFactory, make_action: Callable[..., Path], tmp_path: Path, artifacts: Path
) -> None:
    pid_file = tmp_path / "backend.pid"
    folder = make_action("slow", requirements="./slowpkg\n", files=slow_package_files(pid_file))
    builder = make_builder()
    task = asyncio.create_task(build(builder, folder))
    await eventually(pid_file.exists, within=30)
    backend = int(pid_file.read_text())

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    await eventually(lambda: process_gone(backend), within=10)
    assert leftovers(artifacts) == []
    assert visible(artifacts) == ["logs"]
    assert (artifacts / "logs" / "b1.log").read_text().endswith("cancelled\n")


async def test_a_build_over_its_time_limit_is_stopped_and_fails(
    make_builder: BuilderFactory, make_action: Callable[..., Path], tmp_path: Path
) -> None:
    pid_file = tmp_path / "backend.pid"
    folder = make_action("slow", requirements="./slowpkg\n", files=slow_package_files(pid_file))
    builder = make_builder(pip_timeout=3.0)

    started = time.monotonic()
    _, result = await build(builder, folder)

    assert result.status is BuildStatus.FAILED
    assert "did not finish within 3 s" in result.error
    assert time.monotonic() - started < 15
    await eventually(lambda: process_gone(int(pid_file.read_text())), within=10)


async def test_a_python_the_builder_lacks_is_a_clear_failure(
    make_builder: BuilderFactory, make_action: Callable[..., Path]
) -> None:
    _, result = await build(make_builder(), make_action("old"), python_version="2.7")

    assert result.status is BuildStatus.FAILED
    assert "this builder has no Python 2.7" in result.error


async def test_the_builders_own_python_version_is_accepted(
    make_builder: BuilderFactory, make_action: Callable[..., Path]
) -> None:
    import sys

    version = f"{sys.version_info.major}.{sys.version_info.minor}"

    _, result = await build(make_builder(), make_action("same"), python_version=version)

    assert result.status is BuildStatus.SUCCEEDED, result.error


async def test_an_archive_escaping_its_folder_is_refused(
    make_builder: BuilderFactory, make_action: Callable[..., Path], artifacts: Path
) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("../evil.py")
        info.size = 4
        tar.addfile(info, io.BytesIO(b"boom"))

    _, result = await build(make_builder(), make_action("evil"), archive=buffer.getvalue())

    assert result.status is BuildStatus.FAILED
    assert "the source archive was refused" in result.error
    assert not (artifacts.parent / "evil.py").exists()
