"""Every Iron River setting, declared as data with help text and read from the environment here only."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Setting:
    """One environment variable: its name, default, help text and parser."""

    env: str
    default: str
    help: str
    parse: Callable[[str], Any] = str


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise ValueError(f"must be a positive integer, got {text!r}")
    return value


def _flag(text: str) -> bool:
    if text not in ("0", "1"):
        raise ValueError(f"must be 0 or 1, got {text!r}")
    return text == "1"


def _log_format(text: str) -> str:
    if text not in ("text", "json"):
        raise ValueError(f"must be 'text' or 'json', got {text!r}")
    return text


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "DATABASE_URL",
        "",
        "SQLAlchemy database URL. Empty means the SQLite file `ironriver.sqlite` inside "
        "IRONRIVER_DATA_DIR. For PostgreSQL use `postgresql+psycopg://user@host/dbname`.",
    ),
    Setting(
        "IRONRIVER_DATA_DIR",
        "data",
        "Directory for the default SQLite database, downloaded raw files and the inbox. "
        "Relative paths are resolved against the current directory.",
    ),
    Setting("IRONRIVER_LOG_LEVEL", "INFO", "Log level for the CLI and the ETL (DEBUG, INFO, ...)."),
    Setting(
        "IRONRIVER_LOG_FORMAT",
        "text",
        "`text` for people, `json` (one object per line on stderr) for log collectors.",
        _log_format,
    ),
    Setting(
        "IRONRIVER_CACHE_SECONDS",
        "300",
        "How long the dashboard caches a query result; the cache key includes the data "
        "version, so a new ETL run is visible at once.",
        _positive_int,
    ),
    Setting(
        "IRONRIVER_STALE_AFTER_DAYS",
        "30",
        "A source whose last successful ETL run is older than this many days is flagged stale "
        "on the Status page, in `ironriver etl status` and under its charts.",
        _positive_int,
    ),
    Setting(
        "IRONRIVER_INBOX_DIR",
        "",
        "Drop folder for trace files: `ironriver etl run` loads each file there and moves it "
        "to `processed/` or `failed/` (with a reason file). Empty means IRONRIVER_DATA_DIR/inbox.",
    ),
    Setting(
        "IRONRIVER_WEBHOOK_URL",
        "",
        "When set, a failed ETL run POSTs a JSON summary here (e.g. a chat or alerting webhook).",
    ),
    Setting(
        "IRONRIVER_FETCH_REMOTE",
        "0",
        "`1` lets `ironriver etl run` download sources that name a remote URL (with retries and "
        "conditional requests); `0` uses the committed copies only.",
        _flag,
    ),
    Setting(
        "IRONRIVER_EXPORT_MAX_ROWS",
        "5000000",
        "Largest number of rows one CSV/JSON download may return; larger requests get a 400.",
        _positive_int,
    ),
)


def attribute_name(setting: Setting) -> str:
    """The `Settings` attribute a setting fills: `IRONRIVER_DATA_DIR` -> `data_dir`."""
    return setting.env.removeprefix("IRONRIVER_").lower()


@dataclass(frozen=True)
class Settings:
    """The resolved settings; build one with `Settings.from_env()`."""

    database_url: str = ""
    data_dir: Path = field(default_factory=lambda: Path("data"))
    log_level: str = "INFO"
    log_format: str = "text"
    cache_seconds: int = 300
    stale_after_days: int = 30
    inbox_dir: Path = field(default_factory=lambda: Path("data/inbox"))
    webhook_url: str = ""
    fetch_remote: bool = False
    export_max_rows: int = 5_000_000

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for setting in SETTINGS:
            raw = environ.get(setting.env, setting.default)
            try:
                values[attribute_name(setting)] = setting.parse(raw)
            except ValueError as error:
                raise ValueError(f"{setting.env}: {error}") from error
        values["data_dir"] = Path(values["data_dir"]).resolve()
        inbox = values["inbox_dir"]
        values["inbox_dir"] = Path(inbox).resolve() if inbox else values["data_dir"] / "inbox"
        if not values["database_url"]:
            values["database_url"] = f"sqlite:///{values['data_dir'] / 'ironriver.sqlite'}"
        return cls(**values)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
