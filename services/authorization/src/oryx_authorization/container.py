"""The composition root: the only place where adapters are chosen and wired."""

from dependency_injector import containers, providers

from oryx_authorization.application.authentication import Authentication
from oryx_authorization.application.projects import Projects
from oryx_authorization.application.tokens import PersonalTokens
from oryx_authorization.application.users import Users
from oryx_authorization.infrastructure.api.deps import UseCases
from oryx_authorization.infrastructure.database.engine import create_engine, session_factory
from oryx_authorization.infrastructure.database.uow import SqlAlchemyUnitOfWork
from oryx_authorization.infrastructure.messaging.inprocess import InProcessBroker
from oryx_authorization.infrastructure.messaging.rabbitmq import RabbitMqBroker
from oryx_authorization.infrastructure.messaging.relay import OutboxRelay
from oryx_authorization.infrastructure.messaging.routing import serialize
from oryx_authorization.infrastructure.security.clock import SystemClock, Uuid7Generator
from oryx_authorization.infrastructure.security.passwords import Argon2PasswordHasher
from oryx_authorization.infrastructure.security.tokens import SecretsTokenGenerator


class Container(containers.DeclarativeContainer):
    """Gateways (outside systems) first, then use cases.

    ``config`` holds the resolved settings: ``database_url`` (always set, the embedded
    server's URL in the embedded mode), ``broker`` (``rabbitmq`` or ``inprocess``),
    ``broker_url``, ``exchange``, ``outbox_poll_seconds``, ``login_token_lifetime``.
    Tests override single providers (``container.broker.override(...)``).
    """

    config = providers.Configuration()

    # gateways ---------------------------------------------------------------------------
    clock = providers.Singleton(SystemClock)
    ids = providers.Singleton(Uuid7Generator)
    hasher = providers.Singleton(Argon2PasswordHasher)
    token_generator = providers.Singleton(SecretsTokenGenerator)
    engine = providers.Singleton(create_engine, config.database_url)
    sessions = providers.Singleton(session_factory, engine)
    broker = providers.Selector(
        config.broker,
        rabbitmq=providers.Singleton(RabbitMqBroker, config.broker_url),
        inprocess=providers.Singleton(InProcessBroker),
    )
    relay = providers.Singleton(
        OutboxRelay, sessions, broker, poll_seconds=config.outbox_poll_seconds
    )
    uow = providers.Factory(
        SqlAlchemyUnitOfWork,
        sessions,
        exchange=config.exchange,
        serialize=serialize,
        ids=ids,
        clock=clock,
        notifier=relay,
    )

    # use cases --------------------------------------------------------------------------
    authentication = providers.Singleton(
        Authentication,
        uow=uow.provider,
        hasher=hasher,
        tokens=token_generator,
        clock=clock,
        ids=ids,
        login_token_lifetime=config.login_token_lifetime,
    )
    users = providers.Singleton(Users, uow=uow.provider, hasher=hasher, clock=clock, ids=ids)
    projects = providers.Singleton(Projects, uow=uow.provider, clock=clock, ids=ids)
    tokens = providers.Singleton(
        PersonalTokens, uow=uow.provider, tokens=token_generator, clock=clock, ids=ids
    )
    use_cases = providers.Singleton(
        UseCases, authentication=authentication, users=users, projects=projects, tokens=tokens
    )
