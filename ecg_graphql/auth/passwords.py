"""Password hashing with bcrypt, off the event loop."""

from __future__ import annotations

import asyncio
import secrets

import bcrypt

MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_BYTES = 72  # bcrypt 5 raises past this; validated before hashing


async def hash_password(password: str, rounds: int) -> bytes:
    """A bcrypt hash of `password` (at most 72 UTF-8 bytes), computed in a worker thread."""
    salt = bcrypt.gensalt(rounds=rounds)
    return await asyncio.to_thread(bcrypt.hashpw, password.encode(), salt)


async def verify_password(password: str, password_hash: bytes) -> bool:
    """True when `password` matches; constant-time, in a worker thread, never raises."""
    try:
        encoded = password.encode()
    except UnicodeEncodeError:  # lone surrogates: not a password anyone can have
        return False
    if len(encoded) > MAX_PASSWORD_BYTES:
        return False
    try:
        return await asyncio.to_thread(bcrypt.checkpw, encoded, password_hash)
    except ValueError:
        return False


def dummy_hash(rounds: int) -> bytes:
    """A hash of a random password: checked for unknown users so timing reveals nothing."""
    return bcrypt.hashpw(secrets.token_bytes(16).hex().encode(), bcrypt.gensalt(rounds=rounds))
