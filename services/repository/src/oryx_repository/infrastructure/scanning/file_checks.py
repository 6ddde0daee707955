"""Checks of an action's other files: its Python entry point, its logo, its requirements.

User code is parsed with ``ast``, never imported or run.
"""

import ast
import io
import re
import warnings

from packaging.requirements import InvalidRequirement, Requirement
from PIL import Image, UnidentifiedImageError

from oryx_repository.domain.action_format import ActionKind, FormatError

MAX_LOGO_PIXELS = 250
LOGO_MEDIA_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg"}
_HASH_OPTION = re.compile(r"\s+--hash[=\s]\S+")


def check_handler(*, text: str, file: str, kind: ActionKind) -> list[FormatError]:
    """The entry point of ``kind`` is defined (or imported) at the top level of ``text``."""
    function = kind.handler_function
    try:
        tree = ast.parse(text, filename=file)
    except SyntaxError as error:
        line = error.lineno
        where = f" (line {line})" if line else ""
        return [
            FormatError(file, "", f"is not valid Python: {error.msg}{where}", line=line or None)
        ]
    except (ValueError, RecursionError, MemoryError) as error:
        return [FormatError(file, "", f"is not valid Python: {type(error).__name__}")]
    found = _top_level_binding(tree.body, function)
    if found is None:
        signature = (
            "async def run(service, input_values)"
            if kind is ActionKind.SOURCE
            else "def handle(inputs)"
        )
        return [
            FormatError(
                file,
                function,
                f"has no top-level `{function}` function; the action needs `{signature}`",
            )
        ]
    if kind is ActionKind.SOURCE and isinstance(found, ast.FunctionDef):
        return [
            FormatError(
                file,
                function,
                "`run` must be asynchronous: `async def run(service, input_values)`",
                line=found.lineno,
            )
        ]
    return []


def _top_level_binding(body: list[ast.stmt], name: str) -> ast.AST | None:
    """The statement that binds ``name`` at module level (also inside if/try/with blocks)."""
    found: ast.AST | None = None
    for statement in body:
        if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef):
            if statement.name == name:
                found = statement
        elif isinstance(statement, ast.Import | ast.ImportFrom):
            for alias in statement.names:
                bound = alias.asname or alias.name.split(".")[0]
                if bound == name:
                    found = statement
        elif isinstance(statement, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
            if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                found = statement
        elif isinstance(statement, ast.If | ast.Try | ast.With):
            blocks: list[list[ast.stmt]] = [statement.body]
            if isinstance(statement, ast.If | ast.Try):
                blocks.append(statement.orelse)
            if isinstance(statement, ast.Try):
                blocks.append(statement.finalbody)
                blocks.extend(handler.body for handler in statement.handlers)
            for block in blocks:
                inner = _top_level_binding(block, name)
                if inner is not None:
                    found = inner
    return found


def check_logo(*, data: bytes, file: str, name: str) -> tuple[str | None, list[FormatError]]:
    """The media type of the logo ``name``, or why it cannot be used (not png/jpg, too big).

    Errors point at ``spec.logo`` of the metadata ``file``.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                image_format = image.format or "unknown"
                width, height = image.size
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError, Warning):
        return None, [
            FormatError(file, "spec.logo", f"'{name}' cannot be read as a PNG or JPEG image")
        ]
    if image_format not in LOGO_MEDIA_TYPES:
        return None, [
            FormatError(
                file, "spec.logo", f"'{name}' must be a PNG or JPEG image, not {image_format}"
            )
        ]
    if width > MAX_LOGO_PIXELS or height > MAX_LOGO_PIXELS:
        return None, [
            FormatError(
                file,
                "spec.logo",
                f"'{name}' is {width}x{height} pixels; a logo may be at most "
                f"{MAX_LOGO_PIXELS}x{MAX_LOGO_PIXELS}",
            )
        ]
    return LOGO_MEDIA_TYPES[image_format], []


def check_requirements(*, text: str, file: str) -> list[FormatError]:
    """Each line of ``requirements.txt`` is one requirement (PEP 508), or a comment.

    pip's options (``-r``, ``-e``, ``--index-url``...) are refused: they reach other files or
    other package indexes. ``--hash=`` after a requirement is accepted.
    """
    errors = []
    for line_number, line in _logical_lines(text):
        field = f"line {line_number}"
        requirement = _HASH_OPTION.sub("", line).strip()
        if requirement.startswith("-"):
            option = requirement.split()[0].split("=")[0]
            errors.append(
                FormatError(
                    file,
                    field,
                    f"pip options such as {option} are not allowed: list one requirement per line",
                    line=line_number,
                )
            )
            continue
        try:
            Requirement(requirement)
        except InvalidRequirement as error:
            reason = str(error).splitlines()[0]
            errors.append(
                FormatError(
                    file,
                    field,
                    f"'{_clip(requirement)}' is not a valid requirement: {reason}",
                    line=line_number,
                )
            )
    return errors


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """(first line number, text) of each requirement: comments removed, ``\\`` lines joined."""
    result: list[tuple[int, str]] = []
    pending = ""
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw if not pending else " " + raw.lstrip()
        if not pending:
            start = number
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1]
            continue
        line = pending + line
        pending = ""
        line = re.sub(r"(^|\s)#.*$", "", line).strip()
        if line:
            result.append((start, line))
    if pending.strip():
        result.append((start, re.sub(r"(^|\s)#.*$", "", pending).strip()))
    return [(number, line) for number, line in result if line]


def _clip(text: str, length: int = 80) -> str:
    printable = "".join(c if c.isprintable() else "?" for c in text)
    return printable if len(printable) <= length else printable[: length - 3] + "..."
