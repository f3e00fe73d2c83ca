"""Alembic migrations, run programmatically (once, before any worker starts)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy.engine import Engine

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(engine: Engine) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """What labkeeper's models describe: procrastinate's tables (migration 0013) are its own."""
    return not (type_ == "table" and (name or "").startswith("procrastinate_"))


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest revision; a no-op when it is already there."""
    command.upgrade(alembic_config(engine), "head")
