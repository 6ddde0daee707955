"""A build with the real ``oryx-wrapper`` of this checkout (``sdk/wrapper``), the default
when the service runs from a checkout. Needs the package index for the wrapper's
dependencies (grpcio, protobuf, ...)."""

import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from oryx_action_builder.domain.builds import BuildRequest
from oryx_action_builder.domain.status import BuildStatus
from oryx_action_builder.infrastructure.builders.local import LocalVenvBuilder
from oryx_action_builder.infrastructure.builders.wrapper import WrapperSource, repository_wrapper

from ...conftest import archive_of  # type: ignore[import-not-found]


async def test_actions_build_with_the_checkouts_wrapper_built_into_a_wheel_once(
    tmp_path: Path, make_action: Callable[..., Path]
) -> None:
    source = repository_wrapper()
    if source is None:
        pytest.skip("this checkout has no sdk/wrapper")
    artifacts = tmp_path / "artifacts"
    builder = LocalVenvBuilder(
        artifacts_dir=artifacts,
        wrapper=WrapperSource(path=source, requirement="oryx-wrapper", cache_dir=artifacts / ".w"),
    )
    timings = []
    results = []
    for name in ("first", "second"):
        data, sha = archive_of(make_action(name))
        archive = tmp_path / f"{name}.tar.gz"
        archive.write_bytes(data)
        request = BuildRequest(
            build_id=name,
            action_id=name,
            project_id="p",
            action_name=name,
            version="1",
            source_archive_key="k",
            source_sha256=sha,
        )
        started = time.monotonic()
        results.append(await builder.build(request=request, archive=archive))
        timings.append(time.monotonic() - started)

    for result in results:
        assert result.status is BuildStatus.SUCCEEDED, result.error + result.log_tail
        assert "oryx-wrapper @ file:" in result.lock
        assert "grpcio==" in result.lock
    second = builder.artifact_dir(results[1].artifact_ref)
    assert "pip wheel" not in (second / "build.log").read_text()  # the wheel was reused
    version = subprocess.run(
        [
            second / "venv" / "bin" / "python",
            "-c",
            "import importlib.metadata as m; print(m.version('oryx-wrapper'))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert version.stdout.strip()
    print(f"real wrapper: first build {timings[0]:.2f} s (wheel included), then {timings[1]:.2f} s")
