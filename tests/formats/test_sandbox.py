"""The caps on reading untrusted files: a read past the time cap or the memory cap is refused
as an unreadable file (never a crash or a hang of the API), and the pool recovers."""

from __future__ import annotations

import pytest

from ecg_graphql.formats.readers.base import InputFile, UnreadableFile
from ecg_graphql.formats.readers.sandbox import Sandbox
from tests.harness import TEST_DATA

DICOM = InputFile(0, "ecg.dcm", (TEST_DATA / "dicom" / "waveform_ecg.dcm").read_bytes())
MAX_BYTES = 64 * 1024 * 1024


async def test_a_read_past_the_time_cap_is_refused_and_the_pool_recovers() -> None:
    sandbox = Sandbox(workers=1, timeout_seconds=0.001)
    try:
        with pytest.raises(UnreadableFile) as refused:
            await sandbox.read([DICOM], MAX_BYTES)
        assert refused.value.problems == [(0, "Reading the file took longer than 0.001 s.")]
        # The stuck worker was killed; with room to finish, a fresh one reads the same file.
        sandbox.timeout_seconds = 120.0
        parsed = await sandbox.read([DICOM], MAX_BYTES)
        assert len(parsed.leads) == 12
        assert parsed.sampling_rate == 1000.0
    finally:
        sandbox.close()


async def test_a_read_past_the_memory_cap_is_refused() -> None:
    # 64 MiB of address space cannot even hold the decoder: the allocation fails in the
    # worker, which is reported as the file's fault, not raised in the API.
    sandbox = Sandbox(workers=1, memory_bytes=64 * 1024 * 1024, timeout_seconds=120.0)
    try:
        with pytest.raises(UnreadableFile) as refused:
            await sandbox.read([DICOM], MAX_BYTES)
        [(index, message)] = refused.value.problems
        assert index == 0
        assert "memory" in message
    finally:
        sandbox.close()
