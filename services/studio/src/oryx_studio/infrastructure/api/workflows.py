"""Routes of workflows, under /studio/workflows: editing, errors, deploy, import and export."""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query, Request, Response

from oryx_studio.application.workflows import AddStep, CreateWorkflow, EditStep
from oryx_studio.domain.errors import Conflict, InvalidValue
from oryx_studio.domain.graph import (
    Endpoint,
    InputSource,
    Link,
    Position,
    Result,
    StaticInput,
    StepOutput,
    VariableInput,
)
from oryx_studio.domain.workflows import DeploymentStatus
from oryx_studio.infrastructure.api import schemas as s
from oryx_studio.infrastructure.api.common import (
    CONFLICT,
    ERRORS,
    PREFIX,
    UPLOAD,
    Cursor,
    InputName,
    Limit,
    PathId,
    Search,
    StepId,
    form_file,
    is_multipart,
    json_object,
)
from oryx_studio.infrastructure.api.deps import (
    Services,
    WorkflowDeployer,
    WorkflowReader,
    WorkflowWriter,
)
from oryx_studio.infrastructure.api.documents import (
    dump_yaml,
    dynamic_output,
    parse_document,
    parse_model,
    read_upload,
    write_zip,
)
from oryx_studio.infrastructure.api.views import (
    issue_out,
    summary_out,
    workflow_out,
)

router = APIRouter(prefix=f"{PREFIX}/workflows", responses=ERRORS, tags=["workflows"])

YAML = "application/yaml"
ZIP = "application/zip"


def _position(p: s.PositionIn | None) -> Position | None:
    return Position(x=p.x, y=p.y) if p is not None else None


def _input(body: s.InputIn) -> InputSource:
    if body.from_ is not None:
        return StepOutput(step_id=body.from_.step_id, output=body.from_.output)
    if body.variable_id is not None:
        return VariableInput(variable_id=body.variable_id)
    return StaticInput(value=body.value)


@router.get("", summary="List workflows")
async def list_workflows(
    caller: WorkflowReader,
    services: Services,
    search: Search = None,
    status: Annotated[
        DeploymentStatus | None, Query(description="Only workflows in this deployment status")
    ] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> s.PageOut[s.WorkflowSummaryOut]:
    """The project's workflows, newest first, with their deployment status."""
    page = await services.workflows.list(
        project_id=caller.project_id, search=search, status=status, limit=limit, cursor=cursor
    )
    return s.PageOut[s.WorkflowSummaryOut](
        items=[summary_out(w) for w in page.items], total=page.total, next_cursor=page.next_cursor
    )


@router.post("", status_code=201, summary="Create a workflow")
async def create_workflow(
    body: s.WorkflowIn, caller: WorkflowWriter, services: Services
) -> s.WorkflowOut:
    """An empty workflow, or a copy of `from_workflow_id` (its steps, links, inputs, static
    files and results; not its endpoint, whose path must stay unique, nor its deployment)."""
    cmd = CreateWorkflow(
        name=body.name, description=body.description, from_workflow_id=body.from_workflow_id
    )
    return workflow_out(await services.workflows.create(project_id=caller.project_id, cmd=cmd))


@router.post(
    "/import",
    status_code=201,
    summary="Import a workflow",
    responses=UPLOAD,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                YAML: {"schema": {"type": "string"}},
                ZIP: {"schema": {"type": "string", "format": "binary"}},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {"file": {"type": "string", "format": "binary"}},
                    }
                },
            },
        }
    },
)
async def import_workflow(
    request: Request,
    caller: WorkflowWriter,
    services: Services,
    name: Annotated[
        str | None,
        Query(min_length=1, max_length=100, description="Instead of metadata.name"),
        s.NoNul,
    ] = None,
) -> s.WorkflowOut:
    """Create a workflow from a document (YAML, see docs/reference/workflow-format.md), or
    from a zip holding `workflow.yaml` and its static files under `files/`. Send it as the
    body, or as the `file` field of a multipart form. Actions are found by name and version
    in this project's library, variables by name: 422 `missing_dependencies` lists, in
    `missing`, every action, variable and file the project lacks."""
    limit = services.max_file_bytes
    if is_multipart(request):
        _, upload = await form_file(request, max_bytes=limit)
        if upload is None:
            raise InvalidValue("send the document in the multipart field 'file'", field="file")
        data = upload[1]
    else:
        data = await request.body()
        if len(data) > limit:
            raise InvalidValue(f"the document is larger than {limit} bytes", field="body")
    if not data.strip():
        raise InvalidValue("send a workflow document (YAML) or a zip", field="body")
    document, files = read_upload(data, max_bytes=limit)
    view = await services.documents.import_document(
        project_id=caller.project_id, document=document, files=files, name=name
    )
    return workflow_out(view)


@router.get("/{workflow_id}", summary="Get a workflow")
async def get_workflow(
    workflow_id: PathId, caller: WorkflowReader, services: Services
) -> s.WorkflowOut:
    """The whole workflow: steps with their inputs (a password's value is never shown) and
    outputs, links, results, endpoint, deployment status and errors."""
    view = await services.workflows.get(project_id=caller.project_id, workflow_id=workflow_id)
    return workflow_out(view)


@router.put(
    "/{workflow_id}",
    summary="Rename a workflow, or replace it by a document",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "oneOf": [
                            {"$ref": "#/components/schemas/WorkflowUpdateIn"},
                            {
                                "type": "object",
                                "description": "A whole workflow document "
                                "(docs/reference/workflow.schema.json)",
                                "required": ["apiVersion", "kind", "metadata", "spec"],
                            },
                        ]
                    }
                }
            },
        }
    },
)
async def update_workflow(
    workflow_id: PathId, request: Request, caller: WorkflowWriter, services: Services
) -> s.WorkflowOut:
    """`{name, description}` renames and describes. A whole workflow document (with
    `apiVersion: oryx.dev/v1`), as `GET .../export` gives it, replaces the steps, links,
    inputs, results and endpoint; static files are kept when the document names them by the
    path the export gives them. The graph's rules (one trigger, no cycle...) are then
    reported in `errors`."""
    body = await json_object(request)
    if "apiVersion" in body:
        document = parse_document(body)
        view = await services.documents.replace(
            project_id=caller.project_id, workflow_id=workflow_id, document=document
        )
    else:
        update: s.WorkflowUpdateIn = parse_model(s.WorkflowUpdateIn, body)
        view = await services.workflows.rename(
            project_id=caller.project_id,
            workflow_id=workflow_id,
            name=update.name,
            description=update.description,
        )
    return workflow_out(view)


@router.delete("/{workflow_id}", status_code=204, summary="Delete a workflow", responses=CONFLICT)
async def delete_workflow(
    workflow_id: PathId, caller: WorkflowWriter, services: Services
) -> Response:
    """Delete the workflow and its static files. 409 `workflow_deployed` while it is
    deploying, deployed or undeploying: undeploy it first."""
    await services.workflows.delete(
        project_id=caller.project_id, workflow_id=workflow_id, user_id=caller.user_id
    )
    return Response(status_code=204)


@router.post("/{workflow_id}/steps", status_code=201, summary="Add a step", responses=CONFLICT)
async def add_step(
    workflow_id: PathId, body: s.StepIn, caller: WorkflowWriter, services: Services
) -> s.WorkflowOut:
    """Add a step running an action of the library (its latest version unless
    `action_version` says), linked after `after_step_id` when given; `step_id` in the answer
    names it. A trigger (a Source action) starts the workflow: it takes no `after_step_id`
    (422 `trigger_has_parent`) and a workflow has one (409 `multiple_triggers`)."""
    cmd = AddStep(
        action_id=body.action_id,
        action_version=body.action_version,
        after_step_id=body.after_step_id,
        name=body.name,
        position=_position(body.position),
    )
    view = await services.workflows.add_step(
        project_id=caller.project_id, workflow_id=workflow_id, cmd=cmd
    )
    return workflow_out(view)


@router.put("/{workflow_id}/steps/{step_id}", summary="Change a step", responses=CONFLICT)
async def edit_step(
    workflow_id: PathId,
    step_id: StepId,
    body: s.StepUpdateIn,
    caller: WorkflowWriter,
    services: Services,
) -> s.WorkflowOut:
    """Rename or move a step, replace its action version, or define the outputs of a trigger
    with dynamic outputs (each with an `origin` for the HTTP API trigger). `removed` says
    what a new version took away: inputs it does not declare or whose value no longer fits,
    links into a step that became a trigger, references to outputs it no longer has."""
    cmd = EditStep(
        name=body.name,
        position=_position(body.position),
        action_version=body.action_version,
        dynamic_outputs=[dynamic_output(o) for o in body.dynamic_outputs]
        if body.dynamic_outputs is not None
        else None,
    )
    view = await services.workflows.edit_step(
        project_id=caller.project_id, workflow_id=workflow_id, step_id=step_id, cmd=cmd
    )
    return workflow_out(view)


@router.delete("/{workflow_id}/steps/{step_id}", summary="Remove a step")
async def remove_step(
    workflow_id: PathId, step_id: StepId, caller: WorkflowWriter, services: Services
) -> s.WorkflowOut:
    """Remove the step with its links; inputs and results that took its outputs are unset,
    and `removed` lists them."""
    view = await services.workflows.remove_step(
        project_id=caller.project_id, workflow_id=workflow_id, step_id=step_id
    )
    return workflow_out(view)


@router.put("/{workflow_id}/links", summary="Set the links")
async def set_links(
    workflow_id: PathId,
    body: Annotated[s.LinksIn, Body()],
    caller: WorkflowWriter,
    services: Services,
) -> s.WorkflowOut:
    """Replace every link of the workflow: `[{from_step_id, to_step_id}, ...]` (an empty list
    unlinks everything). Refused with 422: a step of another workflow (404), a link from a
    step to itself (`self_link`), twice the same link (`duplicate_link`), a link into the
    trigger (`trigger_has_parent`), links making a cycle (`cycle`)."""
    links = [Link(from_step_id=k.from_step_id, to_step_id=k.to_step_id) for k in body]
    view = await services.workflows.set_links(
        project_id=caller.project_id, workflow_id=workflow_id, links=links
    )
    return workflow_out(view)


@router.put("/{workflow_id}/steps/{step_id}/inputs/{name}", summary="Set an input")
async def set_input(
    workflow_id: PathId,
    step_id: StepId,
    name: InputName,
    body: s.InputIn,
    caller: WorkflowWriter,
    services: Services,
) -> s.WorkflowOut:
    """Give an input its value, one of:
    - `{"value": ...}`: a static value of the input's type (an enum member, a 64-bit
      integer, a finite number, true or false, a string; null for an optional input);
    - `{"from": {"step_id", "output"}}`: an output of an upstream step, of a compatible type
      (422 `not_upstream`, `unknown_output`, `type_mismatch`);
    - `{"variable_id": ...}`: a project variable, resolved at deploy time.

    Files are uploaded with `POST .../inputs/{name}/file`."""
    view = await services.workflows.set_input(
        project_id=caller.project_id,
        workflow_id=workflow_id,
        step_id=step_id,
        name=name,
        source=_input(body),
    )
    return workflow_out(view)


@router.delete("/{workflow_id}/steps/{step_id}/inputs/{name}", summary="Unset an input")
async def unset_input(
    workflow_id: PathId,
    step_id: StepId,
    name: InputName,
    caller: WorkflowWriter,
    services: Services,
) -> s.WorkflowOut:
    """Forget the input's value: it takes its default value again, if it has one."""
    view = await services.workflows.unset_input(
        project_id=caller.project_id, workflow_id=workflow_id, step_id=step_id, name=name
    )
    return workflow_out(view)


@router.post(
    "/{workflow_id}/steps/{step_id}/inputs/{name}/file",
    summary="Upload a file input",
    responses=UPLOAD,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file"],
                        "properties": {"file": {"type": "string", "format": "binary"}},
                    }
                }
            },
        }
    },
)
async def upload_input_file(
    workflow_id: PathId,
    step_id: StepId,
    name: InputName,
    request: Request,
    caller: WorkflowWriter,
    services: Services,
) -> s.WorkflowOut:
    """Upload the static value of a `file` input (any file) or a `directory` input (a .zip
    or .tar.gz archive) as the multipart field `file`. The installation caps its size
    (`ORYX_STUDIO_MAX_FILE_BYTES`, 50 MiB by default): 413 or 422 above."""
    if not is_multipart(request):
        raise InvalidValue("send the file as multipart/form-data, field 'file'", field="file")
    _, upload = await form_file(request, max_bytes=services.max_file_bytes)
    if upload is None:
        raise InvalidValue("send the file in the multipart field 'file'", field="file")
    view = await services.workflows.upload_input_file(
        project_id=caller.project_id,
        workflow_id=workflow_id,
        step_id=step_id,
        name=name,
        file_name=upload[0],
        data=upload[1],
    )
    return workflow_out(view)


@router.get("/{workflow_id}/errors", summary="List a workflow's errors")
async def list_errors(
    workflow_id: PathId, caller: WorkflowReader, services: Services
) -> s.ErrorsOut:
    """Every reason the workflow cannot be deployed, each with a stable `code`, a `message`,
    and the `step_id` and `field` concerned (the codes are listed in docs/studio.md)."""
    issues = await services.workflows.errors(project_id=caller.project_id, workflow_id=workflow_id)
    return s.ErrorsOut(valid=not issues, errors=[issue_out(i) for i in issues])


@router.put("/{workflow_id}/results", summary="Set the results")
async def set_results(
    workflow_id: PathId,
    body: Annotated[s.ResultsIn, Body()],
    caller: WorkflowWriter,
    services: Services,
) -> s.WorkflowOut:
    """Which step outputs make up a run's result: `[{key, from: {step_id, output}}, ...]`,
    keys unique (replaces every result)."""
    results = [
        Result(key=r.key, source=StepOutput(step_id=r.from_.step_id, output=r.from_.output))
        for r in body
    ]
    view = await services.workflows.set_results(
        project_id=caller.project_id, workflow_id=workflow_id, results=results
    )
    return workflow_out(view)


@router.put("/{workflow_id}/endpoint", summary="Set the HTTP endpoint", responses=CONFLICT)
async def set_endpoint(
    workflow_id: PathId, body: s.EndpointIn, caller: WorkflowWriter, services: Services
) -> s.WorkflowOut:
    """For a workflow started by the HTTP API trigger: its path (relative to
    `/runner/api/{project_id}/`; `{name}` parts are path parameters), method, success code
    (200 or 201) and how long a request waits for the result (0 to 300 s; 0 answers 202 at
    once). 409 `endpoint_taken` when another workflow of the project has the path;
    409 `no_http_trigger` without that trigger."""
    endpoint = Endpoint.make(
        path=body.path,
        method=body.method,
        success_code=body.success_code,
        timeout_seconds=body.timeout_seconds,
    )
    view = await services.workflows.set_endpoint(
        project_id=caller.project_id, workflow_id=workflow_id, endpoint=endpoint
    )
    return workflow_out(view)


@router.post(
    "/{workflow_id}/deploy", status_code=202, summary="Deploy a workflow", responses=CONFLICT
)
async def deploy(
    workflow_id: PathId, caller: WorkflowDeployer, services: Services
) -> s.WorkflowOut:
    """Send the runner a deploy order with an immutable snapshot of this revision (variables
    resolved into values). The status becomes `deploying`; the runner then reports
    `deployed` or `error`. 409 `workflow_invalid` when the workflow has errors, listed in
    `errors` as `GET .../errors` gives them."""
    view = await services.deployments.deploy(
        project_id=caller.project_id, workflow_id=workflow_id, user_id=caller.user_id
    )
    return workflow_out(view)


@router.post(
    "/{workflow_id}/undeploy", status_code=202, summary="Undeploy a workflow", responses=CONFLICT
)
async def undeploy(
    workflow_id: PathId,
    caller: WorkflowDeployer,
    services: Services,
    body: s.UndeployIn | None = None,
) -> s.WorkflowOut:
    """Ask the runner to stop the workflow's trigger; runs in flight finish, unless
    `cancel_running` is true. 409 `not_deployed` when nothing is deployed."""
    body = body or s.UndeployIn()
    view = await services.deployments.undeploy(
        project_id=caller.project_id,
        workflow_id=workflow_id,
        user_id=caller.user_id,
        cancel_running=body.cancel_running,
    )
    return workflow_out(view)


@router.get(
    "/{workflow_id}/export",
    summary="Export a workflow",
    response_class=Response,
    responses={200: {"content": {YAML: {}, ZIP: {}}}, **CONFLICT},
)
async def export_workflow(
    workflow_id: PathId,
    caller: WorkflowReader,
    services: Services,
    format: Annotated[
        Literal["auto", "yaml", "zip"],
        Query(description="auto: a zip when the workflow has static files, else YAML"),
    ] = "auto",
) -> Response:
    """The workflow as a document (docs/reference/workflow-format.md): YAML, or a zip with
    `workflow.yaml` and the static files under `files/`. Variables are named, never their
    values; static password values are in the document."""
    exported = await services.documents.export(
        project_id=caller.project_id, workflow_id=workflow_id, with_files=format != "yaml"
    )
    has_files = any(True for _ in _file_inputs(exported.document))
    if format == "yaml" and has_files:
        raise Conflict(
            "the workflow has static files: export it with ?format=zip", code="has_files"
        )
    slug = "".join(
        c if (c.isascii() and c.isalnum()) or c in "-_" else "-"
        for c in exported.document["metadata"]["name"]
    )
    slug = slug.strip("-")[:60] or "workflow"
    if format == "zip" or (format == "auto" and has_files):
        content, media_type, extension = write_zip(exported.document, exported.files), ZIP, "zip"
    else:
        content, media_type, extension = dump_yaml(exported.document), YAML, "yaml"
    return Response(
        content=content,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{slug}.{extension}"'},
    )


def _file_inputs(document: dict[str, Any]) -> Any:
    for step in document["spec"]["steps"]:
        for source in step.get("inputs", {}).values():
            if "file" in source:
                yield source["file"]
