"""Scan a checked-out repository: find every action folder and tell what is wrong with each.

An action folder is any folder holding ``ryax_metadata.yaml`` or ``oryx_metadata.yaml``, at
any depth (``.git`` is skipped). A bad repository never raises: every problem becomes a
``FormatError`` on its action, or on the repository when no action can be blamed. Nothing
of the user's is run: YAML is read with a safe loader, Python with ``ast``, images with Pillow.
Symbolic links are followed only when they stay inside the repository.

Scanning reads files: from async code, call it in a thread (``asyncio.to_thread``).
"""

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from oryx_repository.domain.action_format import (
    METADATA_FILE_NAMES,
    ActionKind,
    ActionMetadata,
    FormatError,
    validate_metadata,
)
from oryx_repository.infrastructure.scanning.file_checks import (
    check_handler,
    check_logo,
    check_requirements,
)
from oryx_repository.infrastructure.scanning.yaml_files import json_safe, load_yaml

MiB = 1024**2
REQUIREMENTS_FILE = "requirements.txt"
# v1 file names, with their v2 names.
V1_FILES = {"handler.py": "ryax_handler.py", "run.py": "ryax_run.py"}


@dataclass(frozen=True, kw_only=True)
class ScanLimits:
    max_file_bytes: int = 50 * MiB
    max_action_bytes: int = 200 * MiB
    max_metadata_bytes: int = 1 * MiB
    max_logo_bytes: int = 1 * MiB
    max_files_per_action: int = 10_000
    max_actions: int = 500


@dataclass(frozen=True)
class ScannedAction:
    """One action folder as found.

    ``metadata`` is set when the metadata file itself is valid, even if other files are
    wrong; the action can be built only when ``is_valid`` (no error at all).
    """

    path: str
    """The folder, relative to the repository root, with ``/`` (``.`` for the root)."""
    metadata: ActionMetadata | None
    errors: list[FormatError]
    archive_files: list[str]
    """The files to archive, relative to the folder, sorted (see ``archive_action``)."""
    metadata_file: str = ""
    """The metadata file, relative to the repository root."""
    document: dict[str, Any] | None = None
    """The metadata file as parsed (JSON-friendly), for display; None if unreadable."""
    logo: bytes | None = None
    logo_media_type: str | None = None
    size: int = 0
    """Bytes of ``archive_files`` together."""

    @property
    def is_valid(self) -> bool:
        return self.metadata is not None and not self.errors


@dataclass(frozen=True)
class RepositoryScan:
    actions: list[ScannedAction]
    errors: list[FormatError] = field(default_factory=list)
    """About the repository as a whole (no action at all, too many actions)."""


def scan_repository(*, root: Path, limits: ScanLimits | None = None) -> RepositoryScan:
    """Find and check every action folder under ``root`` (a checked-out repository)."""
    limits = limits or ScanLimits()
    root = Path(os.path.realpath(root))
    folders = _action_folders(root)
    errors = []
    if not folders:
        names = " or ".join(METADATA_FILE_NAMES)
        errors.append(FormatError("", "", f"no action found: no folder holds a {names} file"))
    if len(folders) > limits.max_actions:
        errors.append(
            FormatError(
                "",
                "",
                f"the repository holds {len(folders)} actions; only the first "
                f"{limits.max_actions} were read",
            )
        )
        folders = folders[: limits.max_actions]
    all_folders = set(folders)
    actions = [_scan_folder(root, folder, all_folders, limits) for folder in folders]
    return RepositoryScan(actions=_flag_duplicates(actions), errors=errors)


def _action_folders(root: Path) -> list[Path]:
    found = []
    for directory, subdirectories, files in os.walk(root, followlinks=False):
        subdirectories[:] = sorted(name for name in subdirectories if name != ".git")
        if any(name in files for name in METADATA_FILE_NAMES):
            found.append(Path(directory))
    return sorted(found, key=lambda path: path.relative_to(root).parts)


def _scan_folder(
    root: Path, folder: Path, action_folders: set[Path], limits: ScanLimits
) -> ScannedAction:
    folder_path = folder.relative_to(root).as_posix()

    def shown(name: str) -> str:
        if name == ".":
            return folder_path
        return name if folder_path == "." else f"{folder_path}/{name}"

    present = [name for name in METADATA_FILE_NAMES if os.path.lexists(folder / name)]
    chosen = "oryx_metadata.yaml" if "oryx_metadata.yaml" in present else present[0]
    metadata_file = shown(chosen)
    errors: list[FormatError] = []
    if len(present) > 1:
        errors.append(
            FormatError(
                shown(present[0]),
                "",
                f"the folder also holds {chosen}, which is the one read: keep only one",
            )
        )
    files, size, file_errors = _collect_files(root, folder, action_folders, limits, shown)
    metadata, document = _read_metadata(root, folder / chosen, metadata_file, limits, errors)
    errors.extend(file_errors)
    errors.extend(_v1_file_errors(files, shown))
    logo = media_type = None
    if metadata is not None:
        errors.extend(_handler_errors(root, folder, metadata, files, limits, shown))
        if metadata.logo is not None:
            logo, media_type = _logo(
                root, folder, metadata.logo, metadata_file, files, limits, errors
            )
    if REQUIREMENTS_FILE in files:
        errors.extend(_requirements_errors(root, folder, limits, shown(REQUIREMENTS_FILE)))
    return ScannedAction(
        path=folder_path,
        metadata=metadata,
        errors=errors,
        archive_files=files,
        metadata_file=metadata_file,
        document=document,
        logo=logo,
        logo_media_type=media_type,
        size=size,
    )


def _read_metadata(
    root: Path, path: Path, file: str, limits: ScanLimits, errors: list[FormatError]
) -> tuple[ActionMetadata | None, dict[str, Any] | None]:
    text = _read_text(root, path, file, limits.max_metadata_bytes, errors)
    if text is None:
        return None, None
    document, yaml_errors = load_yaml(text, file=file)
    if yaml_errors:
        errors.extend(yaml_errors)
        return None, None
    result = validate_metadata(document, file_name=file)
    if isinstance(result, list):
        errors.extend(result)
        return None, json_safe(document)
    return result, json_safe(document)


def _handler_errors(
    root: Path,
    folder: Path,
    metadata: ActionMetadata,
    files: list[str],
    limits: ScanLimits,
    shown: Any,
) -> list[FormatError]:
    name = metadata.handler_file
    if name not in files:
        kind = metadata.kind
        other = ActionKind.PROCESSOR.handler_file if kind is ActionKind.SOURCE else "ryax_run.py"
        used_by = "processors and publishers" if kind is ActionKind.SOURCE else "sources"
        hint = f"; {other} is for {used_by}" if other in files else ""
        return [
            FormatError(
                shown(name),
                "",
                f"is missing: a {kind.value} runs the `{metadata.handler_function}` function "
                f"of {name}{hint}",
            )
        ]
    errors: list[FormatError] = []
    text = _read_text(root, folder / name, shown(name), limits.max_file_bytes, errors)
    if text is None:
        return errors
    return check_handler(text=text, file=shown(name), kind=metadata.kind)


def _logo(
    root: Path,
    folder: Path,
    logo: str,
    metadata_file: str,
    files: list[str],
    limits: ScanLimits,
    errors: list[FormatError],
) -> tuple[bytes | None, str | None]:
    if logo not in files:
        errors.append(
            FormatError(metadata_file, "spec.logo", f"'{logo}' is not in the action folder")
        )
        return None, None
    data = _read_bytes(root, folder / logo, metadata_file, limits.max_logo_bytes, errors)
    if data is None:
        return None, None
    media_type, logo_errors = check_logo(data=data, file=metadata_file, name=logo)
    errors.extend(logo_errors)
    return (data, media_type) if media_type else (None, None)


def _requirements_errors(
    root: Path, folder: Path, limits: ScanLimits, file: str
) -> list[FormatError]:
    errors: list[FormatError] = []
    text = _read_text(root, folder / REQUIREMENTS_FILE, file, limits.max_file_bytes, errors)
    if text is None:
        return errors
    return check_requirements(text=text, file=file)


def _v1_file_errors(files: list[str], shown: Any) -> list[FormatError]:
    return [
        FormatError(
            shown(old),
            "",
            f"{old} is the v1 file name: rename it {new}"
            + (" and define `async def run(service, input_values)`" if old == "run.py" else ""),
        )
        for old, new in V1_FILES.items()
        if old in files and new not in files
    ]


def _collect_files(
    root: Path,
    folder: Path,
    action_folders: set[Path],
    limits: ScanLimits,
    shown: Any,
) -> tuple[list[str], int, list[FormatError]]:
    """The folder's files (through symlinks that stay in the repository), and what is wrong."""
    files: list[str] = []
    errors: list[FormatError] = []
    total = 0
    visited = {folder}
    pending: list[tuple[Path, str]] = [(folder, "")]
    while pending:
        directory, prefix = pending.pop()
        try:
            entries = sorted(os.scandir(directory), key=lambda entry: entry.name)
        except OSError as error:
            errors.append(
                FormatError(shown(prefix.rstrip("/") or "."), "", f"unreadable: {error.strerror}")
            )
            continue
        for entry in entries:
            name = prefix + entry.name
            if entry.name == ".git":
                continue
            if entry.is_symlink():
                target = Path(os.path.realpath(entry.path))
                if not target.is_relative_to(root):
                    errors.append(
                        FormatError(
                            shown(name),
                            "",
                            f"is a symbolic link to '{_link_text(entry.path)}', outside the "
                            "repository: links must point inside the repository",
                        )
                    )
                    continue
                if not target.exists():
                    errors.append(
                        FormatError(
                            shown(name),
                            "",
                            f"is a broken symbolic link to '{_link_text(entry.path)}'",
                        )
                    )
                    continue
                if target.is_dir():
                    if target not in visited and target not in action_folders:
                        visited.add(target)
                        pending.append((target, name + "/"))
                    continue
                path = target
            elif entry.is_dir(follow_symlinks=False):
                if Path(entry.path) not in action_folders:  # a nested action has its own archive
                    pending.append((Path(entry.path), name + "/"))
                continue
            elif entry.is_file(follow_symlinks=False):
                path = Path(entry.path)
            else:
                errors.append(FormatError(shown(name), "", "is not a regular file"))
                continue
            size = path.stat().st_size
            if size > limits.max_file_bytes:
                errors.append(
                    FormatError(
                        shown(name),
                        "",
                        f"is {_amount(size)}, more than the limit of "
                        f"{_amount(limits.max_file_bytes)} per file",
                    )
                )
                continue
            total += size
            files.append(name)
            if len(files) > limits.max_files_per_action:
                errors.append(
                    FormatError(
                        shown("."),
                        "",
                        f"the action folder holds more than {limits.max_files_per_action} files",
                    )
                )
                return sorted(files), total, errors
    if total > limits.max_action_bytes:
        errors.append(
            FormatError(
                shown("."),
                "",
                f"the action folder holds {_amount(total)}, more than the limit of "
                f"{_amount(limits.max_action_bytes)}",
            )
        )
    return sorted(files), total, errors


def _flag_duplicates(actions: list[ScannedAction]) -> list[ScannedAction]:
    """Two folders may not declare the same id and version."""
    by_key: dict[tuple[str, str], list[ScannedAction]] = {}
    for action in actions:
        if action.metadata is not None:
            key = (action.metadata.id, action.metadata.version)
            by_key.setdefault(key, []).append(action)
    result = []
    for action in actions:
        if action.metadata is None:
            result.append(action)
            continue
        same = by_key[(action.metadata.id, action.metadata.version)]
        others = [other.metadata_file for other in same if other is not action]
        if not others:
            result.append(action)
            continue
        error = FormatError(
            action.metadata_file,
            "spec.id",
            f"the id '{action.metadata.id}' with version '{action.metadata.version}' is also "
            f"declared by {', '.join(others)}: each action needs its own id or version",
        )
        result.append(replace(action, errors=[*action.errors, error]))
    return result


def _read_bytes(
    root: Path, path: Path, file: str, limit: int, errors: list[FormatError]
) -> bytes | None:
    """The file's bytes, if it stays in the repository and under ``limit``."""
    real = Path(os.path.realpath(path))
    if not real.is_relative_to(root):
        errors.append(FormatError(file, "", "is a symbolic link outside the repository"))
        return None
    if not real.is_file():
        errors.append(FormatError(file, "", "is not a readable file"))
        return None
    size = real.stat().st_size
    if size > limit:
        errors.append(
            FormatError(file, "", f"is {_amount(size)}, more than the limit of {_amount(limit)}")
        )
        return None
    try:
        return real.read_bytes()
    except OSError as error:
        errors.append(FormatError(file, "", f"unreadable: {error.strerror}"))
        return None


def _read_text(
    root: Path, path: Path, file: str, limit: int, errors: list[FormatError]
) -> str | None:
    data = _read_bytes(root, path, file, limit, errors)
    if data is None:
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        errors.append(FormatError(file, "", f"is not UTF-8 text (byte {error.start})"))
        return None


def _link_text(path: str) -> str:
    try:
        return os.readlink(path)
    except OSError:
        return "?"


def _amount(size: int) -> str:
    if size >= MiB:
        return f"{size / MiB:.1f} MiB"
    return f"{size} bytes"
