"""Launcher for the embedded SecantusDB server, always as a separate process (it is GPL-2.0)."""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import TracebackType

_LISTENING = re.compile(r"secantus listening on ([0-9.]+):(\d+)")
PR_SET_PDEATHSIG = 1
# WiredTiger's fatal state: the process stays up but answers every command with an internal
# error until it is restarted (measured: a checkpoint on a full disk). Its journal recovers
# everything acknowledged, so the supervisor restarts it.
_PANIC = "WT_PANIC"
# The service uses no change streams, so SecantusDB's oplog is dead weight: by default it
# keeps an hour and up to 100,000 entries, each a full copy of the document written (it
# held more than the documents themselves). A minute and 100 entries is plenty for what the
# server itself reads from it.
OPLOG_RETENTION_SECONDS = 60
OPLOG_MAX_ENTRIES = 100
# SecantusDB acknowledges a transaction's commit before its journal holds it, whatever the
# write concern (measured: SIGKILL lost committed uploads). With --sync-on-commit every
# commit is written through to disk first, so a commit's acknowledgement means durable, as
# on MongoDB; the other writes are journaled (j:true) one by one already, except the signal
# windows of an upload, which are written while its analyses run.
DURABLE_COMMITS = ("--sync-on-commit",)


class EmbeddedDatabaseError(RuntimeError):
    """The embedded database could not be started."""


def die_with_parent() -> None:  # pragma: no cover - runs in the child
    """Linux only: SIGTERM this process when its parent dies, even by SIGKILL (no orphan)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class EmbeddedDatabase:
    """A SecantusDB child process on a free loopback port, data kept under `storage_path`."""

    def __init__(
        self,
        storage_path: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.storage_path = storage_path
        self.host = host
        self.requested_port = port
        self.extra_args = extra_args
        self.process: subprocess.Popen[str] | None = None
        self.port: int | None = None
        self._log_tail: list[str] = []
        self._drainer: threading.Thread | None = None
        self.panicked = False
        self.returncode: int | None = None

    @property
    def url(self) -> str:
        """The mongodb:// URL of the running server."""
        if self.port is None:
            raise EmbeddedDatabaseError("embedded database is not running")
        return f"mongodb://{self.host}:{self.port}/?directConnection=true"

    def start(self, timeout: float = 60.0) -> str:
        """Start the server and wait until it listens; returns its URL."""
        try:
            self.storage_path.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise EmbeddedDatabaseError(
                f"cannot use {self.storage_path} as database storage: {error.strerror}"
            ) from None
        cmd = [
            sys.executable,
            "-m",
            "secantus",
            "--host",
            self.host,
            "--port",
            str(self.requested_port),
            "--storage-path",
            str(self.storage_path),
            "--log-level",
            "INFO",  # the "listening on" line is INFO; later lines are drained
            "--oplog-retention-seconds",
            str(OPLOG_RETENTION_SECONDS),
            "--oplog-max-entries",
            str(OPLOG_MAX_ENTRIES),
            *DURABLE_COMMITS,
            *self.extra_args,
        ]
        self.panicked = False
        self.returncode = None
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(  # noqa: S603  (fixed argv, no shell)
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            preexec_fn=die_with_parent,
            start_new_session=True,  # Ctrl-C reaches us, not the database: we stop it in order
        )
        deadline = time.monotonic() + timeout
        if self.process.stdout is None:  # pragma: no cover - PIPE always gives one
            raise EmbeddedDatabaseError("no output pipe")
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                break
            self._log_tail = [*self._log_tail[-20:], line.rstrip()]
            match = _LISTENING.search(line)
            if match:
                self.port = int(match.group(2))
                self._drainer = threading.Thread(target=self._drain, daemon=True)
                self._drainer.start()
                return self.url
        self.stop()
        tail = "\n".join(self._log_tail)
        raise EmbeddedDatabaseError(f"embedded database did not start:\n{tail}")

    def _drain(self) -> None:
        # Keep reading its output so the pipe never fills and blocks the server.
        process = self.process
        if process is None or process.stdout is None:
            return
        for line in process.stdout:
            self._log_tail = [*self._log_tail[-20:], line.rstrip()]
            if _PANIC in line:
                self.panicked = True
            if " ERROR " in line or "CRITICAL" in line:
                sys.stderr.write(f"[secantus] {line}")

    def is_running(self) -> bool:
        """True while the child process lives."""
        return self.process is not None and self.process.poll() is None

    def is_serving(self) -> bool:
        """True while the child lives and its storage engine has not panicked."""
        return self.is_running() and not self.panicked

    def kill(self) -> None:
        """SIGKILL the server (fault tests): no clean shutdown."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
        self._reap()

    def _reap(self) -> None:
        process = self.process
        if process is None:
            return
        self.returncode = process.wait(timeout=10)
        if self._drainer is not None:
            self._drainer.join(timeout=2)
            self._drainer = None
        if process.stdout is not None:
            process.stdout.close()
        self.process = None

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM, then SIGKILL after `timeout` seconds; returns once the process is gone."""
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
        self._reap()

    def __enter__(self) -> EmbeddedDatabase:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
