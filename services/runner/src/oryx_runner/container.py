"""The composition root: the only place where adapters are chosen and wired."""

from dependency_injector import containers, providers

from oryx_runner.application.api_keys import ApiAccess, ApiKeys
from oryx_runner.application.deployments import Deployments, DeployOrders
from oryx_runner.application.engine import Engine, EngineSettings, Recovery
from oryx_runner.application.http_api import HttpApi
from oryx_runner.application.runs import DeploymentCache, Runs
from oryx_runner.application.triggers_firing import TriggerRuns
from oryx_runner.application.triggers_sources import SourceDriver, SourceSettings
from oryx_runner.application.triggers_supervisor import TriggerSupervisor
from oryx_runner.application.triggers_timing import TimingDriver
from oryx_runner.infrastructure.api.deps import UseCases
from oryx_runner.infrastructure.authorization.client import HttpAuthorizer
from oryx_runner.infrastructure.database.engine import create_engine, session_factory
from oryx_runner.infrastructure.database.presence import PostgresPresence
from oryx_runner.infrastructure.database.uow import SqlAlchemyUnitOfWork
from oryx_runner.infrastructure.filestore.local import LocalFolderFilestore
from oryx_runner.infrastructure.filestore.s3 import S3Filestore
from oryx_runner.infrastructure.messaging.inprocess import InProcessBroker
from oryx_runner.infrastructure.messaging.rabbitmq import RabbitMqBroker
from oryx_runner.infrastructure.messaging.relay import OutboxRelay
from oryx_runner.infrastructure.messaging.routing import serialize
from oryx_runner.infrastructure.security.clock import SystemClock, Uuid7Generator
from oryx_runner.infrastructure.signals import LocalSignals
from oryx_runner.infrastructure.sites.local import LocalSite, LocalSiteSettings
from oryx_runner.infrastructure.triggers.cron import CroniterSchedules
from oryx_runner.infrastructure.triggers.deployed import SqlAlchemyDeployedTriggers
from oryx_runner.infrastructure.triggers.leases import PostgresSourceLeases
from oryx_runner.infrastructure.triggers.timer import AsyncioTimer


class Container(containers.DeclarativeContainer):
    """Gateways first, then use cases. ``config`` holds resolved settings (see service.py)."""

    config = providers.Configuration()

    # gateways ---------------------------------------------------------------------------
    clock = providers.Singleton(SystemClock)
    ids = providers.Singleton(Uuid7Generator)
    engine = providers.Singleton(
        create_engine,
        config.database_url,
        pool_size=config.database_pool_size,
        origin=config.runner_id,
    )
    sessions = providers.Singleton(session_factory, engine)
    signals = providers.Singleton(LocalSignals)
    broker = providers.Selector(
        config.broker,
        rabbitmq=providers.Singleton(
            RabbitMqBroker, config.broker_url, connection_name="oryx-runner"
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
            public_base_url=config.filestore_url,
            signing_key=config.signing_key,
        ),
    )
    authorizer = providers.Singleton(HttpAuthorizer, config.authorization_url)
    site_settings = providers.Singleton(
        LocalSiteSettings,
        artifacts_dir=config.artifacts_dir,
        state_dir=config.site_state_dir,
        max_replicas=config.local_max_replicas,
        max_versions=config.local_max_versions,
        idle_seconds=config.local_idle_seconds,
        scale_down_seconds=config.local_scale_down_seconds,
        startup_timeout=config.local_startup_timeout_seconds,
        orphan_grace_seconds=config.local_orphan_grace_seconds,
        workers=config.local_workers,
        memory_limits=config.local_memory_limits,
        memory_headroom_bytes=config.local_memory_headroom_bytes,
        timeout_margin_seconds=config.local_timeout_margin_seconds,
    )
    site = providers.Singleton(LocalSite, site_settings)
    presence = providers.Singleton(
        PostgresPresence,
        config.database_url,
        sessions,
        runner_id=config.runner_id,
        signals=signals,
    )
    timer = providers.Singleton(AsyncioTimer)
    cron_schedules = providers.Singleton(CroniterSchedules)
    source_leases = providers.Singleton(PostgresSourceLeases, config.database_url)
    deployed_triggers = providers.Singleton(SqlAlchemyDeployedTriggers, sessions)
    uow = providers.Factory(
        SqlAlchemyUnitOfWork,
        sessions,
        exchange=config.exchange,
        serialize=serialize,
        ids=ids,
        clock=clock,
        signals=signals,
        on_outbox=relay.provided.notify,
    )

    # use cases --------------------------------------------------------------------------
    deployment_cache = providers.Singleton(DeploymentCache, uow=uow.provider)
    trigger_runs = providers.Singleton(TriggerRuns, uow=uow.provider, clock=clock, ids=ids)
    timing_driver = providers.Singleton(TimingDriver, cron=cron_schedules, clock=clock, timer=timer)
    source_driver = providers.Singleton(
        SourceDriver,
        site=site,
        leases=source_leases,
        filestore=filestore,
        runs=trigger_runs,
        clock=clock,
        timer=timer,
        ids=ids,
        settings=providers.Singleton(
            SourceSettings,
            restart_base_seconds=config.source_restart_base_seconds,
            restart_max_seconds=config.source_restart_max_seconds,
            healthy_seconds=config.source_healthy_seconds,
            standby_seconds=config.source_standby_seconds,
        ),
    )
    trigger_drivers = providers.Dict(
        {"cron": timing_driver, "emit-every": timing_driver, "source": source_driver}
    )
    trigger_supervisor = providers.Singleton(
        TriggerSupervisor,
        deployed=deployed_triggers,
        deployments=deployment_cache,
        drivers=trigger_drivers,
        runs=trigger_runs,
    )
    deployments = providers.Singleton(
        Deployments, uow=uow.provider, site=site, clock=clock, ids=ids, drivers=trigger_drivers
    )
    orders = providers.Singleton(DeployOrders, clock=clock)
    engine_settings = providers.Singleton(
        EngineSettings,
        runner_id=config.runner_id,
        max_concurrent_steps=config.max_concurrent_steps,
        poll_seconds=config.poll_seconds,
        retry_base_seconds=config.retry_base_seconds,
        retry_max_seconds=config.retry_max_seconds,
        max_attempts=config.max_attempts,
        shutdown_grace_seconds=config.shutdown_grace_seconds,
    )
    executor = providers.Singleton(
        Engine,
        uow=uow.provider,
        site=site,
        filestore=filestore,
        deployments=deployment_cache,
        clock=clock,
        ids=ids,
        settings=engine_settings,
        keep_timings=config.keep_timings,
    )
    runs = providers.Singleton(
        Runs,
        uow=uow.provider,
        deployments=deployment_cache,
        filestore=filestore,
        clock=clock,
        ids=ids,
        dispatcher=executor,
    )
    recovery = providers.Singleton(
        Recovery,
        uow=uow.provider,
        liveness=presence,
        clock=clock,
        runner_id=config.runner_id,
        grace_seconds=config.recovery_grace_seconds,
    )
    access = providers.Singleton(ApiAccess, uow=uow.provider, clock=clock)
    api_keys = providers.Singleton(
        ApiKeys, uow=uow.provider, clock=clock, ids=ids, on_change=access.provided.forget
    )
    http_api = providers.Singleton(
        HttpApi,
        uow=uow.provider,
        deployments=deployment_cache,
        runs=runs,
        ends=signals,
        ids=ids,
        ended=executor,
    )
    use_cases = providers.Singleton(
        UseCases,
        runs=runs,
        deployments=deployments,
        authorizer=authorizer,
        signals=signals,
        api_keys=api_keys,
        access=access,
        http_api=http_api,
        max_upload_bytes=config.max_upload_bytes,
    )
