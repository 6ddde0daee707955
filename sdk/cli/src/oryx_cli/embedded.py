"""The embedded mode: every service in this process, on one port.

Same code paths as the distributed mode; only adapters change: one embedded PostgreSQL (a
database per service), one in-process broker shared by all, a local-folder filestore, the
local builder, and the runner with its local site (action wrappers as child processes, run from
the virtualenvs the builder made). All state lives under the data directory.
"""

import asyncio
import logging
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dependency_injector import providers

log = logging.getLogger("oryx")


class CannotStart(RuntimeError):
    """Something a person must fix first; the message says what."""


def default_data_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("oryx"))


def check_port(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise CannotStart(
                f"cannot listen on {host}:{port} ({exc.strerror}); stop what uses it or choose "
                "another port with --port"
            ) from None


def check_data_dir(data_dir: Path) -> None:
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        probe = data_dir / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise CannotStart(
            f"the data directory {data_dir} is not writable ({exc.strerror}); choose another "
            "with --data-dir"
        ) from None


def pid_file(data_dir: Path) -> Path:
    return data_dir / "oryx.pid"


def running_pid(data_dir: Path) -> int | None:
    """The pid of an Oryx serving this data directory, if one is alive."""
    try:
        pid = int(pid_file(data_dir).read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    return pid


def process_alive(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie, finished but not yet reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc (macOS): the signal said it is there
    return stat.rpartition(")")[2].split()[0] != "Z"


class _SharedBroker:
    """The in-process broker as every service sees it: each may start it, none may close it
    (the platform closes it once, after every service stopped)."""

    def __init__(self, broker: Any) -> None:
        self._broker = broker

    def __getattr__(self, name: str) -> Any:
        return getattr(self._broker, name)

    async def close(self) -> None:
        return None


@dataclass
class Platform:
    host: str
    port: int
    data_dir: Path
    _started: list[tuple[str, Any]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def build(self) -> dict[str, Any]:
        """Assemble the services (nothing runs yet); returns their ASGI apps by prefix."""
        from oryx_action_builder.config import Settings as BuilderSettings
        from oryx_action_builder.service import BuilderService, topology
        from oryx_action_builder.service import build_container as builder_container
        from oryx_authorization.config import Settings as AuthorizationSettings
        from oryx_authorization.infrastructure.api.app import create_app as authorization_app
        from oryx_authorization.infrastructure.messaging.inprocess import InProcessBroker
        from oryx_authorization.service import build_container as authorization_container
        from oryx_authorization.service import resolve_database
        from oryx_repository.config import Settings as RepositorySettings
        from oryx_repository.infrastructure.api.app import create_app as repository_app
        from oryx_repository.service import build_container as repository_container
        from oryx_repository.service import resolve
        from oryx_runner.config import Settings as RunnerSettings
        from oryx_runner.service import build_container as runner_container
        from oryx_runner.service import make_app as runner_app
        from oryx_runner.service import resolve as runner_resolve
        from oryx_studio.config import Settings as StudioSettings
        from oryx_studio.infrastructure.api.app import create_app as studio_app
        from oryx_studio.service import build_container as studio_container
        from oryx_studio.service import resolve as studio_resolve

        shared = _SharedBroker(InProcessBroker())
        self._broker = shared

        self._authorization_settings = AuthorizationSettings(
            host=self.host, port=self.port, data_dir=self.data_dir, database_url=None,
            broker_url=None,
        )  # fmt: skip
        database_url, embedded = resolve_database(self._authorization_settings)
        self._embedded = embedded
        self._authorization = authorization_container(self._authorization_settings, database_url)
        self._authorization.broker.override(providers.Object(shared))

        self._repository_settings = RepositorySettings(
            host=self.host, port=self.port, data_dir=self.data_dir, database_url=None,
            broker_url=None, public_url=self.url, authorization_url=self.url,
        )  # fmt: skip
        resolved = resolve(self._repository_settings)  # the same embedded server, reused
        self._repository = repository_container(self._repository_settings, resolved)
        self._repository.broker.override(providers.Object(shared))

        self._studio_settings = StudioSettings(
            host=self.host, port=self.port, data_dir=self.data_dir, database_url=None,
            broker_url=None, authorization_url=self.url,
        )  # fmt: skip
        self._studio = studio_container(
            self._studio_settings, studio_resolve(self._studio_settings)
        )
        self._studio.broker.override(providers.Object(shared))

        builder_settings = BuilderSettings(
            data_dir=self.data_dir, filestore_dir=resolved.filestore_dir, broker_url=None
        )
        container = builder_container(builder_settings)
        container.broker.override(providers.Object(shared))
        self._builder = BuilderService(container, topology(builder_settings))

        # The runner runs what the builder built (its artifacts folder), reads and writes the
        # files of runs in the same filestore as the studio's static files, and gives the
        # wrappers presigned URLs on this port.
        self._runner_settings = RunnerSettings(
            host=self.host, port=self.port, data_dir=self.data_dir, database_url=None,
            broker_url=None, public_url=self.url, authorization_url=self.url,
            filestore_dir=resolved.filestore_dir,
            artifacts_dir=builder_settings.resolved_artifacts_dir(),
        )  # fmt: skip
        self._runner = runner_container(
            self._runner_settings, runner_resolve(self._runner_settings)
        )
        self._runner.broker.override(providers.Object(shared))

        return {
            "/authorization": authorization_app(self._authorization.use_cases()),
            "/repository": repository_app(self._repository.use_cases()),
            "/studio": studio_app(self._studio.use_cases()),
            "/runner": runner_app(self._runner),
        }

    async def start(self) -> None:
        from oryx_authorization import service as authorization
        from oryx_repository import service as repository
        from oryx_runner import service as runner
        from oryx_studio import service as studio

        await self._broker.start()
        state: Any = await authorization.start(self._authorization, self._authorization_settings)
        self._started.append(("authorization", state))
        state = await repository.start(self._repository, self._repository_settings)
        self._started.append(("repository", state))
        state = await studio.start(self._studio, self._studio_settings)
        self._started.append(("studio", state))
        await self._builder.start()
        self._started.append(("action_builder", None))
        # After the studio: the runner consumes its deploy orders. After a restart, what was
        # deployed stays deployed (its database holds it; the local site starts the actions
        # again on their first execution) and unfinished runs resume. Started last, stopped
        # first: on a stop, its engine takes no new step from the moment the stop begins.
        state = await runner.start(self._runner, self._runner_settings)
        self._started.append(("runner", state))
        pid_file(self.data_dir).write_text(str(os.getpid()))
        print(
            f"\n  Oryx is running on {self.url}\n"
            f"  APIs: {self.url}/authorization/docs  {self.url}/repository/docs  "
            f"{self.url}/studio/docs  {self.url}/runner/docs\n"
            f"  Data: {self.data_dir}\n  Stop: Ctrl-C, or `oryx down` from another shell\n",
            flush=True,
        )

    async def stop(self) -> None:
        from oryx_authorization import service as authorization
        from oryx_repository import service as repository
        from oryx_runner import service as runner
        from oryx_studio import service as studio

        while self._started:
            name, state = self._started.pop()
            try:
                if name == "action_builder":
                    await self._builder.stop()
                elif name == "repository":
                    await repository.stop(self._repository, state)
                elif name == "runner":
                    # stops the engine (executions get their grace), then every wrapper
                    await runner.stop(self._runner, state)
                elif name == "studio":
                    await studio.stop(self._studio, state)
                else:
                    await authorization.stop(self._authorization, state)
            except Exception:
                log.exception("stopping %s failed", name)
        await self._broker._broker.close()
        pid_file(self.data_dir).unlink(missing_ok=True)
        if self._embedded is not None:
            await asyncio.to_thread(self._embedded.stop)
