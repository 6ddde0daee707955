"""Repositories of actions written by the tests: good ones and every kind of bad one."""

import io
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from PIL import Image

HANDLER = "def handle(inputs):\n    return {'out': inputs['text']}\n"
RUN = (
    "import asyncio\n\n\nasync def run(service, input_values):\n"
    "    await service.create_run({'tick': 1})\n"
)


def metadata(
    action_id: str = "echo", *, kind: str = "Processor", version: str = "1.0", **spec: Any
) -> dict[str, Any]:
    return {
        "apiVersion": "ryax.tech/v2.0",
        "kind": kind,
        "spec": {
            "id": action_id,
            "version": version,
            "human_name": action_id.capitalize(),
            "type": "python3",
            "inputs": [{"name": "text", "type": "string"}],
            "outputs": [{"name": "out", "type": "string"}],
            **spec,
        },
    }


def image(width: int = 64, height: int = 64, image_format: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 80, 20)).save(buffer, format=image_format)
    return buffer.getvalue()


def write(root: Path, files: dict[str, str | bytes | dict[str, Any]]) -> Path:
    """Write files under ``root``: text, bytes, or a mapping written as YAML."""
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        elif isinstance(content, dict):
            path.write_text(yaml.safe_dump(content, sort_keys=False))
        else:
            path.write_text(content)
    return root


def processor(folder: str, action_id: str = "echo", **spec: Any) -> dict[str, Any]:
    return {
        f"{folder}/ryax_metadata.yaml": metadata(action_id, **spec),
        f"{folder}/ryax_handler.py": HANDLER,
    }


def source(folder: str, action_id: str = "ticker", **spec: Any) -> dict[str, Any]:
    return {
        f"{folder}/ryax_metadata.yaml": metadata(
            action_id, kind="Source", outputs=[{"name": "tick", "type": "integer"}], **spec
        ),
        f"{folder}/ryax_run.py": RUN,
    }


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    return root


GIT_ENV = {
    **os.environ,
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
}


def commit_all(path: Path) -> str:
    """Make ``path`` a Git repository holding its files; return the commit's sha."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=path, env=GIT_ENV, check=True, capture_output=True, text=True
        ).stdout.strip()

    git("init", "--quiet", "--initial-branch", "main")
    git("add", "--all")
    git("commit", "--quiet", "-m", "actions")
    return git("rev-parse", "HEAD")
