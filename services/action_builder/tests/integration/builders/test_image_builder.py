"""The image builder writes an OCI build context and says it cannot build images yet."""

import hashlib
import tarfile
from collections.abc import Callable
from pathlib import Path

from oryx_action_builder.domain.builds import BuildRequest
from oryx_action_builder.domain.status import BuildStatus
from oryx_action_builder.infrastructure.builders.image import ImageContextBuilder
from oryx_action_builder.infrastructure.builders.wrapper import WrapperSource
from oryx_action_builder.tools import pack_action


def request_for(folder: Path, archive: Path, **changes: object) -> BuildRequest:
    data = pack_action(folder)
    archive.write_bytes(data)
    fields: dict[str, object] = {
        "build_id": "b1",
        "action_id": "a1",
        "project_id": "p1",
        "action_name": folder.name,
        "version": "1.0",
        "source_archive_key": "k",
        "source_sha256": hashlib.sha256(data).hexdigest(),
        "system_dependencies": ("ffmpeg",),
        **changes,
    }
    return BuildRequest(**fields)  # type: ignore[arg-type]


async def test_the_build_context_is_written_and_the_build_reported_unavailable(
    tmp_path: Path, make_action: Callable[..., Path], fake_wrapper_wheel: Path
) -> None:
    folder = make_action("echo", requirements="six==1.17.0\n")
    wrapper = WrapperSource(
        path=fake_wrapper_wheel, requirement="oryx-wrapper", cache_dir=tmp_path / "cache"
    )
    builder = ImageContextBuilder(artifacts_dir=tmp_path / "artifacts", wrapper=wrapper)
    request = request_for(folder, tmp_path / "a.tar.gz")

    assert await builder.find(request=request) is None
    result = await builder.build(request=request, archive=tmp_path / "a.tar.gz")

    assert result.status is BuildStatus.FAILED
    assert result.error.startswith("image builds are not available yet in this version")
    [context] = [p for p in (tmp_path / "artifacts" / "image-contexts").iterdir() if p.is_dir()]
    assert str(context) in result.error
    dockerfile = (context / "Dockerfile").read_text()
    assert dockerfile.splitlines()[3] == "FROM python:3.11-slim"
    assert "not installed yet): ffmpeg" in dockerfile
    assert f"/opt/oryx-wrapper/{fake_wrapper_wheel.name}" in dockerfile
    assert dockerfile.rstrip().endswith(
        'ENTRYPOINT ["python", "-m", "oryx_wrapper", "--action-dir", "/action", "--port", "8080"]'
    )
    assert (context / "requirements.txt").read_text() == "six==1.17.0\n"
    assert (context / "wrapper" / fake_wrapper_wheel.name).is_file()
    assert (context / "action" / "ryax_handler.py").is_file()
    with tarfile.open(f"{context}.tar.gz") as tar:
        assert {"Dockerfile", "action/ryax_handler.py", "requirements.txt"} <= set(tar.getnames())


async def test_the_base_image_follows_the_actions_python_version(
    tmp_path: Path, make_action: Callable[..., Path]
) -> None:
    wrapper = WrapperSource(
        path=None, requirement="oryx-wrapper>=0.1", cache_dir=tmp_path / "cache"
    )
    builder = ImageContextBuilder(
        artifacts_dir=tmp_path / "artifacts",
        wrapper=wrapper,
        base_image="registry.example/python:{python_version}",
    )
    request = request_for(make_action("echo"), tmp_path / "a.tar.gz", python_version="3.12")

    result = await builder.build(request=request, archive=tmp_path / "a.tar.gz")

    [context] = [p for p in (tmp_path / "artifacts" / "image-contexts").iterdir() if p.is_dir()]
    dockerfile = (context / "Dockerfile").read_text()
    assert "FROM registry.example/python:3.12" in dockerfile
    assert "'oryx-wrapper>=0.1'" in dockerfile  # quoted for the shell
    assert (context / "requirements.txt").read_text() == ""
    assert "base image: registry.example/python:3.12" in result.log_tail
