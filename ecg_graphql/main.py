"""The application: FastAPI with the GraphQL router at /graphql, /health and /ready."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from starlette.requests import HTTPConnection

from ecg_graphql.api.context import AppServices, Context, bearer_token, client_address
from ecg_graphql.api.router import EcgGraphQLRouter
from ecg_graphql.api.schema import build_schema
from ecg_graphql.audit import AuditMiddleware
from ecg_graphql.auth import passwords
from ecg_graphql.auth.ratelimit import LoginLimits
from ecg_graphql.auth.service import AdminBootstrap, AuthConfig, ensure_first_admin
from ecg_graphql.config import Settings
from ecg_graphql.db.client import Connection, ping
from ecg_graphql.db.shared_embedded import SharedEmbedded
from ecg_graphql.db.storage import MEBIBYTE, DiskGuard, guard_disk
from ecg_graphql.db.supervisor import EmbeddedSupervisor
from ecg_graphql.ecgs import analysis_jobs
from ecg_graphql.limits import MaxBodySizeMiddleware, RejectWebSocketsMiddleware
from ecg_graphql.web import exports, graphiql

logger = logging.getLogger(__name__)


def build_services(settings: Settings) -> AppServices:
    """Everything resolvers need, derived once from the settings."""
    return AppServices(
        settings=settings,
        auth=AuthConfig(
            jwt_secret=settings.resolve_jwt_secret(),
            access_token_minutes=settings.access_token_minutes,
            refresh_token_days=settings.refresh_token_days,
            bcrypt_rounds=settings.bcrypt_rounds,
            limits=LoginLimits(
                per_user=settings.login_max_failures_per_user,
                per_address=settings.login_max_failures_per_address,
                window_seconds=settings.login_failure_window_seconds,
            ),
            dummy_hash=passwords.dummy_hash(settings.bcrypt_rounds),
        ),
    )


def _stop_nothing(message: str) -> None:
    """Without a server to stop, giving up leaves /health answering 503."""


def _unsupervised(on_give_up: Callable[[str], None]) -> Callable[[asyncio.Task[None]], None]:
    # A supervisor that died of a bug would leave the database unwatched: stop instead.
    def done(task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            error = task.exception()
            logger.error("database supervision failed: %s", type(error).__name__)
            on_give_up("database supervision failed; stopping the service")

    return done


def create_app(
    settings: Settings | None = None,
    *,
    supervisor: EmbeddedSupervisor | None = None,
    on_give_up: Callable[[str], None] = _stop_nothing,
    shared: SharedEmbedded | None = None,
) -> FastAPI:
    """The ASGI app; the database connection is made in the lifespan, never at import.

    With `supervisor` (the embedded database `serve` started), the lifespan keeps that
    database running and reconnects after each restart; when the supervisor gives up,
    `on_give_up(message)` is called to stop the server. With `shared` instead (one of
    several worker processes; the parent supervises), it follows the database's restarts.
    """
    settings = settings or Settings()
    # The driver's DEBUG records quote whole commands (stored insights hold sample values):
    # never below WARNING, however the host process configures logging.
    logging.getLogger("pymongo").setLevel(logging.WARNING)
    services = build_services(settings)
    connection = Connection(settings, embedded=supervisor is not None or shared is not None)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async def first() -> AdminBootstrap:
            await connection.open()
            return await ensure_first_admin(
                username=settings.admin_username,
                password=(
                    settings.admin_password.get_secret_value() if settings.admin_password else None
                ),
                bcrypt_rounds=settings.bcrypt_rounds,
            )

        async def reconnect(url: str) -> None:
            await connection.reconnect(url)
            app.state.mongo_client = connection.client

        url_in_use = settings.mongodb_url
        if shared is not None and url_in_use is not None:
            outcome, url_in_use = await shared.start(url_in_use, first, reconnect)
        else:
            outcome = await first()
        if outcome.generated_password is not None:
            # Printed once, on the console only (never to the log stream).
            print(
                "\n  First admin created: username 'admin', "
                f"password '{outcome.generated_password}'\n"
                "  Store it now; it is not shown again.\n",
                flush=True,
            )
        watch: asyncio.Task[None] | None = None
        if supervisor is not None:
            guard_disk(
                DiskGuard(supervisor.database.storage_path, settings.disk_reserve_mb * MEBIBYTE)
            )
            watch = asyncio.create_task(supervisor.run(reconnect, on_give_up))
            watch.add_done_callback(_unsupervised(on_give_up))
        elif shared is not None and url_in_use is not None:
            guard_disk(DiskGuard(shared.storage_path, settings.disk_reserve_mb * MEBIBYTE))
            watch = asyncio.create_task(shared.follow(url_in_use, reconnect))
        # Background analysis of chunked uploads (ecgs/analysis_jobs.py), in this process.
        stop_workers = asyncio.Event()
        workers = [
            asyncio.create_task(analysis_jobs.run_worker(stop_workers))
            for _ in range(settings.analysis_workers)
        ]
        try:
            yield
        finally:
            stop_workers.set()
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            if watch is not None:
                watch.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watch
                guard_disk(None)
            await connection.close()

    # HTTPConnection, not Request: the router also mounts a WebSocket route (never reached:
    # RejectWebSocketsMiddleware closes handshakes first), and must not crash if it were.
    async def get_context(request: HTTPConnection) -> Context:
        return Context(
            services=services,
            token=bearer_token(request.headers.get("authorization")),
            client_address=client_address(
                request.client.host if request.client else None,
                request.headers.get("x-forwarded-for"),
                settings.trusted_networks,
            ),
        )

    router = EcgGraphQLRouter(
        build_schema(introspection=settings.introspection),
        context_getter=get_context,
        graphql_ide="graphiql",
        # Queries may use GET; mutations never do (Strawberry refuses them over GET).
        allow_queries_via_get=True,
        subscription_protocols=(),
        hide_suggestions=not settings.introspection,
    )
    app = FastAPI(
        title="ecg-graphql", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None
    )
    app.include_router(router, prefix="/graphql")
    # GraphiQL's files, vendored in the package: the page at /graphql needs no internet.
    app.mount(graphiql.STATIC_PATH, graphiql.static_files(), name="graphiql")
    # Plots and files of an ECG, for <img src> and download links (web/exports.py).
    app.include_router(exports.router(jwt_secret=services.auth.jwt_secret))
    app.state.mongo_client = connection.client

    @app.get("/health")
    async def health() -> JSONResponse:
        """Liveness: the process is up, and its embedded database is not stuck restarting."""
        if supervisor is not None and supervisor.gave_up is not None:
            return JSONResponse({"status": "embedded database failed"}, status_code=503)
        watched = supervisor or shared  # this process's, or the parent's through its files
        down = watched.down_seconds() if watched is not None else 0.0
        if down > settings.database_timeout_seconds:
            return JSONResponse(
                {"status": "embedded database restarting", "downSeconds": round(down, 1)},
                status_code=503,
            )
        return JSONResponse({"status": "ok"})

    @app.get("/ready")
    async def ready() -> JSONResponse:
        """Readiness: the database answers."""
        if await ping(connection.client):
            return JSONResponse({"status": "ready"})
        return JSONResponse({"status": "database unavailable"}, status_code=503)

    app.add_middleware(MaxBodySizeMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(RejectWebSocketsMiddleware)
    if settings.cors_origin_list:
        # Tokens travel in the Authorization header, never cookies: no credentials mode.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origin_list,
            allow_methods=["GET", "POST"],
            allow_headers=["authorization", "content-type", "x-request-id"],
            expose_headers=["x-request-id"],
            max_age=600,
        )
    # Outermost, so 413s and every other response get an audit line too.
    app.add_middleware(AuditMiddleware)
    return app


def worker_app() -> FastAPI:
    """The app of one of the worker processes `serve` runs when ECG_WORKERS > 1.

    uvicorn calls it (factory=True) in each spawned worker: the settings come from the
    environment, where the parent put the URL of the embedded database it supervises.
    """
    import multiprocessing
    import os
    import sys

    from uvicorn.config import STARTUP_FAILURE

    from ecg_graphql.db.embedded import die_with_parent
    from ecg_graphql.logs import configure_logging

    # Gone with the parent even if it is SIGKILLed, like its database.
    die_with_parent()
    parent = multiprocessing.parent_process()
    if parent is not None and os.getppid() != parent.pid:
        sys.exit("ecg-graphql worker: the serve process is gone")
    # Out of the terminal's process group: Ctrl-C reaches the parent only, which then stops
    # each worker once (a second signal would make uvicorn skip the graceful shutdown).
    with contextlib.suppress(OSError):
        os.setsid()
    configure_logging()
    try:
        settings = Settings()
        return create_app(settings, shared=SharedEmbedded.from_environment(settings.data_dir))
    except Exception as error:  # e.g. an unusable jwt-secret file: the same in every worker
        logger.error("API worker failed to start: %s", error)
        # uvicorn's "failed before serving": the parent stops instead of restarting it.
        sys.exit(STARTUP_FAILURE)
