"""The composition root: the only place where adapters are chosen and wired."""

from dependency_injector import containers, providers

from oryx_action_builder.application.builds import CancelBuild, RunBuild, Workshop
from oryx_action_builder.infrastructure.builders.image import ImageContextBuilder
from oryx_action_builder.infrastructure.builders.local import LocalVenvBuilder
from oryx_action_builder.infrastructure.builders.wrapper import WrapperSource
from oryx_action_builder.infrastructure.clock import SystemClock
from oryx_action_builder.infrastructure.filestore import s3
from oryx_action_builder.infrastructure.filestore.local import LocalFolderSourceStore
from oryx_action_builder.infrastructure.messaging.inprocess import InProcessBroker
from oryx_action_builder.infrastructure.messaging.publisher import BrokerEventPublisher
from oryx_action_builder.infrastructure.messaging.rabbitmq import RabbitMqBroker


class Container(containers.DeclarativeContainer):
    """Gateways (outside systems) first, then use cases.

    ``config`` holds the resolved settings (``service.container_config``): ``broker``
    (``rabbitmq`` or ``inprocess``), ``broker_url``, ``exchange``, ``builder`` (``local`` or
    ``image``), ``artifacts_dir``, ``python``, ``pip_python``, ``pip_timeout``,
    ``pip_network_timeout``, ``pip_index_url``, ``wrapper_path``, ``wrapper_requirement``,
    ``base_image``, ``log_tail_lines``, ``max_source_bytes``, ``filestore`` (``s3`` or
    ``local``), ``filestore_dir`` and the ``s3_*`` settings.
    Tests override single providers (``container.broker.override(...)``).
    """

    config = providers.Configuration()

    # gateways ---------------------------------------------------------------------------
    clock = providers.Singleton(SystemClock)
    broker = providers.Selector(
        config.broker,
        rabbitmq=providers.Singleton(
            RabbitMqBroker, config.broker_url, connection_name="oryx-action-builder"
        ),
        inprocess=providers.Singleton(InProcessBroker),
    )
    publisher = providers.Singleton(BrokerEventPublisher, broker, exchange=config.exchange)
    sources = providers.Selector(
        config.filestore,
        s3=providers.Singleton(
            s3.MinioSourceStore,
            providers.Singleton(
                s3.client,
                endpoint=config.s3_endpoint,
                access_key=config.s3_access_key,
                secret_key=config.s3_secret_key,
                region=config.s3_region,
                secure=config.s3_secure,
            ),
            bucket=config.s3_bucket,
            max_bytes=config.max_source_bytes,
        ),
        local=providers.Singleton(
            LocalFolderSourceStore, config.filestore_dir, max_bytes=config.max_source_bytes
        ),
    )
    wrapper = providers.Singleton(
        WrapperSource,
        path=config.wrapper_path,
        requirement=config.wrapper_requirement,
        cache_dir=config.wrapper_cache_dir,
        pip_python=config.pip_python,
    )
    builder = providers.Selector(
        config.builder,
        local=providers.Singleton(
            LocalVenvBuilder,
            artifacts_dir=config.artifacts_dir,
            wrapper=wrapper,
            python=config.python,
            pip_python=config.pip_python,
            pip_timeout=config.pip_timeout,
            pip_network_timeout=config.pip_network_timeout,
            pip_index_url=config.pip_index_url,
            log_tail_lines=config.log_tail_lines,
            max_source_bytes=config.max_source_bytes,
        ),
        image=providers.Singleton(
            ImageContextBuilder,
            artifacts_dir=config.artifacts_dir,
            wrapper=wrapper,
            base_image=config.base_image,
            max_source_bytes=config.max_source_bytes,
        ),
    )

    # use cases --------------------------------------------------------------------------
    workshop = providers.Singleton(Workshop)
    run_build = providers.Singleton(
        RunBuild,
        workshop=workshop,
        builder=builder,
        sources=sources,
        publisher=publisher,
        clock=clock,
    )
    cancel_build = providers.Singleton(CancelBuild, workshop=workshop, clock=clock)
