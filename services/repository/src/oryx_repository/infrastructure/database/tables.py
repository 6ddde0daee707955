"""SQLAlchemy Core tables of the repository service (schema owned by its migrations)."""

from sqlalchemy import (
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
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

sources = Table(
    "sources",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("project_id", String(64), nullable=False),
    Column("name", String(100), nullable=False),
    Column("url", Text, nullable=False),
    Column("branch", String(255), nullable=False),
    Column("username", String(255)),
    Column("secret_encrypted", LargeBinary),  # Fernet token; never returned, never logged
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("scan_status", String(16), nullable=False, server_default="never"),
    Column("scan_ref", String(255)),
    Column("scan_commit_sha", String(64)),
    Column("scan_at", DateTime(timezone=True)),
    Column("scan_error", Text),
    Column("scan_action_count", Integer, nullable=False, server_default="0"),
    Column("scan_error_count", Integer, nullable=False, server_default="0"),
)
Index("ix_sources_project_created", sources.c.project_id, sources.c.created_at, sources.c.id)

actions = Table(
    "actions",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("project_id", String(64), nullable=False),
    Column("source_id", String(36), ForeignKey("sources.id", ondelete="CASCADE"), nullable=False),
    Column("path", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("commit_sha", String(64), nullable=False),
    Column("name", String(255), nullable=False),
    Column("version", String(255), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("document", JSONB, nullable=False),
    Column("errors", JSONB, nullable=False),
    Column("archive_key", Text),
    Column("archive_sha256", String(64)),
    Column("logo", LargeBinary),
    Column("logo_media_type", String(32), nullable=False, server_default=""),
    Column("python_version", String(16), nullable=False, server_default=""),
    Column("system_dependencies", JSONB, nullable=False),
    Column("build_id", String(36)),
    Column("build_log_tail", Text, nullable=False, server_default=""),
    Column("build_error", Text),
    Column("artifact_ref", Text),
    Column("built_archive_sha256", String(64)),
    Column("lock", Text, nullable=False, server_default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("source_id", "path", name="uq_actions_source_path"),
)
Index("ix_actions_project_created", actions.c.project_id, actions.c.created_at, actions.c.id)

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
