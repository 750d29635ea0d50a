"""Supervision of the embedded database `serve` started: restart it when it dies, or give up.

A SecantusDB child that exits (a crash, the OOM killer, `kill -9`) or whose storage engine
panicked is started again on the same data directory, after a short backoff; its journal
brings back every acknowledged write. The service then reconnects to the new port. When it
fails `max_failures` times within `window_seconds`, restarting is not helping: the
supervisor gives up, so that the service can stop and a process manager restart all of it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from ecg_graphql.db.embedded import EmbeddedDatabase

logger = logging.getLogger(__name__)

MAX_FAILURES = 3
WINDOW_SECONDS = 60.0
# Seconds before restart number n (1-based) of the current window.
BACKOFF_SECONDS = (0.2, 1.0, 2.0)
POLL_SECONDS = 0.1


class EmbeddedSupervisor:
    """Watches one EmbeddedDatabase and keeps it running, within a failure budget."""

    def __init__(
        self,
        database: EmbeddedDatabase,
        *,
        max_failures: int = MAX_FAILURES,
        window_seconds: float = WINDOW_SECONDS,
        on_started: Callable[[str], None] | None = None,
        on_down: Callable[[], None] | None = None,
    ) -> None:
        self.database = database
        self.max_failures = max_failures
        self.window_seconds = window_seconds
        self.on_started = on_started
        self.on_down = on_down
        self.failures: list[float] = []
        self.down_since: float | None = None
        self.gave_up: str | None = None

    def down_seconds(self) -> float:
        """How long the database has been down (0 while it serves)."""
        if self.down_since is None:
            return 0.0
        return time.monotonic() - self.down_since

    def _failed(self, now: float) -> int:
        self.failures = [t for t in self.failures if now - t < self.window_seconds]
        self.failures.append(now)
        return len(self.failures)

    async def run(
        self,
        reconnect: Callable[[str], Awaitable[None]],
        give_up: Callable[[str], None],
    ) -> None:
        """Supervise until cancelled, or until giving up (then `give_up(message)` is called).

        After each restart, `reconnect(url)` must point the service at the new server; if
        it raises, that counts as one more failure.
        """
        database = self.database
        while True:
            # Polled: waiting for the child in a thread would hold up interpreter exit, and a
            # panic is only visible as a flag the output drainer sets.
            while database.is_serving():  # noqa: ASYNC110
                await asyncio.sleep(POLL_SECONDS)
            now = time.monotonic()
            if self.down_since is None:
                self.down_since = now
                if self.on_down is not None:
                    self.on_down()
            panicked = database.panicked
            # Reap it (a panicked one is still running: stop it first).
            await asyncio.to_thread(database.stop, 2.0)
            cause = (
                "its storage engine panicked"
                if panicked
                else f"it exited with status {database.returncode}"
            )
            count = self._failed(now)
            if count >= self.max_failures:
                self.gave_up = (
                    f"embedded database failed {count} times within "
                    f"{self.window_seconds:.0f} s (last: {cause}); stopping the service"
                )
                logger.error(self.gave_up)
                give_up(self.gave_up)
                return
            delay = BACKOFF_SECONDS[min(count, len(BACKOFF_SECONDS)) - 1]
            logger.warning(
                "embedded database stopped unexpectedly: %s; restarting in %.1f s "
                "(failure %d within %.0f s; the service stops at %d)",
                cause,
                delay,
                count,
                self.window_seconds,
                self.max_failures,
            )
            await asyncio.sleep(delay)
            try:
                url = await asyncio.to_thread(database.start)
                await reconnect(url)
            except Exception as error:  # EmbeddedDatabaseError, or the new server not answering
                # Counted by the next turn of the loop: the database is not serving.
                lines = [line.strip() for line in str(error).splitlines() if line.strip()] or [""]
                # Its first line, and the server's last words (e.g. "No space left on device").
                logger.warning(
                    "embedded database restart failed: %s",
                    " ... ".join(dict.fromkeys((lines[0].rstrip(":"), lines[-1]))),
                )
                await asyncio.to_thread(database.stop, 2.0)
                continue
            if self.on_started is not None:
                self.on_started(url)
            logger.warning(
                "embedded database restarted on port %s after %.1f s down",
                database.port,
                self.down_seconds(),
            )
            self.down_since = None
