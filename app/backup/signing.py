"""Backups are signed by the instance that made them, and a restore trusts only signatures it can check:
a checksum proves an archive whole, not who made it, and an archive re-sealed
by someone else would restore whatever accounts and password hashes they put in it.

The manifest (which holds the SHA-256 of SHA256SUMS, which holds the SHA-256 of every other member, so
it stands for the whole archive) carries an HMAC-SHA256 of its body under the instance's backup key:
`CONCORD_BACKUP_KEY` when set, else a key derived from the instance's secret key (`concord backup key`
prints it). A restore checks the signature with its own backup key and any key the operator gives
(`--key-file`: the backup key of the instance that made the archive); an archive that is unsigned, or
signed by a key it was not given, is refused, unless the operator says `--unsigned`, which restores it
trusting its contents as they are (the command says so).
"""
from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from typing import Any

from app.backup.archive import BackupError
from app.backup.manifest import canonical
from app.core.config import Settings

ALGORITHM = "HMAC-SHA256"
KEY_ID_LENGTH = 16


class NotAuthentic(BackupError):
    """The archive is unsigned, or signed by a key this restore was not given."""

    status_code = 403
    title = "Backup not authentic"


def instance_key(settings: Settings) -> bytes:
    """The backup key of this instance: CONCORD_BACKUP_KEY, else derived from the secret key."""
    if settings.backup_key is not None:
        return settings.backup_key.get_secret_value().strip().encode()
    derived = hmac.new(settings.resolved_secret_key().encode(), b"concord backup signing key v1", hashlib.sha256)
    return derived.hexdigest().encode()


def key_id(key: bytes) -> str:
    """A short public name of a key (so a refusal can say which key signed an archive)."""
    return hashlib.sha256(b"concord backup key id:" + key).hexdigest()[:KEY_ID_LENGTH]


def signature(body: dict[str, Any], key: bytes) -> dict[str, str]:
    mac = hmac.new(key, canonical(body), hashlib.sha256).hexdigest()
    return {"algorithm": ALGORITHM, "key_id": key_id(key), "mac": mac}


def signed(body: dict[str, Any], key: bytes) -> dict[str, Any]:
    return {**body, "signature": signature(body, key)}


def check(manifest: dict[str, Any], keys: Sequence[bytes], *, unsigned_ok: bool) -> str | None:
    """The id of the key that signed `manifest` (None when unsigned and `unsigned_ok`); raises
    NotAuthentic when it is unsigned (without `unsigned_ok`) or signed by none of `keys`."""
    body = {k: v for k, v in manifest.items() if k != "signature"}
    found = manifest.get("signature")
    if not isinstance(found, dict):
        if unsigned_ok:
            return None
        raise NotAuthentic("the archive is not signed, so nothing shows it was made by a Concord instance and not "
                           "altered since; restore it with --unsigned only if you made it and kept it safe")
    for key in keys:
        if hmac.compare_digest(str(found.get("mac", "")), signature(body, key)["mac"]):
            return key_id(key)
    raise NotAuthentic(f"the archive is signed by backup key {str(found.get('key_id', '?'))[:KEY_ID_LENGTH]}, not "
                       "by this instance's; restore it with --key-file holding the backup key of the instance "
                       "that made it (`concord backup key` there)")
