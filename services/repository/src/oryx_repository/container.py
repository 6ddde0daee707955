"""The composition root: the only place where adapters are chosen and wired."""

from dependency_injector import containers, providers

from oryx_repository.application.builds import BuildReports, Builds
from oryx_repository.application.scans import Scans
from oryx_repository.application.sources import Sources
from oryx_repository.application.url_rules import UrlRules
from oryx_repository.infrastructure.api.deps import UseCases
from oryx_repository.infrastructure.authorization.client import HttpAuthorizer
from oryx_repository.infrastructure.database.engine import create_engine, session_factory
from oryx_repository.infrastructure.database.uow import SqlAlchemyUnitOfWork
from oryx_repository.infrastructure.filestore.local import LocalFolderFilestore
from oryx_repository.infrastructure.filestore.s3 import S3Filestore
from oryx_repository.infrastructure.messaging.inprocess import InProcessBroker
from oryx_repository.infrastructure.messaging.rabbitmq import RabbitMqBroker
from oryx_repository.infrastructure.messaging.relay import OutboxRelay
from oryx_repository.infrastructure.messaging.routing import serialize
from oryx_repository.infrastructure.reader import GitRepositoryReader
from oryx_repository.infrastructure.security.clock import SystemClock, Uuid7Generator
from oryx_repository.infrastructure.security.secrets import FernetSecretBox


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
            RabbitMqBroker, config.broker_url, connection_name="oryx-repository"
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
            public_base_url=config.public_url,
            signing_key=config.signing_key,
        ),
    )
    authorizer = providers.Singleton(HttpAuthorizer, config.authorization_url)
    urls = providers.Singleton(UrlRules, allow_file_urls=config.allow_file_urls)
    reader = providers.Singleton(
        GitRepositoryReader,
        timeout_seconds=config.clone_timeout_seconds,
        max_repository_bytes=config.max_repository_bytes,
        max_file_bytes=config.max_file_bytes,
        allow_file_urls=config.allow_file_urls,
    )
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
    sources = providers.Singleton(Sources, uow=uow.provider, urls=urls, clock=clock, ids=ids)
    scans = providers.Singleton(
        Scans,
        uow=uow.provider,
        reader=reader,
        filestore=filestore,
        urls=urls,
        clock=clock,
        ids=ids,
    )
    builds = providers.Singleton(Builds, uow=uow.provider, clock=clock, ids=ids)
    reports = providers.Singleton(BuildReports, clock=clock)
    use_cases = providers.Singleton(
        UseCases, sources=sources, scans=scans, builds=builds, authorizer=authorizer
    )
