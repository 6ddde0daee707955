"""The composition root: the only place where adapters are chosen and wired."""

from dependency_injector import containers, providers

from oryx_studio.application.deployments import DeploymentReports, Deployments
from oryx_studio.application.documents import Documents
from oryx_studio.application.library import Library
from oryx_studio.application.projects import Projects
from oryx_studio.application.variables import Variables
from oryx_studio.application.workflows import Workflows
from oryx_studio.infrastructure.api.deps import UseCases
from oryx_studio.infrastructure.authorization.client import HttpAuthorizer
from oryx_studio.infrastructure.database.engine import create_engine, session_factory
from oryx_studio.infrastructure.database.uow import SqlAlchemyUnitOfWork
from oryx_studio.infrastructure.filestore.local import LocalFolderFilestore
from oryx_studio.infrastructure.filestore.s3 import S3Filestore
from oryx_studio.infrastructure.messaging.inprocess import InProcessBroker
from oryx_studio.infrastructure.messaging.rabbitmq import RabbitMqBroker
from oryx_studio.infrastructure.messaging.relay import OutboxRelay
from oryx_studio.infrastructure.messaging.routing import serialize
from oryx_studio.infrastructure.security.clock import SystemClock, Uuid7Generator
from oryx_studio.infrastructure.security.secrets import FernetSecretBox


class Container(containers.DeclarativeContainer):
    """Gateways first, then use cases. ``config`` holds resolved settings (see service.py)."""

    config = providers.Configuration()

    # gateways ---------------------------------------------------------------------------
    clock = providers.Singleton(SystemClock)
    ids = providers.Singleton(Uuid7Generator)
    box = providers.Singleton(FernetSecretBox, config.secret_key)
    engine = providers.Singleton(create_engine, config.database_url)
    sessions = providers.Singleton(session_factory, engine)
    broker = providers.Selector(
        config.broker,
        rabbitmq=providers.Singleton(
            RabbitMqBroker, config.broker_url, connection_name="oryx-studio"
        ),
        inprocess=providers.Singleton(InProcessBroker),
    )
    relay = providers.Singleton(
        OutboxRelay, sessions, broker, poll_seconds=config.outbox_poll_seconds
    )
    filestore = providers.Selector(
        config.filestore,
        s3=providers.Singleton(
            S3Filestore,
            config.s3_endpoint,
            config.s3_access_key,
            config.s3_secret_key,
            config.s3_bucket,
            secure=config.s3_secure,
            region=config.s3_region,
        ),
        local=providers.Singleton(
            LocalFolderFilestore,
            config.filestore_dir,
            signing_key=config.signing_key,
        ),
    )
    authorizer = providers.Singleton(HttpAuthorizer, config.authorization_url)
    uow = providers.Factory(
        SqlAlchemyUnitOfWork,
        sessions,
        box=box,
        exchange=config.exchange,
        serialize=serialize,
        ids=ids,
        clock=clock,
        notifier=relay,
    )

    # use cases --------------------------------------------------------------------------
    library = providers.Singleton(Library, uow=uow.provider, clock=clock, ids=ids)
    workflows = providers.Singleton(
        Workflows,
        uow=uow.provider,
        filestore=filestore,
        clock=clock,
        ids=ids,
        max_file_bytes=config.max_file_bytes,
    )
    documents = providers.Singleton(
        Documents,
        uow=uow.provider,
        filestore=filestore,
        clock=clock,
        ids=ids,
        max_file_bytes=config.max_file_bytes,
    )
    deployments = providers.Singleton(Deployments, uow=uow.provider, clock=clock, ids=ids)
    variables = providers.Singleton(
        Variables,
        uow=uow.provider,
        filestore=filestore,
        clock=clock,
        ids=ids,
        max_file_bytes=config.max_file_bytes,
    )
    reports = providers.Singleton(DeploymentReports)
    projects = providers.Singleton(Projects, filestore=filestore)
    use_cases = providers.Singleton(
        UseCases,
        library=library,
        workflows=workflows,
        documents=documents,
        deployments=deployments,
        variables=variables,
        authorizer=authorizer,
        max_file_bytes=config.max_file_bytes,
    )
