"""Settings: the JWT secret kept in the data directory, and refused bad values."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from pydantic import ValidationError

from ecg_graphql.config import JWT_SECRET_FILE, Settings


@pytest.fixture(autouse=True)
def _no_ecg_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings read ECG_* variables: the developer's own must not leak into these tests."""
    import os

    for name in list(os.environ):
        if name.startswith("ECG_"):
            monkeypatch.delenv(name)


def test_generated_secret_is_kept_private_and_reused(tmp_path: Path) -> None:
    first = Settings(data_dir=tmp_path).resolve_jwt_secret()
    assert len(first.encode()) >= 32
    path = tmp_path / JWT_SECRET_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert Settings(data_dir=tmp_path).resolve_jwt_secret() == first


def test_a_damaged_secret_file_is_refused_not_used(tmp_path: Path) -> None:
    (tmp_path / JWT_SECRET_FILE).write_text("short")
    with pytest.raises(ValueError, match="no usable JWT secret"):
        Settings(data_dir=tmp_path).resolve_jwt_secret()


def test_configured_secret_wins_and_must_be_long_enough(tmp_path: Path) -> None:
    secret = "s" * 32
    assert Settings(data_dir=tmp_path, jwt_secret=secret).resolve_jwt_secret() == secret
    assert not (tmp_path / JWT_SECRET_FILE).exists()
    with pytest.raises(ValidationError, match="at least 32 bytes"):
        Settings(jwt_secret="s" * 31)


def test_admin_username_and_password_come_together() -> None:
    with pytest.raises(ValidationError, match="both"):
        Settings(admin_username="boss")


def test_trusted_proxies_are_parsed_at_start_up() -> None:
    settings = Settings(trusted_proxies="10.0.0.0/8, 192.0.2.1")
    assert [str(n) for n in settings.trusted_networks] == ["10.0.0.0/8", "192.0.2.1/32"]
    with pytest.raises(ValidationError):
        Settings(trusted_proxies="not-an-ip")
