"""``python -m oryx_action_builder build FOLDER``: one build of a local folder, no broker.

It goes through the same use case as the service: the folder is packed as the repository
packs it, put in a throw-away local filestore, built, and the events are printed as JSON lines.
"""

import asyncio
import gzip
import hashlib
import io
import json
import sys
import tarfile
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from dependency_injector import providers

from oryx_action_builder.config import Settings
from oryx_action_builder.domain.builds import BuildRequest
from oryx_action_builder.domain.events import Event
from oryx_action_builder.domain.status import BuildStatus
from oryx_action_builder.infrastructure.filestore.local import OBJECTS, LocalFolderSourceStore
from oryx_action_builder.service import build_container


def pack_action(folder: Path) -> bytes:
    """A .tar.gz of the folder's contents (paths relative to it), as the repository makes.

    Deterministic (sorted entries, no owners, no times), so that the same files give the same
    sha256 and hence the same content address.
    """

    def normalize(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        info.mtime = 0
        return info

    buffer = io.BytesIO()
    with (
        gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for path in sorted(folder.rglob("*")):
            if "__pycache__" in path.parts:
                continue
            arcname = path.relative_to(folder).as_posix()
            tar.add(path, arcname=arcname, recursive=False, filter=normalize)
    return buffer.getvalue()


class PrintingPublisher:
    async def publish(self, event: Event) -> None:
        record = {"event": type(event).__name__, **asdict(event)}
        print(json.dumps(record, default=str), flush=True)


def build_folder(settings: Settings, folder: str, *, python_version: str = "") -> int:
    """Build ``folder``; the exit status: 0 built, 1 not built, 2 not a folder."""
    source = Path(folder).resolve()
    if not source.is_dir():
        print(f"oryx-action-builder: {folder} is not a folder", file=sys.stderr)
        return 2
    return asyncio.run(_build(settings, source, python_version=python_version))


async def _build(settings: Settings, source: Path, *, python_version: str) -> int:
    archive = await asyncio.to_thread(pack_action, source)
    sha256 = hashlib.sha256(archive).hexdigest()
    container = build_container(settings)
    with tempfile.TemporaryDirectory(prefix="oryx-build-once-") as store:
        objects = Path(store) / OBJECTS
        objects.mkdir()
        await asyncio.to_thread((objects / "source.tar.gz").write_bytes, archive)
        container.sources.override(providers.Object(LocalFolderSourceStore(Path(store))))
        container.publisher.override(providers.Object(PrintingPublisher()))
        request = BuildRequest(
            build_id=f"cli-{int(time.time())}",
            action_id=source.name,
            project_id="",
            action_name=source.name,
            version="",
            source_archive_key="source.tar.gz",
            source_sha256=sha256,
            python_version=python_version,
        )
        started = time.monotonic()
        build = await container.run_build()(request)
        print(f"{build.status.value} in {time.monotonic() - started:.2f} s", file=sys.stderr)
    return 0 if build.status is BuildStatus.SUCCEEDED else 1
