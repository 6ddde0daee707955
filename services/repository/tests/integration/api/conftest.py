"""The repository app on the test database, with the real authorization service, reached over
HTTP through httpx's ASGI transport; Git repositories made by the tests, read over file://."""

import shutil
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from oryx_repository.config import Settings
from oryx_repository.infrastructure.api.app import create_app
from oryx_repository.infrastructure.security.secrets import FernetSecretBox
from oryx_repository.service import Resolved, build_container, start, stop

EXAMPLES = Path(__file__).resolve().parents[5] / "examples" / "actions"


def git(*args: str, cwd: Path) -> str:
    result = subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True,
        env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
             "GIT_COMMITTER_EMAIL": "t@t", "HOME": str(cwd), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    return result.stdout.strip()


def make_repository(folder: Path, files: dict[str, str | bytes] | None = None) -> str:
    """A Git repository holding ``files`` (default: the examples); returns its file:// URL."""
    folder.mkdir(parents=True, exist_ok=True)
    if files is None:
        shutil.copytree(EXAMPLES, folder, dirs_exist_ok=True)
    else:
        for name, content in files.items():
            path = folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content)
    git("init", "--quiet", "--initial-branch=main", cwd=folder)
    git("add", "-A", cwd=folder)
    git("commit", "--quiet", "-m", "actions", cwd=folder)
    return f"file://{folder}"


@dataclass
class Api:
    client: httpx.AsyncClient
    container: object
    project_id: str
    developer: dict[str, str]
    """Headers of a developer of ``project_id``."""


@pytest.fixture(scope="module")
async def people(authorization_server) -> dict[str, object]:
    """Two projects with their people, made once per module (logins cost argon2 time)."""
    suffix = str(id(object()))[-6:]
    p1 = await authorization_server.new_project(f"repo-a-{suffix}")
    p2 = await authorization_server.new_project(f"repo-b-{suffix}")
    return {
        "p1": p1,
        "p2": p2,
        "developer": await authorization_server.new_member(
            f"dev-{suffix}", project_id=p1, role="developer"
        ),
        "viewer": await authorization_server.new_member(
            f"viewer-{suffix}", project_id=p1, role="user"
        ),
        "outsider": await authorization_server.new_member(
            f"other-{suffix}", project_id=p2, role="developer"
        ),
    }


@pytest.fixture
async def api(sessions, database_url, authorization_server, people, tmp_path) -> AsyncIterator[Api]:
    settings = Settings(
        database_url=database_url,
        authorization_url=authorization_server.url,
        allow_file_urls=True,
        outbox_poll_seconds=0.05,
    )
    resolved = Resolved(
        database_url=database_url,
        secret_key=FernetSecretBox.generate_key(),
        filestore_dir=tmp_path / "files",
    )
    container = build_container(settings, resolved)
    state = await start(container, settings)
    app = create_app(container.use_cases())
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://oryx") as client:
        yield Api(
            client=client,
            container=container,
            project_id=str(people["p1"]),
            developer={
                "Authorization": f"Bearer {people['developer']}",
                "X-Oryx-Project": str(people["p1"]),
            },
        )
    await stop(container, state)
