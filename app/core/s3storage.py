"""S3-compatible object storage (AWS S3, MinIO, Ceph RGW, ...) behind the same Storage interface.

Serving: files reach browsers only through the app's authorizing routes, streamed from the bucket.
`open()` spools the object to a temporary file (memory up to SPOOL_MEMORY, then disk), so readers may
seek, as Pillow needs. We do not hand out pre-signed URLs: the pages' CSP allows images from 'self'
only, a URL would outlive the role check that issued it, and the bucket never needs a public policy.

Endpoint safety (reliability #28): the endpoint may not resolve to loopback, private, link-local or
metadata addresses unless CONCORD_S3_ALLOW_PRIVATE_ENDPOINT is set (a MinIO beside the app). It is
checked at start-up and again before every request (botocore's before-send hook), so a DNS answer that
changes later is refused as well; redirects are never followed (refuse_redirects).

Checksums: every object carries the SHA-256 of its bytes as metadata (x-amz-meta-sha256), so
`checksum()` costs one HEAD; `concord storage migrate` verifies by reading the bytes back.
"""
from __future__ import annotations

import hashlib
import logging
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC
from pathlib import Path
from typing import Any, BinaryIO, cast
from urllib.parse import urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from app.core.config import Settings
from app.core.errors import ConfigError
from app.core.netguard import Resolver, UnsafeAddress, check_host, check_url, system_resolver
from app.core.storage import CHUNK, StorageUnavailable, StoredObject, check_key, sha256_of

log = logging.getLogger("concord.storage")

SPOOL_MEMORY = 8 * 2**20  # objects larger than this spool to disk on open()
MISSING = {"404", "NoSuchKey", "NotFound"}


class EndpointGuard:
    """botocore before-send hook: refuses a request whose host resolves to a forbidden address."""

    def __init__(self, *, allow_private: bool, resolve: Resolver) -> None:
        self.allow_private = allow_private
        self.resolve = resolve

    def __call__(self, request: Any, **_: Any) -> None:
        host = urlsplit(request.url).hostname or ""
        check_host(host, allow_private=self.allow_private, resolve=self.resolve)


def refuse_redirects(response: Any = None, **_: Any) -> None:
    """botocore needs-retry hook, run first: a 3xx answer ends the request (no redirect is followed,
    and botocore's region redirector, which would chase it, never sees it)."""
    if response is not None and response[0] is not None and 300 <= response[0].status_code < 400:
        raise UnsafeAddress(f"the object store answered with a redirect ({response[0].status_code}); "
                            "not followed: check CONCORD_S3_ENDPOINT_URL and CONCORD_S3_REGION")


class S3Storage:
    def __init__(self, client: Any, bucket: str, prefix: str = "") -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = f"{prefix.strip('/')}/" if prefix.strip("/") else ""

    @classmethod
    def from_settings(cls, settings: Settings, *, resolve: Resolver = system_resolver) -> S3Storage:
        """Raises ConfigError naming the setting that is missing or unsafe."""
        if not settings.s3_bucket:
            raise ConfigError("CONCORD_S3_BUCKET", "required when CONCORD_STORAGE_BACKEND=s3")
        if settings.s3_addressing_style not in ("path", "virtual", "auto"):
            raise ConfigError("CONCORD_S3_ADDRESSING_STYLE", "use path, virtual or auto")
        endpoint = settings.s3_endpoint_url or None
        allow_private = settings.s3_allow_private_endpoint
        if endpoint is not None:
            try:
                check_url(endpoint, allow_private=allow_private, resolve=resolve)
            except UnsafeAddress as exc:
                hint = "" if allow_private else " (set CONCORD_S3_ALLOW_PRIVATE_ENDPOINT=true for a local store)"
                raise ConfigError("CONCORD_S3_ENDPOINT_URL", f"{exc}{hint}") from None
        session = boto3.session.Session(
            aws_access_key_id=_secret(settings.s3_access_key_id),
            aws_secret_access_key=_secret(settings.s3_secret_access_key),
            region_name=settings.s3_region,
        )
        config = Config(signature_version="s3v4", connect_timeout=5, read_timeout=30,
                        retries={"max_attempts": 3, "mode": "standard"},
                        s3={"addressing_style": settings.s3_addressing_style})
        client = session.client("s3", endpoint_url=endpoint, config=config)
        client.meta.events.register("before-send.s3", EndpointGuard(allow_private=allow_private, resolve=resolve))
        client.meta.events.register_first("needs-retry.s3", refuse_redirects)
        return cls(client, settings.s3_bucket, settings.s3_prefix)

    def _name(self, key: str) -> str:
        return self.prefix + check_key(key)

    @contextmanager
    def _calling(self, action: str, key: str) -> Iterator[None]:
        """Missing objects become FileNotFoundError; every other failure StorageUnavailable (503)."""
        try:
            yield
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in MISSING:
                raise FileNotFoundError(key) from None
            log.error("object storage refused to %s %s: %s", action, key, exc)
            raise StorageUnavailable(f"the object store refused to {action}; try again later") from exc
        except (BotoCoreError, UnsafeAddress) as exc:
            log.error("object storage failed to %s %s: %s", action, key, exc)
            raise StorageUnavailable(f"the object store did not answer (trying to {action}); try again later") from exc

    def put_file(self, key: str, source: Path) -> None:
        with open(source, "rb") as handle:
            digest = sha256_of(handle)
        extra = {"Metadata": {"sha256": digest}}
        with self._calling("store a file", key):
            self.client.upload_file(str(source), self.bucket, self._name(key), ExtraArgs=extra)

    def put_bytes(self, key: str, data: bytes) -> None:
        digest = hashlib.sha256(data).hexdigest()
        with self._calling("store a file", key):
            self.client.put_object(Bucket=self.bucket, Key=self._name(key), Body=data, Metadata={"sha256": digest})

    def open(self, key: str) -> BinaryIO:
        spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY)  # noqa: SIM115 (returned open)
        try:
            with self._calling("read a file", key):
                body = self.client.get_object(Bucket=self.bucket, Key=self._name(key))["Body"]
                try:
                    shutil.copyfileobj(body, spool, CHUNK)
                finally:
                    body.close()
        except BaseException:
            spool.close()
            raise
        spool.seek(0)
        return cast(BinaryIO, spool)

    def _head(self, key: str) -> dict[str, Any]:
        with self._calling("inspect a file", key):
            return cast(dict[str, Any], self.client.head_object(Bucket=self.bucket, Key=self._name(key)))

    def exists(self, key: str) -> bool:
        try:
            self._head(key)
        except FileNotFoundError:
            return False
        return True

    def size(self, key: str) -> int:
        return int(self._head(key)["ContentLength"])

    def checksum(self, key: str) -> str:
        recorded = self._head(key).get("Metadata", {}).get("sha256")
        if recorded:
            return str(recorded)
        with self.open(key) as handle:  # written by another tool: hash the bytes
            return sha256_of(handle)

    def delete(self, key: str) -> None:
        with self._calling("delete a file", key):
            self.client.delete_object(Bucket=self.bucket, Key=self._name(key))

    def keys(self, prefix: str = "") -> Iterator[str]:
        for entry in self.entries(prefix):
            yield entry.key

    def entries(self, prefix: str = "") -> Iterator[StoredObject]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix + prefix)
        with self._calling("list files", prefix or "/"):
            for page in pages:
                for item in page.get("Contents", []):
                    yield StoredObject(item["Key"][len(self.prefix):], int(item["Size"]),
                                       item["LastModified"].astimezone(UTC))

    def check_bucket(self, *, create: bool = False) -> bool:
        """True when the bucket answers; with `create`, make it if it does not exist yet."""
        try:
            with self._calling("open the bucket", self.bucket):
                self.client.head_bucket(Bucket=self.bucket)
            return True
        except FileNotFoundError:
            if not create:
                return False
        region = self.client.meta.region_name
        where = {} if region in (None, "us-east-1") else {"CreateBucketConfiguration": {"LocationConstraint": region}}
        with self._calling("create the bucket", self.bucket):
            self.client.create_bucket(Bucket=self.bucket, **where)
        return True


def _secret(value: Any) -> str | None:
    text = value.get_secret_value() if value is not None else ""
    return text or None  # docker compose passes unset variables as ""
