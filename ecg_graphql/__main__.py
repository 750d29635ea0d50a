"""Command line: serve, worker, create-admin, export-schema, backfill, gc."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import uvicorn

from ecg_graphql.config import Settings

EMBEDDED_URL_FILE = "embedded-url"


def _embedded_url_path(settings: Settings) -> Path:
    return settings.data_dir / EMBEDDED_URL_FILE


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


def serve(settings: Settings) -> int:
    """Run the API; start and supervise the embedded database when ECG_MONGODB_URL is unset.

    On Ctrl-C or SIGTERM the API stops first (graceful, at most 3 s), then the database.
    An embedded database that dies is restarted (see db/supervisor.py); when it keeps dying
    the API stops and the exit status is 1, so that a process manager restarts everything.
    """
    import uvicorn

    from ecg_graphql.db.embedded import EmbeddedDatabase
    from ecg_graphql.db.supervisor import EmbeddedSupervisor
    from ecg_graphql.logs import configure_logging
    from ecg_graphql.main import create_app

    configure_logging()
    embedded: EmbeddedDatabase | None = None
    supervisor: EmbeddedSupervisor | None = None
    url_file = _embedded_url_path(settings)
    if settings.mongodb_url is None:
        embedded = EmbeddedDatabase(settings.data_dir / "db")
        url = embedded.start()
        url_file.write_text(url)
        print(f"embedded database: {url} (data in {settings.data_dir / 'db'})", flush=True)
        settings = settings.model_copy(update={"mongodb_url": url})

        def restarted(new_url: str) -> None:
            # For `create-admin` and the other commands that reuse the running database.
            url_file.write_text(new_url)

        supervisor = EmbeddedSupervisor(embedded, on_started=restarted)
    failure: list[str] = []
    server: uvicorn.Server | None = None

    def give_up(message: str) -> None:
        failure.append(message)
        if server is not None:
            server.should_exit = True

    try:
        config = uvicorn.Config(
            create_app(settings, supervisor=supervisor, on_give_up=give_up),
            host=settings.host,
            port=settings.port,
            log_config=None,
            timeout_graceful_shutdown=3,
            ws="none",
            proxy_headers=False,  # X-Forwarded-For is handled by ECG_TRUSTED_PROXIES only
            server_header=False,
        )
        print(f"GraphiQL: http://{settings.host}:{settings.port}/graphql", flush=True)
        server = _orderly_server(config)
        # uvicorn re-raises the signal it handled once it has shut down; SIGTERM's default
        # action would then kill us before the database is stopped in order below.
        signal.signal(signal.SIGTERM, _exit_quietly)
        with contextlib.suppress(KeyboardInterrupt, SystemExit):
            server.run()
    finally:
        # Further Ctrl-C or SIGTERM must not interrupt stopping the database (bounded: 4 s,
        # then SIGKILL), or it would be left running.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if embedded is not None:
            embedded.stop(timeout=4)
            url_file.unlink(missing_ok=True)
    if failure:
        print(f"ecg-graphql stopped: {failure[0]}", file=sys.stderr, flush=True)
        return 1
    return 0


async def _with_database(settings: Settings, action: str, *, enqueue_only: bool = False) -> int:
    from ecg_graphql.auth.service import ensure_first_admin
    from ecg_graphql.db.client import init_database, make_client, ping
    from ecg_graphql.db.ecg_listing import repair_counts
    from ecg_graphql.db.embedded import EmbeddedDatabase
    from ecg_graphql.ecgs.large import discard_expired
    from ecg_graphql.ecgs.service import discard_orphan_chunks

    embedded: EmbeddedDatabase | None = None
    url = settings.mongodb_url
    url_file = _embedded_url_path(settings)
    if url is None and url_file.exists():
        candidate = url_file.read_text().strip()
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
    settings = Settings()
    if args.command == "serve":
        return serve(settings)
    return asyncio.run(
        _with_database(settings, args.command, enqueue_only=getattr(args, "enqueue_only", False))
    )


if __name__ == "__main__":
    raise SystemExit(main())
