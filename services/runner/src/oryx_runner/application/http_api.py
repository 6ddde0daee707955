"""The ``http-api`` trigger: every deployed workflow with it is an HTTP endpoint of its
project, under ``/runner/api/{project_id}/{path}``.

A call is matched to an endpoint, its trigger outputs are read from the request (each from
its origin: ``path``, ``query``, ``header`` or ``body``) and typed, a run starts, and the
caller waits for it up to the endpoint's timeout. The table of endpoints is kept in memory per
project and forgotten when a workflow of the project changes deployment status (``forget``,
called on the runner processes' change notifications), so a call reads nothing to find its
endpoint.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

from oryx_runner.application.api_keys import Access
from oryx_runner.application.ports import IdGenerator, UnitOfWorkFactory
from oryx_runner.application.runs import DeploymentCache, Runs, UploadedFile
from oryx_runner.domain.deployments import Deployment
from oryx_runner.domain.endpoints import Matched, PathTemplate, Route, match_route
from oryx_runner.domain.errors import InvalidValue
from oryx_runner.domain.runs import WorkflowRun
from oryx_runner.domain.workflows import BuiltinTrigger, Endpoint, IoSpec

TRIGGER = "http-api"
RECHECK_SECONDS = 2.0
"""While waiting for a run, look at it this often anyway (a missed notification costs at
most this much)."""


class RunEnds(Protocol):
    def watch_end(self, run_id: str) -> AbstractContextManager[asyncio.Event]:
        """An event set when the run ends, while the block lasts."""
        ...


class EndedRuns(Protocol):
    def ended(self, run_id: str) -> WorkflowRun | None:
        """The run as it ended, when it ended lately in this process; None otherwise."""
        ...


@dataclass(frozen=True, kw_only=True)
class Target:
    """A deployed endpoint."""

    deployment: Deployment
    endpoint: Endpoint

    @property
    def trigger_outputs(self) -> tuple[IoSpec, ...]:
        return self.deployment.snapshot.trigger.outputs

    def outputs_from(self, origin: str) -> list[IoSpec]:
        return [o for o in self.trigger_outputs if (o.origin or "body") == origin]

    @property
    def takes_body(self) -> bool:
        return bool(self.outputs_from("body"))


@dataclass(frozen=True, kw_only=True)
class Call:
    """What a request brings, already split by origin."""

    params: Mapping[str, str] = field(default_factory=dict)
    query: Sequence[tuple[str, str]] = ()
    headers: Mapping[str, str] = field(default_factory=dict)
    """Header names in lower case."""
    body: Mapping[str, Any] | None = None
    """The JSON object, or the form's text fields; None when no body was sent."""
    files: Mapping[str, UploadedFile] = field(default_factory=dict)


def field_name(spec: IoSpec) -> str:
    return f"{spec.origin or 'body'}.{spec.name}"


def header_names(spec: IoSpec) -> tuple[str, ...]:
    """A header output ``x_request_id`` reads the header ``X-Request-Id`` (or its exact
    name), in any case."""
    name = spec.name.lower()
    return (name, name.replace("_", "-"))


def gather(target: Target, call: Call) -> tuple[dict[str, Any], dict[str, UploadedFile]]:
    """The trigger's raw values and files from the request; ``InvalidValue`` names the field
    (``query.limit``, ``body.file``...) when something is given wrong."""
    values: dict[str, Any] = {}
    files: dict[str, UploadedFile] = {}
    for spec in target.outputs_from("path"):
        if spec.name in call.params:
            values[spec.name] = call.params[spec.name]
    wanted = {spec.name: spec for spec in target.outputs_from("query")}
    for name, value in call.query:
        if name not in wanted:
            continue  # clients add parameters of their own (cache busters...): not ours
        if name in values:
            raise InvalidValue(f"query.{name}: given more than once", field=f"query.{name}")
        values[name] = value
    for spec in target.outputs_from("header"):
        for header in header_names(spec):
            if header in call.headers:
                values[spec.name] = call.headers[header]
                break
    body_specs = {spec.name: spec for spec in target.outputs_from("body")}
    for name, value in (call.body or {}).items():
        field_spec = body_specs.get(name)
        if field_spec is None:
            if not body_specs:
                break  # a body the endpoint does not read
            raise InvalidValue(
                f"body.{name}: unknown field; expected {', '.join(sorted(body_specs))}",
                field=f"body.{name}",
            )
        if field_spec.type.is_file:
            raise InvalidValue(
                f"body.{name}: a {field_spec.type.value} is sent as a file part of a "
                "multipart/form-data body",
                field=f"body.{name}",
            )
        values[name] = value
    for name, upload in call.files.items():
        file_spec = body_specs.get(name)
        if file_spec is None or not file_spec.type.is_file:
            raise InvalidValue(
                f"body.{name}: no file field of this name; file fields: "
                + (", ".join(n for n, s in body_specs.items() if s.type.is_file) or "none"),
                field=f"body.{name}",
            )
        if name in values:
            raise InvalidValue(f"body.{name}: given twice", field=f"body.{name}")
        files[name] = upload
    return values, files


@dataclass(frozen=True, kw_only=True)
class Outcome:
    run: WorkflowRun
    """Final when the run ended within the endpoint's timeout; running otherwise."""


class HttpApi:
    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        deployments: DeploymentCache,
        runs: Runs,
        ends: RunEnds,
        ids: IdGenerator,
        ended: EndedRuns | None = None,
        size: int = 1024,
    ) -> None:
        self._uow = uow
        self._deployments = deployments
        self._runs = runs
        self._ends = ends
        self._ended = ended
        self._ids = ids
        self._size = size
        self._tables: dict[str, list[Route[Target]]] = {}
        self._generation = 0

    def forget(self, project_id: str) -> None:
        """A workflow of the project changed deployment status (``""``: of any project)."""
        self._generation += 1
        if project_id:
            self._tables.pop(project_id, None)
        else:
            self._tables.clear()

    async def endpoints(self, project_id: str) -> list[Target]:
        """The deployed endpoints of the project, in path order."""
        return [route.target for route in await self._table(project_id)]

    async def _table(self, project_id: str) -> list[Route[Target]]:
        table = self._tables.get(project_id)
        if table is not None:
            return table
        generation = self._generation
        async with self._uow() as uow:
            states = await uow.workflows.deployed(project_id=project_id, trigger_kind=TRIGGER)
        table = []
        for state in states:
            deployment = await self._deployments.get(state.deployment_id)
            endpoint = deployment.snapshot.endpoint
            if endpoint is None or deployment.trigger_kind != BuiltinTrigger.HTTP_API:
                continue
            table.append(
                Route(
                    method=endpoint.method.upper(),
                    template=PathTemplate.parse(endpoint.path),
                    target=Target(deployment=deployment, endpoint=endpoint),
                )
            )
        table.sort(key=lambda r: (r.template.raw, r.method))
        if generation == self._generation:
            if len(self._tables) >= self._size:
                self._tables.pop(next(iter(self._tables)))
            self._tables[project_id] = table
        return table

    async def resolve(self, *, project_id: str, method: str, path: str) -> Matched[Target]:
        """The endpoint for this call; ``NotFound`` or ``MethodNotAllowed`` otherwise."""
        return match_route(await self._table(project_id), method=method, path=path)

    async def call(self, target: Target, call: Call, *, access: Access) -> Outcome:
        """Start a run with the request's values, and wait for it up to the timeout."""
        values, files = gather(target, call)
        run_id = self._ids.new()
        timeout = target.endpoint.timeout_seconds
        with self._ends.watch_end(run_id) as ended:
            run = await self._runs.start(
                target.deployment,
                specs=target.trigger_outputs,
                values=values,
                files=files,
                trigger=TRIGGER,
                requested_by=access.label,
                field_of=field_name,
                run_id=run_id,
            )
            if timeout <= 0:
                return Outcome(run=run)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            while True:
                left = deadline - loop.time()
                if left <= 0:
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(ended.wait(), timeout=min(left, RECHECK_SECONDS))
                if ended.is_set() or left > RECHECK_SECONDS:
                    known = self._ended.ended(run_id) if self._ended is not None else None
                    run = known or await self._runs.find(run_id)
                    if run.status.is_final:
                        return Outcome(run=run)
                    ended.clear()
            return Outcome(run=await self._runs.find(run_id))
