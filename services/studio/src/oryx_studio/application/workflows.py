"""Workflows: create, copy, list, edit the graph and the inputs, results and endpoint."""

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from oryx_studio.application.filestore import Filestore
from oryx_studio.application.library import get_action
from oryx_studio.application.ports import (
    Clock,
    IdGenerator,
    Page,
    UnitOfWork,
    UnitOfWorkFactory,
)
from oryx_studio.domain.errors import Conflict, InvalidValue, NotFound
from oryx_studio.domain.graph import (
    Endpoint,
    InputSource,
    Link,
    Position,
    Result,
    StaticInput,
    VariableInput,
)
from oryx_studio.domain.library import ActionVersion
from oryx_studio.domain.types import FileValue, IoSpec, IoType
from oryx_studio.domain.workflows import (
    Catalog,
    DeploymentStatus,
    Issue,
    Removed,
    Variables,
    Workflow,
)

MAX_FILE_NAME_BYTES = 200
ARCHIVE_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"\x1f\x8b")
"""A directory input takes an archive: zip (also empty) or gzip (a .tar.gz)."""


@dataclass(frozen=True, kw_only=True)
class WorkflowView:
    """A workflow with what the API shows alongside: its action versions, the variables it
    uses, and its errors."""

    workflow: Workflow
    catalog: Catalog
    variables: Variables
    issues: Sequence[Issue]
    removed: Removed = field(default_factory=Removed)
    step_id: str | None = None
    """The step the request added, if any."""


@dataclass(frozen=True, kw_only=True)
class CreateWorkflow:
    name: str
    description: str = ""
    from_workflow_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class AddStep:
    action_id: str
    action_version: str | None = None
    after_step_id: str | None = None
    name: str | None = None
    position: Position | None = None


@dataclass(frozen=True, kw_only=True)
class EditStep:
    name: str | None = None
    position: Position | None = None
    action_version: str | None = None
    dynamic_outputs: Sequence[IoSpec] | None = None


def safe_file_name(name: str) -> str:
    """The last part of an uploaded file's name, without what a path or a terminal would
    read as something else."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(c for c in base if unicodedata.category(c)[0] != "C").strip()
    while len(base.encode()) > MAX_FILE_NAME_BYTES:
        base = base[1:]
    return base if base not in ("", ".", "..") else "file"


def file_key(*, project_id: str, owner: str, file_id: str, name: str) -> str:
    """Filestore keys of the studio: ``projects/<project>/studio/<owner>/files/<id>/<name>``,
    where owner is ``workflows/<id>`` or ``variables/<id>``. Keys are never reused: a deployed
    snapshot keeps reading the file it was given."""
    return f"{studio_folder(project_id)}/{owner}/files/{file_id}/{name}"


def studio_folder(project_id: str) -> str:
    """Where the studio keeps a project's files (other services share the filestore)."""
    return f"projects/{project_id}/studio"


async def get_workflow(uow: UnitOfWork, *, project_id: str, workflow_id: str) -> Workflow:
    workflow = await uow.workflows.get(project_id=project_id, workflow_id=workflow_id)
    if workflow is None:
        raise NotFound(f"workflow {workflow_id} not found", field="workflow_id")
    return workflow


async def catalog_of(uow: UnitOfWork, workflow: Workflow) -> dict[str, ActionVersion]:
    return await uow.actions.versions(
        project_id=workflow.project_id, version_ids=workflow.action_version_ids()
    )


async def view_of(
    uow: UnitOfWork, workflow: Workflow, removed: Removed = Removed()
) -> WorkflowView:
    catalog = await catalog_of(uow, workflow)
    variables = await uow.variables.many(
        project_id=workflow.project_id, ids=workflow.variable_ids()
    )
    issues = workflow.validate(catalog=catalog, variables=variables)
    return WorkflowView(
        workflow=workflow, catalog=catalog, variables=variables, issues=issues, removed=removed
    )


async def check_endpoint_free(uow: UnitOfWork, workflow: Workflow, endpoint: Endpoint) -> None:
    owners = await uow.workflows.with_endpoint(
        project_id=workflow.project_id, route_key=endpoint.route_key
    )
    other = next((o for o in owners if o.workflow_id != workflow.id), None)
    if other is not None:
        raise Conflict(
            f"workflow {other.workflow_name!r} already answers on {endpoint.path}; paths are "
            "unique within a project",
            field="path",
            code="endpoint_taken",
        )


def check_upload(spec: IoSpec, *, data: bytes, max_bytes: int) -> None:
    if not spec.type.is_file:
        raise InvalidValue(
            f"input {spec.name} is a {spec.type.value}; set it with PUT .../inputs/{spec.name}",
            field="name",
            code="type_mismatch",
        )
    if len(data) > max_bytes:
        raise InvalidValue(f"the file is larger than {max_bytes} bytes", field="file")
    if spec.type is IoType.DIRECTORY and not data.startswith(ARCHIVE_MAGIC):
        raise InvalidValue(
            f"input {spec.name} is a directory: upload it as a .zip or .tar.gz archive",
            field="file",
        )


class Workflows:
    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        filestore: Filestore,
        clock: Clock,
        ids: IdGenerator,
        max_file_bytes: int,
    ) -> None:
        self._uow = uow
        self._files = filestore
        self._clock = clock
        self._ids = ids
        self._max_file_bytes = max_file_bytes

    async def create(self, *, project_id: str, cmd: CreateWorkflow) -> WorkflowView:
        now = self._clock.now()
        workflow_id = self._ids.new()
        async with self._uow() as uow:
            if cmd.from_workflow_id is None:
                workflow = Workflow.create(
                    id=workflow_id,
                    project_id=project_id,
                    name=cmd.name,
                    description=cmd.description,
                    at=now,
                )
            else:
                original = await uow.workflows.get(
                    project_id=project_id, workflow_id=cmd.from_workflow_id
                )
                if original is None:
                    raise NotFound(
                        f"workflow {cmd.from_workflow_id} not found", field="from_workflow_id"
                    )
                files = {}
                for file in original.file_values():
                    key = file_key(
                        project_id=project_id,
                        owner=f"workflows/{workflow_id}",
                        file_id=self._ids.new(),
                        name=file.name,
                    )
                    await self._files.put(key, await self._files.get(file.key))
                    files[file.key] = FileValue(
                        key=key,
                        name=file.name,
                        size_bytes=file.size_bytes,
                        directory=file.directory,
                    )
                workflow = original.copy(
                    id=workflow_id,
                    name=cmd.name,
                    description=cmd.description,
                    at=now,
                    files=files,
                )
            uow.workflows.add(workflow)
            await uow.commit()
            return await view_of(uow, workflow)

    async def list(
        self,
        *,
        project_id: str,
        search: str | None,
        status: DeploymentStatus | None,
        limit: int,
        cursor: str | None,
    ) -> Page[Workflow]:
        async with self._uow() as uow:
            return await uow.workflows.page(
                project_id=project_id, search=search, status=status, limit=limit, cursor=cursor
            )

    async def get(self, *, project_id: str, workflow_id: str) -> WorkflowView:
        async with self._uow() as uow:
            workflow = await get_workflow(uow, project_id=project_id, workflow_id=workflow_id)
            return await view_of(uow, workflow)

    async def errors(self, *, project_id: str, workflow_id: str) -> Sequence[Issue]:
        return (await self.get(project_id=project_id, workflow_id=workflow_id)).issues

    async def rename(
        self, *, project_id: str, workflow_id: str, name: str | None, description: str | None
    ) -> WorkflowView:
        async with self._uow() as uow:
            workflow = await get_workflow(uow, project_id=project_id, workflow_id=workflow_id)
            workflow.rename(name=name, description=description, at=self._clock.now())
            await uow.commit()
            return await view_of(uow, workflow)

    async def delete(self, *, project_id: str, workflow_id: str, user_id: str) -> None:
        async with self._uow() as uow:
            workflow = await get_workflow(uow, project_id=project_id, workflow_id=workflow_id)
            workflow.delete(requested_by=user_id, at=self._clock.now())
            await uow.workflows.remove(workflow)
            await uow.commit()
        await self._files.delete_prefix(f"{studio_folder(project_id)}/workflows/{workflow_id}")

    async def add_step(self, *, project_id: str, workflow_id: str, cmd: AddStep) -> WorkflowView:
        async with self._uow() as uow:
            workflow = await get_workflow(uow, project_id=project_id, workflow_id=workflow_id)
            action = await get_action(uow, project_id=project_id, action_id=cmd.action_id)
            version = action.latest
            if cmd.action_version is not None:
                found = action.version(cmd.action_version)
                if found is None:
                    raise NotFound(
                        f"{action.name} has no version {cmd.action_version!r}",
                        field="action_version",
                    )
                version = found
            step = workflow.add_step(
                action=version,
                after_step_id=cmd.after_step_id,
                name=cmd.name,
                position=cmd.position,
                at=self._clock.now(),
            )
            await uow.commit()
            view = await view_of(uow, workflow)
            return replace(view, step_id=step.id)

    async def edit_step(
        self, *, project_id: str, workflow_id: str, step_id: str, cmd: EditStep
    ) -> WorkflowView:
        async with self._uow() as uow:
            workflow = await get_workflow(uow, project_id=project_id, workflow_id=workflow_id)
            step = workflow.step(step_id)
            catalog = await catalog_of(uow, workflow)
            new_version = None
            if cmd.action_version is not None:
                action = await uow.actions.get(
                    project_id=project_id, action_id=step.action.action_id
                )
                new_version = action.version(cmd.action_version) if action else None
                if new_version is None:
                    raise NotFound(
                        f"{step.action.name} has no version {cmd.action_version!r} in the library",
                        field="action_version",
                    )
            variables = await uow.variables.many(project_id=project_id, ids=workflow.variable_ids())
            removed = workflow.edit_step(
                step_id=step_id,
                name=cmd.name,
                position=cmd.position,
                action=new_version,
                dynamic_outputs=cmd.dynamic_outputs,
                catalog=catalog,
                variables=variables,
                at=self._clock.now(),
            )
            await uow.commit()
            return await view_of(uow, workflow, removed)

    async def remove_step(self, *, project_id: str, workflow_id: str, step_id: str) -> WorkflowView:
        async with self._uow() as uow:
            workflow = await get_workflow(uow, project_id=project_id, workflow_id=workflow_id)
            removed = workflow.remove_step(step_id=step_id, at=self._clock.now())
            await uow.commit()
            return await view_of(uow, workflow, removed)

    async def set_links(
        self, *, project_id: str, workflow_id: str, links: Sequence[Link]
    ) -> WorkflowView:
        async with self._uow() as uow:
            workflow = await get_workflow(uow, project_id=project_id, workflow_id=workflow_id)
            workflow.set_links(links=links, at=self._clock.now())
            await uow.commit()
            return await view_of(uow, workflow)

    async def set_input(
        self, *, project_id: str, workflow_id: str, step_id: str, name: str, source: InputSource
    ) -> WorkflowView:
        async with self._uow() as uow:
            workflow = await get_workflow(uow, project_id=project_id, workflow_id=workflow_id)
            workflow.step(step_id)
            catalog = await catalog_of(uow, workflow)
            ids = workflow.variable_ids()
            if isinstance(source, VariableInput):
                ids.add(source.variable_id)
            variables = await uow.variables.many(project_id=project_id, ids=ids)
            workflow.set_input(
                step_id=step_id,
                name=name,
                source=source,
                catalog=catalog,
                variables=variables,
                at=self._clock.now(),
            )
            await uow.commit()
            return await view_of(uow, workflow)

    async def unset_input(
        self, *, project_id: str, workflow_id: str, step_id: str, name: str
    ) -> WorkflowView:
        async with self._uow() as uow:
            workflow = await get_workflow(uow, project_id=project_id, workflow_id=workflow_id)
            workflow.step(step_id)
            catalog = await catalog_of(uow, workflow)
            workflow.unset_input(step_id=step_id, name=name, catalog=catalog, at=self._clock.now())
            await uow.commit()
            return await view_of(uow, workflow)

    async def upload_input_file(
        self,
        *,
        project_id: str,
        workflow_id: str,
        step_id: str,
        name: str,
        file_name: str,
        data: bytes,
    ) -> WorkflowView:
        """Store the file, then make it the input's static value."""
        async with self._uow() as uow:
            workflow = await get_workflow(uow, project_id=project_id, workflow_id=workflow_id)
            step = workflow.step(step_id)
            catalog = await catalog_of(uow, workflow)
            version = catalog.get(step.action.version_id)
            spec = version.input(name) if version else None
            if spec is None:
                raise NotFound(f"step {step_id} has no input {name!r}", field="name")
            check_upload(spec, data=data, max_bytes=self._max_file_bytes)
            clean = safe_file_name(file_name)
            key = file_key(
                project_id=project_id,
                owner=f"workflows/{workflow_id}",
                file_id=self._ids.new(),
                name=clean,
            )
            await self._files.put(key, data)
            value = FileValue(
                key=key,
                name=clean,
                size_bytes=len(data),
                directory=spec.type is IoType.DIRECTORY,
            )
            try:
                workflow.set_input(
                    step_id=step_id,
                    name=name,
                    source=StaticInput(value=value),
                    catalog=catalog,
                    variables={},
                    at=self._clock.now(),
                )
                await uow.commit()
            except BaseException:
                await self._files.delete(key)
                raise
            return await view_of(uow, workflow)

    async def set_results(
        self, *, project_id: str, workflow_id: str, results: Sequence[Result]
    ) -> WorkflowView:
        async with self._uow() as uow:
            workflow = await get_workflow(uow, project_id=project_id, workflow_id=workflow_id)
            catalog = await catalog_of(uow, workflow)
            workflow.set_results(results=results, catalog=catalog, at=self._clock.now())
            await uow.commit()
            return await view_of(uow, workflow)

    async def set_endpoint(
        self, *, project_id: str, workflow_id: str, endpoint: Endpoint
    ) -> WorkflowView:
        async with self._uow() as uow:
            workflow = await get_workflow(uow, project_id=project_id, workflow_id=workflow_id)
            await check_endpoint_free(uow, workflow, endpoint)
            workflow.set_endpoint(endpoint=endpoint, at=self._clock.now())
            await uow.commit()
            return await view_of(uow, workflow)
