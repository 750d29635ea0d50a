"""Reading untrusted files in separate processes, with a wall-clock and a memory cap.

Parsers of binary and XML formats are large and not written for hostile input: a file may make
one loop for minutes or allocate what a header claims (10^12 samples). Size checks before
decoding cannot foresee every such path, so each read runs in a worker process whose address
space is capped (RLIMIT_AS: an oversized allocation is a MemoryError there, not in the API) and
which is killed when the read takes longer than the timeout. Workers are forked from a
forkserver that has the readers imported, so a replacement after a kill is cheap, and the event
loop only awaits.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import resource
import threading
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from ecg_graphql.formats.readers.base import InputFile, ParsedEcg, UnreadableFile

TIMEOUT_SECONDS = 20.0
MEMORY_BYTES = 1536 * 1024 * 1024
WORKERS = 2


def _limit_memory(memory_bytes: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))


def _work(files: Sequence[InputFile], max_bytes: int) -> ParsedEcg | list[tuple[int, str]]:
    """Runs in a worker: the parsed ECG, or (file index, message) for every problem."""
    from ecg_graphql.formats.readers.registry import read_files  # worker side

    try:
        return read_files(files, max_bytes)
    except UnreadableFile as error:
        return error.problems
    except MemoryError:
        return [(f.index, "Reading the file needs more memory than allowed.") for f in files[:1]]
    except RecursionError:
        return [(f.index, "The file is nested too deeply to read.") for f in files[:1]]


class Sandbox:
    """A small pool of capped reader processes; `read` is safe to await from many requests."""

    def __init__(
        self,
        *,
        workers: int = WORKERS,
        timeout_seconds: float = TIMEOUT_SECONDS,
        memory_bytes: int = MEMORY_BYTES,
    ) -> None:
        self.workers = workers
        self.timeout_seconds = timeout_seconds
        self.memory_bytes = memory_bytes
        self._lock = threading.Lock()
        self._executor: ProcessPoolExecutor | None = None

    def _pool(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._executor is None:
                context = multiprocessing.get_context("forkserver")
                context.set_forkserver_preload(["ecg_graphql.formats.readers.registry"])
                self._executor = ProcessPoolExecutor(
                    self.workers,
                    mp_context=context,
                    initializer=_limit_memory,
                    initargs=(self.memory_bytes,),
                )
            return self._executor

    def _discard(self, executor: ProcessPoolExecutor) -> None:
        """Kill the pool's workers (one is stuck or died) and start afresh on next use."""
        with self._lock:
            if self._executor is executor:
                self._executor = None
        for process in list(executor._processes.values()):  # no public way to kill a worker
            process.kill()
        executor.shutdown(wait=False, cancel_futures=True)

    async def read(self, files: Sequence[InputFile], max_bytes: int) -> ParsedEcg:
        """The ECG the files hold; UnreadableFile for bad files, a timeout or a worker crash."""
        indices = [f.index for f in files][:1] or [0]
        for attempt in range(2):
            executor = self._pool()
            try:
                future = executor.submit(_work, list(files), max_bytes)
                result = await asyncio.wait_for(
                    asyncio.wrap_future(future), timeout=self.timeout_seconds
                )
            except TimeoutError:
                self._discard(executor)
                raise UnreadableFile.of(
                    [
                        (i, f"Reading the file took longer than {self.timeout_seconds:g} s.")
                        for i in indices
                    ]
                ) from None
            except BrokenProcessPool:
                # A worker died (killed for a neighbour's timeout, or out of memory outside
                # Python): one retry on a fresh pool, then it is this file's fault.
                self._discard(executor)
                if attempt == 0:
                    continue
                raise UnreadableFile.of(
                    [(i, "Reading the file exceeded the memory limit.") for i in indices]
                ) from None
            if isinstance(result, ParsedEcg):
                return result
            raise UnreadableFile.of(result)
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        """Stop the workers (they are started again on the next read)."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)


_default = Sandbox()


def default_sandbox() -> Sandbox:
    """The process-wide sandbox the import service uses."""
    return _default
