"""Command line: serve, worker, create-admin, export-schema, backfill, gc."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import pickle
import signal
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

if TYPE_CHECKING:
    import uvicorn
    from uvicorn.supervisors.multiprocess import Process as UvicornProcess

    from ecg_graphql.db.embedded import EmbeddedDatabase
    from ecg_graphql.db.supervisor import EmbeddedSupervisor

from ecg_graphql.config import Settings
from ecg_graphql.db.shared_embedded import Publisher, published_url

logger = logging.getLogger("ecg_graphql.serve")

# Exit status for settings that cannot be used (as argparse uses for a bad command line).
BAD_SETTINGS = 2
DATABASE_UNAVAILABLE = 3  # a maintenance command lost its database part-way
# A worker process that has not stopped this long after SIGTERM is killed.
WORKER_STOP_SECONDS = 5.0


def _exit_quietly(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def _orderly_server(config: uvicorn.Config) -> uvicorn.Server:
    import uvicorn

    class OrderlyServer(uvicorn.Server):
        """A second Ctrl-C does not skip the application's shutdown (uvicorn's "force quit",
        which logs a traceback): the graceful shutdown is bounded by its timeout anyway."""

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            if not self.should_exit:
                super().handle_exit(sig, frame)

    return OrderlyServer(config)


def _uvicorn_options(settings: Settings) -> dict[str, Any]:
    return {
        "host": settings.host,
        "port": settings.port,
        "log_config": None,
        "timeout_graceful_shutdown": 3,
        "ws": "none",
        "proxy_headers": False,  # X-Forwarded-For is handled by ECG_TRUSTED_PROXIES only
        "server_header": False,
    }


def serve(settings: Settings) -> int:
    """Run the API; start and supervise the embedded database when ECG_MONGODB_URL is unset.

    With ECG_WORKERS > 1 the API runs in that many worker processes sharing the port, and
    this process only starts the database, supervises it and the workers (see
    _serve_workers). On Ctrl-C or SIGTERM the API stops first (graceful, at most 3 s),
    then the database. An embedded database that dies is restarted (see
    db/supervisor.py); when it keeps dying the API stops and the exit status is 1, so that
    a process manager restarts everything.
    """
    from ecg_graphql.db.embedded import EmbeddedDatabase
    from ecg_graphql.logs import configure_logging

    configure_logging()
    embedded: EmbeddedDatabase | None = None
    # The embedded database's URL, for the workers and the other commands (`create-admin`
    # and the rest reuse the running database).
    publisher = Publisher(settings.data_dir)
    if settings.mongodb_url is None:
        embedded = EmbeddedDatabase(settings.data_dir / "db")
        url = embedded.start()
        publisher.started(url)
        print(f"embedded database: {url} (data in {settings.data_dir / 'db'})", flush=True)
        settings = settings.model_copy(update={"mongodb_url": url})
    failure: list[str] = []
    try:
        if settings.workers == 1:
            _serve_here(settings, embedded, publisher, failure)
        else:
            _serve_workers(settings, embedded, publisher, failure)
    finally:
        # Further Ctrl-C or SIGTERM must not interrupt stopping the database (bounded: 4 s,
        # then SIGKILL), or it would be left running.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if embedded is not None:
            embedded.stop(timeout=4)
            publisher.clear()
    if failure:
        print(f"ecg-graphql stopped: {failure[0]}", file=sys.stderr, flush=True)
        return 1
    return 0


def _serve_here(
    settings: Settings,
    embedded: EmbeddedDatabase | None,
    publisher: Publisher,
    failure: list[str],
) -> None:
    """ECG_WORKERS=1: the API in this process, which also supervises the database."""
    import uvicorn

    from ecg_graphql.db.supervisor import EmbeddedSupervisor
    from ecg_graphql.main import create_app

    supervisor: EmbeddedSupervisor | None = None
    if embedded is not None:
        supervisor = EmbeddedSupervisor(
            embedded, on_started=publisher.started, on_down=publisher.down
        )
    server: uvicorn.Server | None = None

    def give_up(message: str) -> None:
        failure.append(message)
        if server is not None:
            server.should_exit = True

    config = uvicorn.Config(
        create_app(settings, supervisor=supervisor, on_give_up=give_up),
        **_uvicorn_options(settings),
    )
    print(f"GraphiQL: http://{settings.host}:{settings.port}/graphql", flush=True)
    server = _orderly_server(config)
    # uvicorn re-raises the signal it handled once it has shut down; SIGTERM's default
    # action would then kill us before the database is stopped in order below.
    signal.signal(signal.SIGTERM, _exit_quietly)
    with contextlib.suppress(KeyboardInterrupt, SystemExit):
        server.run()


class _Supervision(threading.Thread):
    """The embedded database's supervisor, on an event loop of its own in the parent.

    The parent's main thread runs uvicorn's process manager, which blocks; the database is
    watched beside it. Workers learn of a restart through the published URL.
    """

    def __init__(
        self, settings: Settings, supervisor: EmbeddedSupervisor, give_up: Callable[[str], None]
    ) -> None:
        super().__init__(name="database-supervision", daemon=True)
        self.settings = settings
        self.supervisor = supervisor
        self.give_up = give_up
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._ready = threading.Event()

    def run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        from ecg_graphql.db.client import make_client, ping

        async def answers(url: str) -> None:
            client = make_client(self.settings, url)
            try:
                if not await ping(client):
                    raise RuntimeError("the restarted database does not answer")
            finally:
                await client.close()

        self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        self._ready.set()
        try:
            await self.supervisor.run(answers, self.give_up)
        except asyncio.CancelledError:
            pass
        except Exception as error:  # a bug: the database would be left unwatched
            logger.error("database supervision failed: %s", type(error).__name__)
            self.give_up("database supervision failed; stopping the service")

    def start(self) -> None:
        super().start()
        self._ready.wait()

    def stop(self) -> None:
        """Stop supervising (before the database is stopped, or it would be restarted)."""
        if self._loop is not None and self._task is not None:
            with contextlib.suppress(RuntimeError):  # the loop already ended
                self._loop.call_soon_threadsafe(self._task.cancel)
        self.join(timeout=10)


def _answers(worker: UvicornProcess, timeout: float, stopping: threading.Event) -> bool:
    """True while `worker` lives and answers uvicorn's healthcheck ping within `timeout`."""
    if not worker.process.is_alive():
        return False
    try:
        worker.parent_conn.send(b"ping")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if worker.parent_conn.poll(0.1):
                worker.parent_conn.recv()
                return True
            if not worker.process.is_alive():
                return False
            if stopping.is_set():
                return True  # stopping anyway: not the moment to replace it
    except (OSError, EOFError, pickle.UnpicklingError):
        return False
    return False


def _serve_workers(
    settings: Settings,
    embedded: EmbeddedDatabase | None,
    publisher: Publisher,
    failure: list[str],
) -> None:
    """ECG_WORKERS > 1: uvicorn's worker processes share the listening socket.

    Each worker builds the app from the environment (main.worker_app), with its own
    analysis workers and caches; none starts a database. This process supervises the
    embedded database (restarts are published for the workers, db/shared_embedded.py) and
    the workers (uvicorn replaces one that dies). Signals are for this process only: it
    SIGTERMs each worker once, waits for them, then the database is stopped.
    """
    import uvicorn
    from uvicorn.config import STARTUP_FAILURE
    from uvicorn.supervisors import Multiprocess
    from uvicorn.supervisors.multiprocess import Process

    from ecg_graphql.db.shared_embedded import STORAGE_ENV
    from ecg_graphql.db.supervisor import EmbeddedSupervisor

    class Workers(Multiprocess):
        def keep_subprocess_alive(self) -> None:
            # uvicorn's own, except that a worker which dies while it is pinged (e.g. at
            # start-up) is noticed at once, not after the whole healthcheck timeout, during
            # which neither a signal nor giving up would be acted on.
            if self.should_exit.is_set():
                return
            for index, worker in enumerate(self.processes):
                if _answers(worker, config.timeout_worker_healthcheck, self.should_exit):
                    continue
                worker.kill()
                worker.join()
                if self.should_exit.is_set():
                    return
                if worker.exitcode == STARTUP_FAILURE:
                    # Failed before serving: would fail the same way again.
                    logger.error("API worker [%s] failed to start; stopping", worker.pid)
                    self.should_exit.set()
                    return
                logger.warning(
                    "API worker [%s] stopped (exit status %s); starting another",
                    worker.pid,
                    worker.exitcode,
                )
                replacement = Process(self.config, self.sockets)
                replacement.start()
                self.processes[index] = replacement

        def join_all(self) -> None:
            # Bounded: a worker stuck in its shutdown must not keep the database running.
            deadline = time.monotonic() + WORKER_STOP_SECONDS
            for worker in self.processes:
                worker.process.join(max(0.0, deadline - time.monotonic()))
                if worker.process.exitcode is None:
                    worker.process.kill()
                    worker.process.join()

    assert settings.mongodb_url is not None  # noqa: S101  (serve resolved it)
    # What the spawned workers read their settings from.
    os.environ["ECG_MONGODB_URL"] = settings.mongodb_url
    if embedded is not None:
        os.environ[STORAGE_ENV] = str(embedded.storage_path)
    config = uvicorn.Config(
        "ecg_graphql.main:worker_app",
        factory=True,
        workers=settings.workers,
        # A worker busy with analyses still answers within this (a thread of its own).
        timeout_worker_healthcheck=30,
        **_uvicorn_options(settings),
    )
    try:
        sock = config.bind_socket()
    except SystemExit:  # uvicorn logged why (e.g. the port is taken)
        failure.append(f"cannot listen on {settings.host}:{settings.port}")
        return
    workers = Workers(config, sockets=[sock])  # its signal handlers: stop, or restart workers
    supervision: _Supervision | None = None
    if embedded is not None:

        def restarted(url: str) -> None:
            os.environ["ECG_MONGODB_URL"] = url  # for workers started from now on
            publisher.started(url)

        def give_up(message: str) -> None:
            failure.append(message)
            workers.should_exit.set()

        supervision = _Supervision(
            settings,
            EmbeddedSupervisor(embedded, on_started=restarted, on_down=publisher.down),
            give_up,
        )
        supervision.start()
    print(
        f"GraphiQL: http://{settings.host}:{settings.port}/graphql "
        f"({settings.workers} worker processes)",
        flush=True,
    )
    try:
        workers.run()
    finally:
        if supervision is not None:
            supervision.stop()
        sock.close()
    if not failure and any(w.exitcode == STARTUP_FAILURE for w in workers.processes):
        failure.append("an API worker process failed to start")


async def _with_database(settings: Settings, action: str, *, enqueue_only: bool = False) -> int:
    from ecg_graphql.auth.service import ensure_first_admin
    from ecg_graphql.db.client import init_database, make_client, ping
    from ecg_graphql.db.ecg_listing import repair_counts
    from ecg_graphql.db.embedded import EmbeddedDatabase
    from ecg_graphql.ecgs.large import discard_expired
    from ecg_graphql.ecgs.service import discard_orphan_chunks

    embedded: EmbeddedDatabase | None = None
    url = settings.mongodb_url
    candidate = None if url is not None else published_url(settings.data_dir)
    if candidate is not None:
        probe = make_client(settings, candidate)
        if await ping(probe):
            url = candidate
        await probe.close()
    if url is None:
        embedded = EmbeddedDatabase(settings.data_dir / "db")
        url = await asyncio.to_thread(embedded.start)
    client = make_client(settings, url)
    try:
        if action in ("worker", "backfill"):
            from ecg_graphql.logs import configure_logging

            configure_logging()  # their job lines (claimed, ended) and errors, as JSON
        if action == "worker":
            from ecg_graphql.ecgs.analysis_jobs import run_worker, wait_for_database

            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(signum, stop.set)
            # A worker started before its database (or during an outage) waits for it.
            if await wait_for_database(lambda: init_database(client, settings.database), stop):
                await run_worker(stop)
            return 0
        await init_database(client, settings.database)
        if action == "create-admin":
            outcome = await ensure_first_admin(
                username=settings.admin_username,
                password=(
                    settings.admin_password.get_secret_value() if settings.admin_password else None
                ),
                bcrypt_rounds=settings.bcrypt_rounds,
            )
            if outcome.generated_password is not None:
                print(
                    f"First admin created: username 'admin', "
                    f"password '{outcome.generated_password}'"
                )
            elif outcome.created:
                print(f"Admin {settings.admin_username!r} created.")
            else:
                print("Admin present; nothing changed.")
        elif action == "backfill":
            from ecg_graphql.ecgs.analysis_jobs import backfill

            done = await backfill(enqueue_only=enqueue_only)
            print(f"queued {done.queued} ECGs with stale analyses; analysed {done.analysed} here")
        elif action == "gc":
            removed = await discard_orphan_chunks()
            print(f"removed {removed} orphan signal chunks")
            expired = await discard_expired()
            print(f"removed {expired} expired uploads with their samples")
            repaired = await repair_counts()
            print(f"recounted ECGs: {repaired} owners' counters corrected")
    finally:
        await client.close()
        if embedded is not None:
            embedded.stop()
    return 0


def _settings_problem(error: ValidationError) -> str:
    """The invalid settings, one a line, by variable name (values left out: some are secret)."""
    lines = ["ecg-graphql: invalid settings (see the Settings table in README.md):"]
    for issue in error.errors():
        names = [f"ECG_{str(part).upper()}" for part in issue["loc"]]
        message = issue["msg"].removeprefix("Value error, ")
        lines.append(f"  {' '.join(names)}: {message}" if names else f"  {message}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m ecg_graphql`."""
    parser = argparse.ArgumentParser(prog="python -m ecg_graphql")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="run the API (and the embedded database when needed)")
    sub.add_parser(
        "create-admin",
        help="create the first admin from ECG_ADMIN_USERNAME/ECG_ADMIN_PASSWORD, "
        "or 'admin' with a random password printed once",
    )
    sub.add_parser("export-schema", help="print the GraphQL SDL")
    sub.add_parser("worker", help="run background analysis jobs (any number, sharing the database)")
    backfill = sub.add_parser(
        "backfill",
        help="queue jobs for stored ECGs whose analyses are missing, outdated or failed, "
        "and run them here alongside any workers",
    )
    backfill.add_argument(
        "--enqueue-only", action="store_true", help="only queue the jobs; workers run them"
    )
    sub.add_parser(
        "gc",
        help="remove signal chunks of uploads that never completed; recount ECGs per owner",
    )
    args = parser.parse_args(argv)

    if args.command == "export-schema":
        from ecg_graphql.api.schema import build_schema

        sys.stdout.write(build_schema().as_str() + "\n")
        return 0
    try:
        settings = Settings()
    except ValidationError as error:
        print(_settings_problem(error), file=sys.stderr)
        return BAD_SETTINGS
    if args.command == "serve":
        return serve(settings)
    try:
        return asyncio.run(
            _with_database(
                settings, args.command, enqueue_only=getattr(args, "enqueue_only", False)
            )
        )
    except Exception as error:
        from ecg_graphql.ecgs.analysis_jobs import LEASE, database_gone

        if not database_gone(error):
            raise
        # Every step of these commands is a complete write of its own: what was done stays.
        cause = error.__cause__ if error.__cause__ is not None else error
        held = (
            f" (a job it was running is taken again after its {LEASE.seconds} s lease)"
            if args.command == "backfill"
            else ""
        )
        print(
            f"ecg-graphql {args.command}: the database became unavailable "
            f"({type(cause).__name__}); what was done before is kept. Run it again once the "
            f"database answers{held}.",
            file=sys.stderr,
        )
        return DATABASE_UNAVAILABLE


if __name__ == "__main__":
    raise SystemExit(main())
