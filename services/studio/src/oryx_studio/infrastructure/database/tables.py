"""SQLAlchemy Core tables of the studio service (schema owned by its migrations)."""

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# The library: one row per action (project, name), one per published version. The action row
# repeats what lists filter on from its latest version. Built-in triggers have project_id ''.
actions = Table(
    "actions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("project_id", String(64), nullable=False),
    Column("name", String(255), nullable=False),
    Column("builtin", Boolean, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("human_name", Text, nullable=False),
    Column("description", Text, nullable=False),
    Column("categories", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("project_id", "name", name="uq_actions_project_name"),
)
Index("ix_actions_project_created", actions.c.project_id, actions.c.created_at, actions.c.id)

action_versions = Table(
    "action_versions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("action_id", String(64), ForeignKey("actions.id", ondelete="CASCADE"), nullable=False),
    Column("version", String(255), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("human_name", Text, nullable=False),
    Column("description", Text, nullable=False),
    Column("categories", JSONB, nullable=False),
    Column("type", String(32), nullable=False),
    Column("resources", JSONB, nullable=False),
    Column("inputs", JSONB, nullable=False),
    Column("outputs", JSONB, nullable=False),
    Column("dynamic_outputs", Boolean, nullable=False),
    Column("artifact_ref", Text, nullable=False),
    Column("builtin_trigger", String(32), nullable=False),
    Column("logo", LargeBinary),
    Column("logo_media_type", String(64), nullable=False),
    Column("source_id", String(64), nullable=False),
    Column("repository_action_id", String(64), nullable=False),
    Column("commit_sha", String(64), nullable=False),
    Column("metadata", JSONB, nullable=False),
    Column("published_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("action_id", "version", name="uq_action_versions_action_version"),
)
Index("ix_action_versions_action", action_versions.c.action_id)

# A workflow is one row: its graph is a JSONB document; what other queries need (the
# actions and variables it uses, its endpoint's route) is repeated in columns.
workflows = Table(
    "workflows",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("project_id", String(64), nullable=False),
    Column("name", String(100), nullable=False),
    Column("description", Text, nullable=False),
    Column("revision", BigInteger, nullable=False),
    Column("graph", JSONB, nullable=False),
    Column("endpoint", JSONB),
    Column("endpoint_key", Text),
    Column("action_ids", ARRAY(String(64)), nullable=False),
    Column("variable_ids", ARRAY(String(64)), nullable=False),
    Column("deployment_status", String(16), nullable=False),
    Column("deployment_message", Text, nullable=False),
    Column("deployment_id", String(64)),
    Column("requested_revision", BigInteger),
    Column("deployed_revision", BigInteger),
    Column("deployment_sequence", BigInteger, nullable=False),
    Column("deployment_changed_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
Index(
    "ix_workflows_project_created", workflows.c.project_id, workflows.c.created_at, workflows.c.id
)
Index(
    "uq_workflows_project_endpoint",
    workflows.c.project_id,
    workflows.c.endpoint_key,
    unique=True,
    postgresql_where=workflows.c.endpoint_key.is_not(None),
)

variables = Table(
    "variables",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("project_id", String(64), nullable=False),
    Column("name", String(64), nullable=False),
    Column("type", String(16), nullable=False),
    Column("description", Text, nullable=False),
    Column("value", Text),  # string variables
    Column("secret_encrypted", LargeBinary),  # password variables: Fernet token, never returned
    Column("file", JSONB),  # file variables: {key, name, size_bytes, directory}
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("project_id", "name", name="uq_variables_project_name"),
)
Index(
    "ix_variables_project_created", variables.c.project_id, variables.c.created_at, variables.c.id
)

# Transactional outbox (see the authorization service for the why).
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
