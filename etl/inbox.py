"""The drop folder: files left in the inbox are loaded in name order, then filed under processed/ or failed/."""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from db.models import RunStatus
from etl.extract import write_text_atomically

log = logging.getLogger(__name__)

PROCESSED_DIR = "processed"
FAILED_DIR = "failed"
REASON_SUFFIX = ".reason.txt"
# Files still being written by a browser, an editor or `scp`: never loaded half-copied.
PARTIAL_SUFFIXES = (".part", ".partial", ".tmp", ".crdownload", ".download", ".filepart")
MAX_REASON_CHARS = 2000
OK_STATUSES = frozenset({RunStatus.LOADED, RunStatus.SKIPPED})


class LoadOutcome(Protocol):
    """What the loader returns for one file (the trace loader's `TraceLoadResult` is one)."""

    @property
    def status(self) -> RunStatus: ...

    def summary(self) -> str: ...


@dataclass(frozen=True)
class InboxResult:
    """What became of one inbox file: its outcome, one line about it, and where it now lies."""

    name: str
    status: RunStatus
    message: str
    moved_to: Path
    reason_file: Path | None = None

    @property
    def ok(self) -> bool:
        return self.status in OK_STATUSES


def pending_files(inbox: Path) -> list[Path]:
    """The files waiting in `inbox`, in name order; hidden, partial and non-regular files are left."""
    if not inbox.is_dir():
        return []
    return sorted(
        (path for path in inbox.iterdir() if _is_loadable(path)), key=lambda path: path.name
    )


def _is_loadable(path: Path) -> bool:
    name = path.name
    if name.startswith((".", "~")) or name.lower().endswith(PARTIAL_SUFFIXES):
        return False
    # Symlinks are left alone: the inbox loads what was dropped in it, not what a link points at.
    return path.is_file() and not path.is_symlink()


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def process_inbox(
    inbox: Path,
    load: Callable[[Path], LoadOutcome],
    *,
    clock: Callable[[], dt.datetime] = utc_now,
) -> list[InboxResult]:
    """Pass each pending file to `load`, then move it to `processed/` or `failed/`.

    Loaded and skipped files go to `inbox/processed/<timestamp>-<name>`. Refused or failed files,
    and files whose `load` raised, go to `inbox/failed/<timestamp>-<name>` with a
    `<timestamp>-<name>.reason.txt` beside them: the loader's summary, or the exception's type and
    message (never a row of the file). An exception in `load` is recorded and the next file is
    processed; an error moving a file (the file system itself failing) is raised.
    A missing inbox directory means nothing to do.
    """
    results = []
    for path in pending_files(inbox):
        try:
            outcome = load(path)
            status, message = outcome.status, outcome.summary()
        except Exception as error:  # one bad file is recorded and filed; the rest still load
            status, message = RunStatus.FAILED, f"{path.name}: {type(error).__name__}: {error}"
        message = " ".join(message.split())[:MAX_REASON_CHARS]
        results.append(_file_away(inbox, path, status, message, clock()))
    return results


def _file_away(
    inbox: Path, path: Path, status: RunStatus, message: str, when: dt.datetime
) -> InboxResult:
    ok = status in OK_STATUSES
    folder = inbox / (PROCESSED_DIR if ok else FAILED_DIR)
    folder.mkdir(exist_ok=True)
    target = _free_name(folder, path.name, when)
    reason_file = None
    if not ok:
        # The reason is written first, so a file in failed/ always has one beside it.
        reason_file = target.with_name(target.name + REASON_SUFFIX)
        write_text_atomically(reason_file, f"{status.value}: {message}\n")
    # Same file system (failed/ and processed/ are inside the inbox), so the rename is atomic.
    os.rename(path, target)
    if ok:
        log.info("inbox: %s %s -> %s", path.name, status.value, target)
    else:
        log.error("inbox: %s %s -> %s: %s", path.name, status.value, target, message)
    return InboxResult(path.name, status, message, target, reason_file)


def _free_name(folder: Path, name: str, when: dt.datetime) -> Path:
    """`<timestamp>-<name>`, or `<timestamp>.<n>-<name>` if a same-named file came this second."""
    stamp = when.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    target = folder / f"{stamp}-{name}"
    counter = 1
    while target.exists() or target.with_name(target.name + REASON_SUFFIX).exists():
        counter += 1
        target = folder / f"{stamp}.{counter}-{name}"
    return target
