"""Free-disk guard of the embedded database: refuse a large write before the disk fills.

WiredTiger cannot survive a full disk: an out-of-space error during a write or a checkpoint
is a library panic, after which SecantusDB answers every command, reads included, with an
internal error until it is restarted (measured on a small tmpfs). So the service keeps a
reserve free: an upload that would eat into it is refused (`StorageFull`, nothing written),
reads and small writes go on, and uploads are accepted again as soon as space is freed.
Only the embedded database is guarded; a MongoDB server elsewhere reports its own
out-of-space error, which the API maps to the same code.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from ecg_graphql.errors import StorageFull

logger = logging.getLogger(__name__)

# Bytes of disk one byte of document costs before the next checkpoint lets old space be
# reused: the journal record, the table page, and the oplog entry's journal record and page.
WRITE_AMPLIFICATION = 4
MEBIBYTE = 1024 * 1024


@dataclass(frozen=True, slots=True)
class DiskGuard:
    """Refuses writes that would leave less than `reserve_bytes` free under `path`."""

    path: Path
    reserve_bytes: int

    def free_bytes(self) -> int:
        """Bytes an unprivileged writer may still use on the file system of `path`."""
        stats = os.statvfs(self.path)
        return stats.f_bavail * stats.f_frsize

    def check(self, payload_bytes: int) -> None:
        """Raise StorageFull unless `payload_bytes` fit and leave the reserve free."""
        free = self.free_bytes()
        needed = payload_bytes * WRITE_AMPLIFICATION + self.reserve_bytes
        if free < needed:
            logger.warning(
                "write refused: disk nearly full free_mb=%d needed_mb=%d reserve_mb=%d",
                free // MEBIBYTE,
                -(-needed // MEBIBYTE),
                self.reserve_bytes // MEBIBYTE,
            )
            raise StorageFull


_guard: DiskGuard | None = None


def guard_disk(guard: DiskGuard | None) -> None:
    """Guard writes with `guard` from now on (None: unguarded)."""
    global _guard  # one database per process, like Beanie's own binding of the documents
    _guard = guard


def ensure_room(payload_bytes: int) -> None:
    """Raise StorageFull when a write of `payload_bytes` would fill the guarded disk."""
    if _guard is not None:
        _guard.check(payload_bytes)
