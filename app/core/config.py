"""Settings, read once from the environment (prefix CONCORD_) and validated before start-up."""
from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# The value docker-compose.yml and the README show as an example; refused as a real key.
EXAMPLE_SECRET_KEY = "change-me-to-a-long-random-string"  # noqa: S105
MIN_SECRET_KEY_LENGTH = 32


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CONCORD_", extra="ignore")

    database_url: str = "sqlite:///var/concord.db"  # embedded default; Postgres in production
    data_dir: Path = Path("var")
    secret_key: SecretStr | None = None  # None: generated once into data_dir/secret_key
    backup_key: SecretStr | None = None  # signs backups; None: derived from the secret key (app/backup/signing.py)
    base_url: str = "http://127.0.0.1:8000"
    # Behind a reverse proxy: believe X-Forwarded-For/-Proto/-Host only from these peers (app/core/proxy.py)
    proxy_headers: bool = False  # `concord serve --proxy-headers` turns it on
    trusted_proxies: str = "127.0.0.1,::1"  # addresses or networks, comma-separated
    # Postgres calls made by the web app that take longer fail with a 503 (a hung or blackholed
    # database must not hang requests); workers and the CLI have no such limit.
    db_deadline_seconds: float = Field(default=8.0, gt=0)

    # Sessions and login
    session_idle_minutes: int = Field(default=12 * 60, ge=1)
    session_max_hours: int = Field(default=7 * 24, ge=1)
    secure_cookies: bool = False  # set true when served over https
    login_max_failures: int = Field(default=10, ge=1)  # per account or address, per window
    login_window_minutes: int = Field(default=15, ge=1)
    # API tokens: each expires after the days chosen at creation, at most this many
    token_max_days: int = Field(default=90, ge=1, le=3650)

    # Limits on what people send us
    max_upload_bytes: int = Field(default=50 * 2**20, ge=1024)  # one image file
    max_request_bytes: int = Field(default=256 * 2**20, ge=4096)  # one request body, whatever it holds
    # A body that is not multipart (JSON, urlencoded...): parsed whole in memory, before the route's
    # dependencies (login included) run, so it gets a far smaller cap than uploads (reliability #6).
    max_json_bytes: int = Field(default=16 * 2**20, ge=4096)
    max_image_pixels: int = Field(default=60_000_000, ge=64)
    max_files_per_request: int = Field(default=500, ge=1)
    max_boxes_per_annotation: int = Field(default=500, ge=1)
    max_images_per_project: int = Field(default=2_000_000, ge=1)  # upload quota (413 past it)

    # Storage: "local" (data_dir/media) or "s3"
    storage_backend: str = "local"
    # S3-compatible object storage (storage_backend="s3"; see app/core/s3storage.py)
    s3_endpoint_url: str | None = None  # None: AWS itself; e.g. http://minio:9000
    s3_bucket: str = ""
    s3_region: str = "us-east-1"
    s3_access_key_id: SecretStr | None = None  # None: boto3's own chain (environment, instance role)
    s3_secret_access_key: SecretStr | None = None
    s3_prefix: str = ""  # every key lives under this prefix in the bucket
    s3_addressing_style: str = "path"  # path | virtual | auto (MinIO wants path)
    s3_allow_private_endpoint: bool = False  # loopback/RFC 1918 endpoints (a MinIO beside the app)

    # Background jobs (app/jobs): `concord worker` processes, or a thread inside the app
    jobs_in_app: bool | None = None  # None: in the app on SQLite, by `concord worker` on Postgres
    job_heartbeat_seconds: float = Field(default=5.0, gt=0)
    job_stale_seconds: float = Field(default=60.0, gt=0)  # no heartbeat for this long: the worker died
    job_poll_seconds: float = Field(default=1.0, gt=0)
    # A freeze of at most this many decided labels runs in the request (201); a bigger one is queued as
    # a job (202) unless the caller asks to wait
    freeze_in_request_max_items: int = Field(default=5000, ge=0)

    # The labeling queue
    assignment_timeout_minutes: int = Field(default=60, ge=1)

    @field_validator("secret_key", mode="before")
    @classmethod
    def _empty_key_is_unset(cls, value: object) -> object:
        return None if value == "" else value  # docker compose passes unset variables as ""

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def media_dir(self) -> Path:
        return self.data_dir / "media"

    def resolved_secret_key(self) -> str:
        """The configured key, else one generated on first run and kept (0600) under the data dir."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        path = self.data_dir / "secret_key"
        if not path.exists():
            # Write aside, then link into place: processes starting at once all read one whole key.
            tmp = path.with_name(f".secret_key.{os.getpid()}.{secrets.token_hex(4)}")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(48))
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass
            finally:
                tmp.unlink()
        return path.read_text().strip()


@lru_cache
def get_settings() -> Settings:
    return Settings()
