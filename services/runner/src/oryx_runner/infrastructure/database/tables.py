"""SQLAlchemy Core tables of the runner (schema owned by its migrations)."""

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# One row per deploy order: the immutable snapshot runs pin.
deployments = Table(
    "deployments",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("workflow_id", String(64), nullable=False),
    Column("project_id", String(64), nullable=False),
    Column("revision", BigInteger, nullable=False),
    Column("snapshot", JSONB, nullable=False),
    Column("requested_by", String(64), nullable=False, server_default=""),
    Column("requested_at", DateTime(timezone=True), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
)
Index("ix_deployments_workflow", deployments.c.workflow_id, deployments.c.received_at)
Index("ix_deployments_project", deployments.c.project_id)

# Where each workflow's deployment stands on this runner.
workflow_deployments = Table(
    "workflow_deployments",
    metadata,
    Column("workflow_id", String(64), primary_key=True),
    Column("project_id", String(64), nullable=False),
    Column("deployment_id", String(64), ForeignKey("deployments.id"), nullable=False),
    Column("revision", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("message", Text, nullable=False, server_default=""),
    Column("sequence", BigInteger, nullable=False),
    Column("cancel_running", Boolean, nullable=False, server_default="false"),
    Column("requested_at", DateTime(timezone=True), nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False),
)
Index(
    "ix_workflow_deployments_project",
    workflow_deployments.c.project_id,
    workflow_deployments.c.changed_at,
    workflow_deployments.c.workflow_id,
)
Index(
    "ix_workflow_deployments_pending",
    workflow_deployments.c.changed_at,
    postgresql_where=text("status IN ('deploying', 'undeploying')"),
)

runs = Table(
    "runs",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("project_id", String(64), nullable=False),
    Column("workflow_id", String(64), nullable=False),
    Column("deployment_id", String(64), ForeignKey("deployments.id"), nullable=False),
    Column("trigger", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("submitted_at", DateTime(timezone=True), nullable=False),
    Column("started_at", DateTime(timezone=True)),
    Column("ended_at", DateTime(timezone=True)),
    Column("error", JSONB),
    Column("result", JSONB),
    Column("requested_by", String(64), nullable=False, server_default=""),
    Column("version", Integer, nullable=False, server_default="0"),
)
Index("ix_runs_project_submitted", runs.c.project_id, runs.c.submitted_at, runs.c.id)
Index("ix_runs_workflow_submitted", runs.c.workflow_id, runs.c.submitted_at, runs.c.id)
Index("ix_runs_running", runs.c.workflow_id, postgresql_where=text("status = 'running'"))

step_runs = Table(
    "step_runs",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("run_id", String(36), ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("step_id", String(64), nullable=False),
    Column("branch_key", String(64), nullable=False),
    Column("context", JSONB, nullable=False),
    Column("status", String(16), nullable=False),
    Column("inputs", JSONB, nullable=False),
    Column("outputs", JSONB),
    Column("error", JSONB),
    Column("attempt", Integer, nullable=False, server_default="0"),
    Column("submitted_at", DateTime(timezone=True), nullable=False),
    Column("started_at", DateTime(timezone=True)),
    Column("ended_at", DateTime(timezone=True)),
    Column("not_before", DateTime(timezone=True)),
    Column("claimed_by", String(36)),
    Column("version", Integer, nullable=False, server_default="0"),
    UniqueConstraint("run_id", "step_id", "branch_key", name="uq_step_runs_branch"),
)
Index("ix_step_runs_run", step_runs.c.run_id, step_runs.c.status)
# The queue: only ready rows are in this index, oldest due first.
Index(
    "ix_step_runs_ready",
    step_runs.c.not_before,
    postgresql_where=text("status = 'ready'"),
)
Index(
    "ix_step_runs_running",
    step_runs.c.claimed_by,
    postgresql_where=text("status = 'running'"),
)

# The append-only log of every change of a run and its step runs.
run_events = Table(
    "run_events",
    metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("run_id", String(36), ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("step_run_id", String(36)),
    Column("type", String(32), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("data", JSONB, nullable=False),
)
Index("ix_run_events_run", run_events.c.run_id, run_events.c.id)

step_logs = Table(
    "step_logs",
    metadata,
    Column(
        "step_run_id",
        String(36),
        ForeignKey("step_runs.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("attempt", Integer, primary_key=True),
    Column("lines", JSONB, nullable=False),
    Column("truncated", Boolean, nullable=False, server_default="false"),
)

files = Table(
    "files",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("project_id", String(64), nullable=False),
    Column("run_id", String(36), ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("step_run_id", String(36)),
    Column("key", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False, server_default=""),
    Column("directory", Boolean, nullable=False, server_default="false"),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
Index("ix_files_run", files.c.run_id)

# One row per fire of a timing trigger, keyed by its scheduled time: a fire happens once.
trigger_fires = Table(
    "trigger_fires",
    metadata,
    Column(
        "deployment_id",
        String(64),
        ForeignKey("deployments.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("fire_key", String(64), primary_key=True),
    Column("workflow_id", String(64), nullable=False),
    Column("run_id", String(36), nullable=False),
    Column("scheduled_at", DateTime(timezone=True), nullable=False),
    Column("fired_at", DateTime(timezone=True), nullable=False),
)
Index("ix_trigger_fires_workflow", trigger_fires.c.workflow_id, trigger_fires.c.scheduled_at)

# Per-project keys of the user APIs (HTTP trigger); only their SHA-256 is kept.
api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("project_id", String(64), nullable=False),
    Column("name", String(255), nullable=False),
    Column("prefix", String(16), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("created_by", String(64), nullable=False, server_default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_used_at", DateTime(timezone=True)),
)
Index("ix_api_keys_project", api_keys.c.project_id, api_keys.c.created_at, api_keys.c.id)

api_settings = Table(
    "api_settings",
    metadata,
    Column("project_id", String(64), primary_key=True),
    Column("require_api_key", Boolean, nullable=False, server_default="false"),
    Column("changed_at", DateTime(timezone=True), nullable=False),
)

# Runner processes; a live one holds the advisory lock (namespace, lock_key) on its session.
runner_instances = Table(
    "runner_instances",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("lock_key", Integer, nullable=False, unique=True),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
)

# Transactional outbox (see docs/architecture.md).
outbox = Table(
    "outbox",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("exchange", String(255), nullable=False),
    Column("routing_key", String(255), nullable=False),
    Column("message_type", String(255), nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("published_at", DateTime(timezone=True)),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("last_error", Text),
)
Index(
    "ix_outbox_unpublished",
    outbox.c.created_at,
    postgresql_where=outbox.c.published_at.is_(None),
)

inbox = Table(
    "inbox",
    metadata,
    Column("consumer", String(255), primary_key=True),
    Column("message_id", String(255), primary_key=True),
    Column("processed_at", DateTime(timezone=True), nullable=False),
)
