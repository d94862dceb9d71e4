"""Schema migrations through Alembic: the schema exists only as the migrations create it."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, inspect, text

if TYPE_CHECKING:  # Alembic is imported only to migrate: asking whether to costs ~0.1 s without it
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
# Where Alembic keeps the revision a database is at (its default name; env.py keeps it).
VERSION_TABLE = "alembic_version"


def _config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database at `engine` up to `revision`."""
    from alembic import command

    with engine.begin() as connection:
        config = _config()
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def revision(engine: Engine, message: str) -> None:
    """Autogenerate a new migration from the models (a developer command)."""
    from alembic import command

    with engine.begin() as connection:
        config = _config()
        config.attributes["connection"] = connection
        command.revision(config, message=message, autogenerate=True)


def _declared(path: Path) -> dict[str, Any]:
    """The `revision` and `down_revision` a migration file assigns, read without running it."""
    declared = {}
    for node in ast.parse(path.read_text(encoding="utf-8"), str(path)).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if isinstance(target, ast.Name) and target.id in ("revision", "down_revision"):
            declared[target.id] = ast.literal_eval(value)
    return declared


def head_revision(versions: Path = MIGRATIONS / "versions") -> str:
    """The newest migration's revision: the one no other migration in `versions` revises.

    Read from the files' `revision` and `down_revision`, as Alembic reads them, without
    importing Alembic (a test holds the two answers together).
    """
    revisions: set[str] = set()
    revised: set[str] = set()
    for path in versions.glob("*.py"):
        declared = _declared(path)
        if "revision" not in declared:
            continue
        revisions.add(declared["revision"])
        down = declared.get("down_revision")
        revised.update([down] if isinstance(down, str) else down or ())
    heads = revisions - revised
    if len(heads) != 1:
        raise RuntimeError(f"the migrations have {len(heads)} heads, not one: {sorted(heads)}")
    return heads.pop()


def is_current(engine: Engine) -> bool:
    """True when the database is at the newest migration."""
    head = head_revision()
    with engine.connect() as connection:
        if not inspect(connection).has_table(VERSION_TABLE):
            return False
        stored = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}"))
        return stored.scalars().all() == [head]


def is_ready(database_url: str) -> bool:
    """True when the database exists and is at the newest migration; never creates a file."""
    from sqlalchemy.engine import make_url

    from db.engine import make_engine

    url = make_url(database_url)
    file = url.database if url.get_backend_name() == "sqlite" else None
    if file not in (None, "", ":memory:") and not Path(str(file)).exists():
        return False
    engine = make_engine(database_url, read_only=True)
    try:
        return is_current(engine)
    except Exception:  # unreachable server, wrong credentials: not ready, the caller says so
        return False
    finally:
        engine.dispose()
