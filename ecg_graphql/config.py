"""Settings: environment variables with the ECG_ prefix."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import secrets
from functools import cached_property
from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MIN_JWT_SECRET_BYTES = 32
JWT_SECRET_FILE = "jwt-secret"  # noqa: S105  (a file name, not a secret)
MAX_WORKERS = 64


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask, e.g. a container's cpuset)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


def _default_workers() -> int:
    return max(1, min(usable_cpus(), MAX_WORKERS))


class Settings(BaseSettings):
    """Every tunable of the service; see the settings table in README.md."""

    model_config = SettingsConfigDict(env_prefix="ECG_", extra="ignore")

    mongodb_url: str | None = None
    database: str = "ecg"
    data_dir: Path = Path(".data")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    # API processes of `serve` sharing the port (1: one process, as before).
    workers: int = Field(default_factory=_default_workers, ge=1, le=MAX_WORKERS)
    jwt_secret: SecretStr | None = None
    access_token_minutes: int = Field(default=15, ge=1, le=24 * 60)
    refresh_token_days: int = Field(default=7, ge=1, le=365)
    bcrypt_rounds: int = Field(default=12, ge=4, le=31)
    introspection: bool = True
    max_body_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    # Analysis workers run inside each API process (0: only `python -m ecg_graphql worker`).
    analysis_workers: int = Field(default=1, ge=0, le=16)
    login_max_failures_per_user: int = Field(default=10, ge=1)
    login_max_failures_per_address: int = Field(default=100, ge=1)
    login_failure_window_seconds: int = Field(default=300, ge=1)
    # Comma-separated IPs or CIDR networks whose X-Forwarded-For is believed.
    trusted_proxies: str = ""
    # Comma-separated origins of browser frontends allowed to call the API (CORS); empty: none.
    cors_origins: str = ""
    admin_username: str | None = None
    admin_password: SecretStr | None = None
    # Per-operation database timeout: no request waits longer on a dead database.
    database_timeout_seconds: float = Field(default=4.0, gt=0, le=600)
    # Embedded database only: uploads are refused while less than this would stay free on
    # its disk (a full disk is fatal to its storage engine, see db/storage.py).
    disk_reserve_mb: int = Field(default=256, ge=0)

    @model_validator(mode="after")
    def _check(self) -> Settings:
        secret = self.jwt_secret
        if secret is not None and len(secret.get_secret_value().encode()) < MIN_JWT_SECRET_BYTES:
            raise ValueError(f"ECG_JWT_SECRET must be at least {MIN_JWT_SECRET_BYTES} bytes")
        if (self.admin_username is None) != (self.admin_password is None):
            raise ValueError("set both ECG_ADMIN_USERNAME and ECG_ADMIN_PASSWORD, or neither")
        self.trusted_networks  # noqa: B018  (parse now so a typo fails at start-up)
        return self

    @cached_property
    def trusted_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        """The proxies allowed to set X-Forwarded-For, parsed."""
        parts = [p.strip() for p in self.trusted_proxies.split(",") if p.strip()]
        return tuple(ipaddress.ip_network(p, strict=False) for p in parts)

    @property
    def cors_origin_list(self) -> list[str]:
        """The allowed CORS origins, parsed."""
        return [o.strip() for o in self.cors_origins.split(",") if o.strip()]

    def resolve_jwt_secret(self) -> str:
        """The signing secret: ECG_JWT_SECRET, else one generated once and kept in ECG_DATA_DIR."""
        if self.jwt_secret is not None:
            return self.jwt_secret.get_secret_value()
        path = self.data_dir / JWT_SECRET_FILE
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            # Written whole under a name of its own, then linked into place (link never
            # replaces): of two processes starting together, one wins and both read the
            # winner's secret; neither can read a file the other has created but not filled.
            draft = path.with_name(f".{JWT_SECRET_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
            fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                with os.fdopen(fd, "w") as f:
                    f.write(secrets.token_urlsafe(48))
                with contextlib.suppress(FileExistsError):
                    os.link(draft, path)
            finally:
                draft.unlink(missing_ok=True)
        secret = path.read_text().strip()
        if len(secret.encode()) < MIN_JWT_SECRET_BYTES:
            raise ValueError(f"{path} holds no usable JWT secret; remove it to make a new one")
        return secret
