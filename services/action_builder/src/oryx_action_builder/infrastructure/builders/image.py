"""The ``image`` builder: for the Kubernetes site. It cannot build images yet.

For now it writes the OCI build context of the action's image (a later issue builds and pushes
it) and reports the build FAILED, saying so and where the context is::

    <artifacts>/image-contexts/<digest>/
      Dockerfile               FROM <base image>; the requirements and oryx-wrapper; the action
      requirements.txt         the action's (empty when it has none)
      wrapper/                 the oryx-wrapper wheel, when it comes from a wheel or source tree
      action/                  the action's sources
    <artifacts>/image-contexts/<digest>.tar.gz   the same, as a tarball (``docker build - < it``)

The image runs ``python -m oryx_wrapper --action-dir /action --port 8080``.
"""

import asyncio
import hashlib
import os
import secrets
import shlex
import shutil
import tarfile
from pathlib import Path

from oryx_action_builder.domain.builds import BuildRequest, BuildResult
from oryx_action_builder.infrastructure.builders.archive import (
    DEFAULT_MAX_BYTES,
    ArchiveRejected,
    extract_action,
)
from oryx_action_builder.infrastructure.builders.wrapper import (
    WrapperPackage,
    WrapperSource,
    WrapperUnavailable,
)

LAYOUT_VERSION = "oryx-image-context/v1"
DEFAULT_BASE_IMAGE = "python:{python_version}-slim"
DEFAULT_PYTHON_VERSION = "3.11"
NOT_AVAILABLE = "image builds are not available yet in this version of Oryx"
PORT = 8080


class ImageContextBuilder:
    def __init__(
        self,
        *,
        artifacts_dir: Path,
        wrapper: WrapperSource,
        base_image: str = DEFAULT_BASE_IMAGE,
        max_source_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        """``base_image`` may hold ``{python_version}``: the action's, or 3.11."""
        self._root = artifacts_dir / "image-contexts"
        self._wrapper = wrapper
        self._base_image = base_image
        self._max_source_bytes = max_source_bytes

    async def find(self, *, request: BuildRequest) -> BuildResult | None:
        return None  # nothing is ever built yet

    async def build(self, *, request: BuildRequest, archive: Path) -> BuildResult:
        self._root.mkdir(parents=True, exist_ok=True)
        work = self._root / f".tmp-{secrets.token_hex(4)}"
        work.mkdir()
        try:
            try:
                wrapper = await self._wrapper.package(log=work / "wrapper-build.log")
            except WrapperUnavailable as exc:
                return BuildResult.failed(error=str(exc))
            base = self._base_image.format(
                python_version=request.python_version or DEFAULT_PYTHON_VERSION
            )
            digest = hashlib.sha256(
                "\n".join((LAYOUT_VERSION, request.source_sha256, base, wrapper.version)).encode()
            ).hexdigest()[:32]
            try:
                context = await asyncio.to_thread(
                    self._write, request, archive, wrapper, base, digest, work
                )
            except ArchiveRejected as exc:
                return BuildResult.failed(error=f"the source archive was refused: {exc}")
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return BuildResult.failed(
            error=f"{NOT_AVAILABLE}: the OCI build context was written to {context} (and "
            f"{context}.tar.gz); use the local builder (ORYX_ACTION_BUILDER_BUILDER=local) "
            "meanwhile",
            log_tail=f"image build context: {context}\nbase image: {base}",
        )

    def _write(
        self,
        request: BuildRequest,
        archive: Path,
        wrapper: WrapperPackage,
        base: str,
        digest: str,
        work: Path,
    ) -> Path:
        context = work / "context"
        context.mkdir()
        extract_action(archive, context / "action", max_bytes=self._max_source_bytes)
        requirements = context / "action" / "requirements.txt"
        (context / "requirements.txt").write_text(
            requirements.read_text() if requirements.is_file() else ""
        )
        (context / "wrapper").mkdir()
        if wrapper.wheel is not None:
            shutil.copyfile(wrapper.wheel, context / "wrapper" / wrapper.wheel.name)
            install = f"/opt/oryx-wrapper/{wrapper.wheel.name}"
        else:
            install = wrapper.install
        (context / "Dockerfile").write_text(dockerfile(request, base=base, wrapper=install))
        (context / ".dockerignore").write_text("**/__pycache__\n**/*.pyc\n")
        with tarfile.open(work / "context.tar.gz", "w:gz") as tar:
            for path in sorted(context.iterdir()):
                tar.add(path, arcname=path.name)
        final = self._root / digest
        shutil.rmtree(final, ignore_errors=True)
        os.replace(context, final)
        os.replace(work / "context.tar.gz", self._root / f"{digest}.tar.gz")
        return final


def dockerfile(request: BuildRequest, *, base: str, wrapper: str) -> str:
    system = " ".join(request.system_dependencies) or "none"
    return f"""\
# Built by the Oryx action builder for {request.action_name} {request.version}
# (action {request.action_id}, sources sha256 {request.source_sha256}).
# System dependencies declared by the action (not installed yet): {system}
FROM {base}
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \\
    PIP_DISABLE_PIP_VERSION_CHECK=1
COPY requirements.txt /tmp/requirements.txt
COPY wrapper/ /opt/oryx-wrapper/
RUN python -m pip install --requirement /tmp/requirements.txt {shlex.quote(wrapper)} \\
    && python -m pip freeze > /requirements.lock \\
    && rm -rf /tmp/requirements.txt /opt/oryx-wrapper
COPY action/ /action/
WORKDIR /action
RUN useradd --create-home --uid 10001 oryx
USER 10001
EXPOSE {PORT}
ENTRYPOINT ["python", "-m", "oryx_wrapper", "--action-dir", "/action", "--port", "{PORT}"]
"""
