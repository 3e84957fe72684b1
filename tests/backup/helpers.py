"""Instances (a database and a data dir) for the backup tests, and row-by-row comparison."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from app.backup.rows import JSON_TEXT, TableCodec
from app.backup.service import backed_up_tables
from app.backup.signing import instance_key
from app.core.config import Settings
from app.core.db import make_sessionmaker
from app.core.storage import LocalStorage
from tests.support.databases import engine_url


@dataclass
class Instance:
    engine: Engine
    settings: Settings
    storage: LocalStorage

    def session(self) -> Session:
        return make_sessionmaker(self.engine)()

    @property
    def key(self) -> bytes:
        """This instance's backup key (it signs the backups it makes)."""
        return instance_key(self.settings)


def instance(engine: Engine, data_dir: Path) -> Instance:
    settings = Settings(database_url=engine_url(engine), data_dir=data_dir, secret_key=None)
    return Instance(engine, settings, LocalStorage(settings.media_dir))


def all_rows(engine: Engine) -> dict[str, list[list[Any]]]:
    """Every backed-up table's rows, encoded as in an archive; JSON parsed, so that JSONB's spacing and
    key order do not count, while a stored JSON null stays apart from SQL NULL."""
    rows: dict[str, list[list[Any]]] = {}
    with engine.connect() as connection:
        for table in backed_up_tables():
            codec = TableCodec.of(table)
            rows[table.name] = [
                [("json", json.loads(v)) if k == JSON_TEXT and v is not None else v
                 for k, v in zip(codec.kinds, codec.encode(row), strict=True)]
                for row in connection.execute(codec.select())]
    return rows


def row_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as connection:
        return {t.name: connection.scalar(select(func.count()).select_from(t)) or 0 for t in backed_up_tables()}
