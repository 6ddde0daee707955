"""Mappers between domain objects and table rows. Secrets are encrypted on the way in."""

from collections.abc import Mapping
from typing import Any, Protocol

from oryx_repository.domain.action_format import validate_metadata
from oryx_repository.domain.actions import Action, ActionStatus, ScanError, ScannedContent
from oryx_repository.domain.sources import Credentials, ScanStatus, ScanSummary, Source

Row = Mapping[Any, Any]


class SecretBox(Protocol):
    def encrypt(self, plain: str) -> bytes: ...
    def decrypt(self, token: bytes) -> str: ...


def source_to_row(source: Source, box: SecretBox) -> dict[str, Any]:
    scan = source.last_scan
    return {
        "id": source.id,
        "project_id": source.project_id,
        "name": source.name,
        "url": source.url,
        "branch": source.branch,
        "username": source.credentials.username if source.credentials else None,
        "secret_encrypted": box.encrypt(source.credentials.secret) if source.credentials else None,
        "created_at": source.created_at,
        "updated_at": source.updated_at,
        "scan_status": scan.status.value if scan else ScanStatus.NEVER.value,
        "scan_ref": scan.ref if scan else None,
        "scan_commit_sha": scan.commit_sha if scan else None,
        "scan_at": scan.at if scan else None,
        "scan_error": scan.error if scan else None,
        "scan_action_count": scan.action_count if scan else 0,
        "scan_error_count": scan.error_count if scan else 0,
    }


def row_to_source(row: Row, box: SecretBox) -> Source:
    credentials = None
    if row["secret_encrypted"] is not None:
        credentials = Credentials(
            username=row["username"] or "", secret=box.decrypt(row["secret_encrypted"])
        )
    scan = None
    if row["scan_status"] != ScanStatus.NEVER.value and row["scan_at"] is not None:
        scan = ScanSummary(
            status=ScanStatus(row["scan_status"]),
            ref=row["scan_ref"] or "",
            commit_sha=row["scan_commit_sha"],
            at=row["scan_at"],
            error=row["scan_error"],
            action_count=row["scan_action_count"],
            error_count=row["scan_error_count"],
        )
    return Source(
        id=row["id"],
        project_id=row["project_id"],
        name=row["name"],
        url=row["url"],
        branch=row["branch"],
        credentials=credentials,
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        last_scan=scan,
    )


def action_to_row(action: Action) -> dict[str, Any]:
    c = action.content
    return {
        "id": action.id,
        "project_id": action.project_id,
        "source_id": action.source_id,
        "path": c.path,
        "status": action.status.value,
        "commit_sha": c.commit_sha,
        "name": c.name,
        "version": c.version,
        "kind": c.kind,
        "document": c.document,
        "errors": [
            {"file": e.file, "field": e.field, "reason": e.reason, "line": e.line} for e in c.errors
        ],
        "archive_key": c.archive_key,
        "archive_sha256": c.archive_sha256,
        "logo": c.logo or None,
        "logo_media_type": c.logo_media_type,
        "python_version": c.python_version,
        "system_dependencies": list(c.system_dependencies),
        "build_id": action.build_id,
        "build_log_tail": action.build_log_tail,
        "build_error": action.build_error,
        "artifact_ref": action.artifact_ref,
        "built_archive_sha256": action.built_archive_sha256,
        "lock": action.lock,
        "created_at": action.created_at,
        "updated_at": action.updated_at,
    }


def row_to_action(row: Row) -> Action:
    errors = tuple(ScanError(**e) for e in row["errors"])
    metadata = None
    if not errors:
        validated = validate_metadata(row["document"], file_name="ryax_metadata.yaml")
        metadata = None if isinstance(validated, list) else validated
    content = ScannedContent(
        path=row["path"],
        commit_sha=row["commit_sha"],
        name=row["name"],
        version=row["version"],
        kind=row["kind"],
        metadata=metadata,
        document=row["document"],
        errors=errors,
        archive_key=row["archive_key"],
        archive_sha256=row["archive_sha256"],
        logo=row["logo"] or b"",
        logo_media_type=row["logo_media_type"],
        python_version=row["python_version"],
        system_dependencies=tuple(row["system_dependencies"]),
    )
    return Action(
        id=row["id"],
        project_id=row["project_id"],
        source_id=row["source_id"],
        content=content,
        status=ActionStatus(row["status"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        build_id=row["build_id"],
        build_log_tail=row["build_log_tail"],
        build_error=row["build_error"],
        artifact_ref=row["artifact_ref"],
        built_archive_sha256=row["built_archive_sha256"],
        lock=row["lock"],
    )
