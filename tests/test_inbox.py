"""The drop folder: good files end in processed/, refused and broken ones in failed/ with a reason."""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import dataclass
from pathlib import Path

from db.engine import make_engine
from db.models import RunStatus
from etl.inbox import pending_files, process_inbox
from etl.traces import load_trace_file

SAMPLE_TRACES = Path(__file__).parent / "fixtures" / "SYNTHETIC-etrace-style-sample.csv"
NOON = dt.datetime(2025, 3, 1, 12, 0, 0, tzinfo=dt.UTC)


@dataclass(frozen=True)
class FakeOutcome:
    name: str
    status: RunStatus

    def summary(self) -> str:
        return f"{self.name}: {self.status.value}"


def loader_by_name(seen: list[str]):
    """A loader whose outcome is in the file name: `refused-*`, `failed-*`, `skipped-*`, `boom-*`."""

    def load(path: Path) -> FakeOutcome:
        seen.append(path.name)
        kind = path.name.partition("-")[0]
        if kind == "boom":
            raise ValueError("header row missing")
        statuses = {"refused": RunStatus.REFUSED, "failed": RunStatus.FAILED}
        return FakeOutcome(path.name, statuses.get(kind, RunStatus.LOADED))

    return load


def drop(inbox: Path, *names: str) -> None:
    inbox.mkdir(exist_ok=True)
    for name in names:
        (inbox / name).write_text("trace_number,recovery_date\nT-1,2024-01-01\n", encoding="utf-8")


def test_a_loaded_file_ends_in_processed(tmp_path):
    inbox = tmp_path / "inbox"
    drop(inbox, "traces.csv")

    (result,) = process_inbox(inbox, loader_by_name([]), clock=lambda: NOON)

    assert result.status == RunStatus.LOADED and result.ok
    assert result.moved_to == inbox / "processed" / "20250301T120000Z-traces.csv"
    assert result.moved_to.is_file()
    assert result.reason_file is None
    assert not (inbox / "traces.csv").exists()
    assert not (inbox / "failed").exists()


def test_a_refused_file_ends_in_failed_with_its_reason(tmp_path):
    inbox = tmp_path / "inbox"
    drop(inbox, "refused-traces.csv")

    (result,) = process_inbox(inbox, loader_by_name([]), clock=lambda: NOON)

    assert result.status == RunStatus.REFUSED and not result.ok
    assert result.moved_to == inbox / "failed" / "20250301T120000Z-refused-traces.csv"
    assert result.reason_file == inbox / "failed" / "20250301T120000Z-refused-traces.csv.reason.txt"
    assert result.reason_file.read_text(encoding="utf-8") == (
        "refused: refused-traces.csv: refused\n"
    )
    assert not (inbox / "processed").exists()


def test_an_exception_in_the_loader_is_filed_with_its_type_and_message(tmp_path):
    inbox = tmp_path / "inbox"
    drop(inbox, "boom-traces.csv", "later.csv")

    results = process_inbox(inbox, loader_by_name([]), clock=lambda: NOON)

    assert [r.status for r in results] == [RunStatus.FAILED, RunStatus.LOADED]
    reason = results[0].reason_file.read_text(encoding="utf-8")
    assert reason == "failed: boom-traces.csv: ValueError: header row missing\n"
    assert "T-1" not in reason  # nothing of the file's rows
    assert results[0].moved_to.parent == inbox / "failed"
    assert results[1].moved_to.parent == inbox / "processed"


def test_files_are_loaded_in_name_order_and_partial_or_hidden_ones_are_left(tmp_path):
    inbox = tmp_path / "inbox"
    drop(inbox, "b.csv", "a.csv", "c.csv.part", ".hidden.csv", "~lock.csv", "d.csv.crdownload")
    (inbox / "folder").mkdir()
    seen: list[str] = []

    results = process_inbox(inbox, loader_by_name(seen), clock=lambda: NOON)

    assert seen == ["a.csv", "b.csv"]
    assert [r.name for r in results] == ["a.csv", "b.csv"]
    left = sorted(path.name for path in inbox.iterdir())
    assert left == [
        ".hidden.csv",
        "c.csv.part",
        "d.csv.crdownload",
        "folder",
        "processed",
        "~lock.csv",
    ]


def test_a_file_dropped_again_in_the_same_second_does_not_overwrite_the_first(tmp_path):
    inbox = tmp_path / "inbox"
    drop(inbox, "traces.csv")
    (first,) = process_inbox(inbox, loader_by_name([]), clock=lambda: NOON)
    drop(inbox, "traces.csv")
    (second,) = process_inbox(inbox, loader_by_name([]), clock=lambda: NOON)

    assert first.moved_to != second.moved_to
    assert first.moved_to.is_file() and second.moved_to.is_file()


def test_a_missing_inbox_means_nothing_to_do(tmp_path):
    assert process_inbox(tmp_path / "absent", loader_by_name([])) == []
    assert pending_files(tmp_path / "absent") == []


def test_the_trace_loader_plugs_into_the_inbox(tmp_path, db_url):
    engine = make_engine(db_url)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    shutil.copy(SAMPLE_TRACES, inbox / SAMPLE_TRACES.name)
    (inbox / "no-header.csv").write_text("", encoding="utf-8")

    results = process_inbox(inbox, lambda path: load_trace_file(engine, path))

    by_name = {result.name: result for result in results}
    assert by_name[SAMPLE_TRACES.name].status == RunStatus.LOADED
    assert by_name[SAMPLE_TRACES.name].moved_to.parent == inbox / "processed"
    assert by_name["no-header.csv"].status in (RunStatus.REFUSED, RunStatus.FAILED)
    assert by_name["no-header.csv"].reason_file.is_file()
