"""Password hashing: bcrypt with the configured cost, verification that never raises."""

from __future__ import annotations

import bcrypt
import pytest

from ecg_graphql.auth.passwords import dummy_hash, hash_password, verify_password

ROUNDS = 4


async def test_hash_verifies_the_password_and_nothing_else() -> None:
    stored = await hash_password("correct horse", ROUNDS)
    assert await verify_password("correct horse", stored)
    assert not await verify_password("correct hors", stored)
    assert not await verify_password("Correct horse", stored)
    assert not await verify_password("", stored)


async def test_hash_is_bcrypt_with_the_configured_cost_and_checks_independently() -> None:
    stored = await hash_password("password-123", 5)
    assert stored.startswith(b"$2b$05$")
    assert b"password-123" not in stored
    assert bcrypt.checkpw(b"password-123", stored)


async def test_hashes_are_salted() -> None:
    first = await hash_password("same-password", ROUNDS)
    second = await hash_password("same-password", ROUNDS)
    assert first != second
    assert await verify_password("same-password", first)
    assert await verify_password("same-password", second)


async def test_multibyte_password_up_to_72_bytes() -> None:
    password = "é" * 36  # 72 bytes in UTF-8
    stored = await hash_password(password, ROUNDS)
    assert await verify_password(password, stored)
    assert not await verify_password("é" * 35 + "e", stored)


@pytest.mark.parametrize("extra", ["a", "é", "x" * 100])
async def test_verify_over_72_bytes_is_false_not_an_error(extra: str) -> None:
    # bcrypt 5 raises past 72 bytes; a login must answer "invalid", never crash.
    prefix = "p" * 72
    stored = await hash_password(prefix, ROUNDS)
    assert not await verify_password(prefix + extra, stored)


@pytest.mark.parametrize("broken", [b"", b"not-a-hash", b"$2b$04$short"])
async def test_verify_against_a_corrupt_hash_is_false_not_an_error(broken: bytes) -> None:
    assert not await verify_password("password-123", broken)


async def test_dummy_hash_has_the_configured_cost_and_matches_no_guess() -> None:
    stored = dummy_hash(ROUNDS)
    assert stored.startswith(b"$2b$04$")
    for guess in ("", "password", "password-123", "admin", "0" * 32):
        assert not await verify_password(guess, stored)
    assert dummy_hash(ROUNDS) != stored
