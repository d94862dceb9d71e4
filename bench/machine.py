"""What the benchmarks ran on: CPU, cores, memory, versions of every tool measured, load."""

from __future__ import annotations

import datetime as dt
import os
import platform
import re
import shutil
import sqlite3
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _first(pattern: str, text: str) -> str | None:
    match = re.search(pattern, text, re.MULTILINE)
    return match.group(1).strip() if match else None


def _output(*command: str) -> str | None:
    if shutil.which(command[0]) is None:
        return None
    try:
        completed = subprocess.run(
            command, capture_output=True, text=True, timeout=30, check=False, cwd=ROOT
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (completed.stdout or completed.stderr).strip()
    return text.splitlines()[0] if text else None


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def describe() -> dict[str, Any]:
    """A dict of facts about this machine and the tools on it, for the results file."""
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    meminfo = Path("/proc/meminfo").read_text() if Path("/proc/meminfo").exists() else ""
    mem_kb = _first(r"^MemTotal:\s+(\d+)", meminfo)
    commit = _output("git", "rev-parse", "--short", "HEAD")
    dirty = _output("git", "status", "--porcelain", "--untracked-files=no")
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cpu_model": _first(r"^model name\s*:\s*(.+)$", cpuinfo) or platform.processor() or None,
        "cores": os.cpu_count(),
        "ram_gb": round(int(mem_kb) / 1024 / 1024, 1) if mem_kb else None,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "python_sqlite": sqlite3.sqlite_version,
        "sqlite3_cli": _output("sqlite3", "--version"),
        "git_commit": (commit + ("+changes" if dirty else "")) if commit else None,
        "load_average_at_start": load_average(),
        "tools": {
            "ironriver": _version("ironriver"),
            "dash": _version("dash"),
            "gunicorn": _version("gunicorn"),
            "pandas": _version("pandas"),
            "sqlalchemy": _version("sqlalchemy"),
            "datasette": _version("datasette"),
            "sqlite-utils": _version("sqlite-utils"),
            "playwright": _version("playwright"),
            "wrk": _first(r"^wrk (\S+)", _output("wrk", "--version") or ""),
            "chromium": _output("chromium", "--version"),
        },
        "python_executable": sys.executable,
    }
