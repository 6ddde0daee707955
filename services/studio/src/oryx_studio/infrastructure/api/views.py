"""Domain objects as the API shows them."""

from oryx_studio.application.workflows import WorkflowView
from oryx_studio.domain.graph import StaticInput, StepOutput, VariableInput
from oryx_studio.domain.library import Action, ActionVersion, version_key
from oryx_studio.domain.types import FileValue, IoSpec, IoType
from oryx_studio.domain.variables import Variable, VariableType
from oryx_studio.domain.workflows import Issue, Removed, Step, Workflow
from oryx_studio.infrastructure.api import schemas as s


def io_out(spec: IoSpec) -> s.IoOut:
    return s.IoOut(
        name=spec.name,
        type=spec.type,
        human_name=spec.human_name or spec.name,
        help=spec.help,
        optional=spec.optional,
        enum_values=list(spec.enum_values),
        default_value=spec.default if spec.type is not IoType.PASSWORD else None,
        has_default=spec.has_default,
        origin=spec.origin,
    )


def file_out(file: FileValue) -> s.FileOut:
    return s.FileOut(name=file.name, size_bytes=file.size_bytes, directory=file.directory)


def version_out(v: ActionVersion) -> s.ActionVersionOut:
    return s.ActionVersionOut(
        id=v.id,
        action_id=v.action_id,
        name=v.name,
        version=v.version,
        kind=v.kind,
        human_name=v.human_name,
        description=v.description,
        categories=list(v.categories),
        type=v.type,
        builtin_trigger=v.builtin_trigger,
        resources=s.ResourcesOut(
            cpu=v.resources.cpu,
            memory_bytes=v.resources.memory_bytes,
            time_seconds=v.resources.time_seconds,
            gpu=v.resources.gpu,
        ),
        inputs=[io_out(i) for i in v.inputs],
        outputs=[io_out(o) for o in v.outputs],
        dynamic_outputs=v.dynamic_outputs,
        artifact_ref=v.artifact_ref,
        has_logo=bool(v.logo),
        source_id=v.source_id,
        commit_sha=v.commit_sha,
        published_at=v.published_at,
    )


def versions_out(action: Action) -> list[s.ActionVersionOut]:
    """Highest version first."""
    ordered = sorted(
        action.versions, key=lambda v: (version_key(v.version), v.published_at), reverse=True
    )
    return [version_out(v) for v in ordered]


def action_out(action: Action) -> s.ActionOut:
    latest = action.latest
    return s.ActionOut(
        id=action.id,
        name=action.name,
        builtin=action.builtin,
        kind=latest.kind,
        human_name=latest.human_name,
        description=latest.description,
        categories=list(latest.categories),
        has_logo=bool(latest.logo),
        version_count=len(action.versions),
        latest=version_out(latest),
        created_at=action.created_at,
        updated_at=action.updated_at,
    )


def issue_out(issue: Issue) -> s.IssueOut:
    return s.IssueOut(
        code=issue.code, message=issue.message, step_id=issue.step_id, field=issue.field
    )


def deployment_out(workflow: Workflow) -> s.DeploymentOut:
    d = workflow.deployment
    return s.DeploymentOut(
        status=d.status,
        message=d.message,
        deployment_id=d.deployment_id,
        requested_revision=d.requested_revision,
        deployed_revision=d.deployed_revision,
        differs_from_deployed=workflow.differs_from_deployed,
        changed_at=d.changed_at,
    )


def summary_out(workflow: Workflow) -> s.WorkflowSummaryOut:
    trigger = workflow.trigger
    return s.WorkflowSummaryOut(
        id=workflow.id,
        project_id=workflow.project_id,
        name=workflow.name,
        description=workflow.description,
        revision=workflow.revision,
        step_count=len(workflow.steps),
        trigger=trigger.action.name if trigger else None,
        deployment=deployment_out(workflow),
        created_at=workflow.created_at,
        updated_at=workflow.updated_at,
    )


def _input_out(step: Step, name: str, spec: IoSpec | None, view: WorkflowView) -> s.StepInputOut:
    source = step.inputs.get(name)
    out = s.StepInputOut(
        name=name,
        declared=spec is not None,
        type=spec.type if spec else None,
        human_name=(spec.human_name or name) if spec else name,
        help=spec.help if spec else "",
        optional=spec.optional if spec else False,
        enum_values=list(spec.enum_values) if spec else [],
        default_value=spec.default if spec and spec.type is not IoType.PASSWORD else None,
        has_default=spec.has_default if spec else False,
        source=None,
        value_is_set=source is not None,
    )
    if isinstance(source, StepOutput):
        out.source = "step_output"
        out.from_ = s.OutputRefOut(step_id=source.step_id, output=source.output)
    elif isinstance(source, VariableInput):
        out.source = "variable"
        out.variable_id = source.variable_id
        variable = view.variables.get(source.variable_id)
        out.variable_name = variable.name if variable else None
    elif isinstance(source, StaticInput):
        if isinstance(source.value, FileValue):
            out.source = "file"
            out.file = file_out(source.value)
        else:
            out.source = "value"
            hidden = spec is not None and spec.type is IoType.PASSWORD
            out.value = None if hidden else source.value
    return out


def step_out(step: Step, view: WorkflowView) -> s.StepOut:
    version = view.catalog.get(step.action.version_id)
    declared = [i.name for i in version.inputs] if version else []
    names = declared + [n for n in step.inputs if n not in declared]
    return s.StepOut(
        id=step.id,
        name=step.name,
        action_id=step.action.action_id,
        action_version_id=step.action.version_id,
        action_name=step.action.name,
        action_version=step.action.version,
        kind=version.kind if version else step.action.kind,
        builtin_trigger=step.action.builtin_trigger,
        in_library=version is not None,
        position=s.PositionOut(x=step.position.x, y=step.position.y) if step.position else None,
        parent_step_ids=view.workflow.parents(step.id),
        inputs=[_input_out(step, n, version.input(n) if version else None, view) for n in names],
        outputs=[io_out(o) for o in view.workflow.outputs_of(step, view.catalog)],
        dynamic_outputs=[io_out(o) for o in step.dynamic_outputs],
    )


def removed_out(removed: Removed) -> s.RemovedOut | None:
    if removed == Removed():
        return None
    return s.RemovedOut(
        links=[
            s.LinkOut(from_step_id=k.from_step_id, to_step_id=k.to_step_id) for k in removed.links
        ],
        inputs=[
            s.RemovedInputOut(step_id=i.step_id, input=i.input, reason=i.reason)
            for i in removed.inputs
        ],
        results=list(removed.results),
        dynamic_outputs=list(removed.dynamic_outputs),
        endpoint=removed.endpoint,
    )


def workflow_out(view: WorkflowView) -> s.WorkflowOut:
    w = view.workflow
    e = w.endpoint
    return s.WorkflowOut(
        **summary_out(w).model_dump(),
        steps=[step_out(step, view) for step in w.steps],
        links=[s.LinkOut(from_step_id=k.from_step_id, to_step_id=k.to_step_id) for k in w.links],
        results=[
            s.ResultOut(
                key=r.key,
                from_=s.OutputRefOut(step_id=r.source.step_id, output=r.source.output),
            )
            for r in w.results
        ],
        endpoint=s.EndpointOut(
            path=e.path,
            method=e.method.value,
            success_code=e.success_code,
            timeout_seconds=e.timeout_seconds,
        )
        if e
        else None,
        valid=not view.issues,
        errors=[issue_out(i) for i in view.issues],
        removed=removed_out(view.removed),
        step_id=view.step_id,
    )


def variable_out(variable: Variable) -> s.VariableOut:
    return s.VariableOut(
        id=variable.id,
        project_id=variable.project_id,
        name=variable.name,
        type=variable.type,
        description=variable.description,
        value=variable.value if variable.type is VariableType.STRING else None,
        value_is_set=variable.value is not None or variable.file is not None,
        file=file_out(variable.file) if variable.file else None,
        created_at=variable.created_at,
        updated_at=variable.updated_at,
    )
