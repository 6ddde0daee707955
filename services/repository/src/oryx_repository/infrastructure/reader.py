"""Reading a Git source: check it out in a scratch folder, scan it, archive its valid actions.

The adapter behind the ``RepositoryReader`` port; the checkout never outlives the call.
"""

import asyncio
import tempfile
from pathlib import Path
from typing import Any

from oryx_repository.application.ports import (
    FoundAction,
    GitRef,
    RepositoryContents,
    RepositoryUnreadable,
)
from oryx_repository.domain.action_format_checks import FormatError
from oryx_repository.domain.sources import Credentials
from oryx_repository.infrastructure.git.cli import GitCli
from oryx_repository.infrastructure.git.errors import GitError
from oryx_repository.infrastructure.scanning.archive import ArchiveError, archive_action
from oryx_repository.infrastructure.scanning.scanner import (
    RepositoryScan,
    ScanLimits,
    scan_repository,
)


class GitRepositoryReader:
    def __init__(
        self,
        *,
        timeout_seconds: float,
        max_repository_bytes: int,
        max_file_bytes: int,
        allow_file_urls: bool,
    ) -> None:
        self._git = GitCli(
            allow_file=allow_file_urls,
            timeout_seconds=timeout_seconds,
            max_bytes=max_repository_bytes,
        )
        self._limits = ScanLimits(max_file_bytes=max_file_bytes)

    async def read(
        self, *, url: str, ref: GitRef, credentials: Credentials | None
    ) -> RepositoryContents:
        with tempfile.TemporaryDirectory(prefix="oryx-scan-") as scratch:
            checkout = Path(scratch) / "checkout"
            try:
                sha = await self._git.checkout(
                    url=url,
                    destination=checkout,
                    branch=ref.branch,
                    commit=ref.commit,
                    username=credentials.username if credentials else None,
                    password=credentials.secret if credentials else None,
                )
            except GitError as exc:
                raise RepositoryUnreadable(exc.message) from exc
            # scanning and archiving read many files: keep them off the event loop
            return await asyncio.to_thread(self._contents, checkout, sha)

    def _contents(self, root: Path, sha: str) -> RepositoryContents:
        scan: RepositoryScan = scan_repository(root=root, limits=self._limits)
        found = []
        for action in scan.actions:
            errors = list(action.errors)
            archive = None
            if action.is_valid:
                try:
                    archive = archive_action(
                        root=root, path=action.path, files=action.archive_files
                    )
                except ArchiveError as exc:
                    errors.append(
                        FormatError(
                            action.metadata_file, "", f"the folder could not be archived: {exc}"
                        )
                    )
            metadata = action.metadata
            document: dict[str, Any] = action.document or {}
            raw_spec = document.get("spec")
            spec: dict[str, Any] = raw_spec if isinstance(raw_spec, dict) else {}
            found.append(
                FoundAction(
                    path=action.path,
                    name=metadata.id if metadata else str(spec.get("id") or Path(action.path).name),
                    version=metadata.version if metadata else str(spec.get("version") or ""),
                    kind=metadata.kind.value if metadata else str(document.get("kind") or ""),
                    metadata=metadata if not errors else None,
                    document=document,
                    errors=errors,
                    archive=archive.data if archive and not errors else None,
                    archive_sha256=archive.sha256 if archive and not errors else None,
                    logo=action.logo or b"",
                    logo_media_type=action.logo_media_type or "",
                    python_version=(metadata.python_version or "") if metadata else "",
                    system_dependencies=tuple(metadata.dependencies) if metadata else (),
                )
            )
        return RepositoryContents(commit_sha=sha, actions=found, errors=list(scan.errors))
