"""`ironriver etl run` end to end: remote files, the inbox drop folder, and failure webhooks."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from db.engine import make_engine
from db.models import Fact, RunStatus
from etl import sources
from etl.cli import cli
from etl.pipeline import remote_refresher, run_embedded
from etl.source import RemoteFile
from tests.conftest import FIXTURES, ROOT
from tests.http_fixture import Reply, serve, unused_port

COMMITTED = sources.get("corridors").files[0]


def _with_remote(monkeypatch, url: str) -> None:
    module = dataclasses.replace(sources.get("corridors"), remote=RemoteFile(url, "corridors.csv"))
    monkeypatch.setattr(
        sources, "REGISTRY", tuple(module if s.name == "corridors" else s for s in sources.REGISTRY)
    )


def _with_sources(engine) -> None:
    run_embedded(engine, only=["reference", "bibliography"])


def _corridor_rows(engine) -> int:
    with engine.connect() as connection:
        return len(connection.execute(select(Fact.id).where(Fact.dataset == "corridors")).all())


def test_a_changed_remote_file_replaces_the_sources_rows(engine, tmp_path, monkeypatch):
    _with_sources(engine)
    committed = COMMITTED.read_bytes()
    changed = b"\n".join(committed.rstrip(b"\n").split(b"\n")[:-2]) + b"\n"
    with serve([Reply(200, changed, {"ETag": '"v2"'})]) as server:
        _with_remote(monkeypatch, server.url("/corridors.csv"))
        run_embedded(
            engine, only=["corridors"], refresh=remote_refresher(tmp_path / "raw", backoff=0.01)
        )
    assert _corridor_rows(engine) == len(pd.read_csv(COMMITTED)) - 2
    (saved,) = (tmp_path / "raw" / "corridors").glob("*/corridors.csv")
    assert saved.read_bytes() == changed


def test_a_remote_file_that_no_longer_parses_fails_loudly_and_keeps_the_rows(
    engine, tmp_path, monkeypatch
):
    _with_sources(engine)
    run_embedded(engine, only=["corridors"])
    before = _corridor_rows(engine)
    with serve([Reply(200, b"<html>moved</html>\n")]) as server:
        _with_remote(monkeypatch, server.url("/corridors.csv"))
        (outcome,) = run_embedded(
            engine, only=["corridors"], refresh=remote_refresher(tmp_path / "raw", backoff=0.01)
        )
    assert outcome.status == RunStatus.FAILED
    assert _corridor_rows(engine) == before


def test_offline_uses_the_committed_copy_and_says_so(engine, tmp_path, monkeypatch, caplog):
    _with_sources(engine)
    _with_remote(monkeypatch, f"http://127.0.0.1:{unused_port()}/corridors.csv")
    (outcome,) = run_embedded(
        engine, only=["corridors"], refresh=remote_refresher(tmp_path / "raw", backoff=0.01)
    )
    assert outcome.status == RunStatus.LOADED
    assert _corridor_rows(engine) == len(pd.read_csv(COMMITTED))
    assert "committed copy will be used" in caplog.text


def _etl_run(db_url: str, inbox: Path, webhook: str = "") -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "IRONRIVER_INBOX_DIR": str(inbox),
        "IRONRIVER_WEBHOOK_URL": webhook,
    }
    return subprocess.run(
        [sys.executable, "-m", "etl.cli", "etl", "run"],
        env=env,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )


def test_inbox_files_are_loaded_and_filed_away(db_url, tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    shutil.copy(FIXTURES / "SYNTHETIC-etrace-style-sample.csv", inbox / "batch-1.csv")
    result = _etl_run(db_url, inbox)
    assert result.returncode == 0, result.stderr
    assert not (inbox / "batch-1.csv").exists()
    assert [p.name.endswith("-batch-1.csv") for p in (inbox / "processed").iterdir()] == [True]


def test_a_refused_inbox_file_is_filed_as_failed_exits_1_and_calls_the_webhook(db_url, tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    shutil.copy(FIXTURES / "missing-recovery-state.csv", inbox / "bad.csv")
    with serve([Reply(204)]) as server:
        result = _etl_run(db_url, inbox, server.url("/hook"))
    assert result.returncode == 1
    failed = sorted(p.name for p in (inbox / "failed").iterdir())
    assert len(failed) == 2 and failed[1].endswith("bad.csv.reason.txt")
    reason = (inbox / "failed" / failed[1]).read_text()
    assert "recovery_state" in reason
    (request,) = server.requests
    payload = json.loads(request.body)
    assert payload["event"] == "etl_failed"
    assert payload["failed_sources"] == ["inbox:bad.csv"]


@pytest.mark.parametrize("fetch_remote", ["1", "0"])
def test_fetch_remote_setting_decides_whether_etl_run_downloads(
    db_url, tmp_path, monkeypatch, fetch_remote
):
    committed = COMMITTED.read_bytes()
    changed = b"\n".join(committed.rstrip(b"\n").split(b"\n")[:-2]) + b"\n"
    env = {
        "DATABASE_URL": db_url,
        "IRONRIVER_DATA_DIR": str(tmp_path),
        "IRONRIVER_FETCH_REMOTE": fetch_remote,
    }
    command = ["etl", "run", "--only", "reference", "--only", "bibliography", "--only", "corridors"]
    with serve([Reply(200, changed, {"ETag": '"v2"'})]) as server:
        _with_remote(monkeypatch, server.url("/corridors.csv"))
        result = CliRunner().invoke(cli, command, env=env)
    assert result.exit_code == 0, result.output
    downloaded = list((tmp_path / "raw").glob("corridors/*/corridors.csv"))
    engine = make_engine(db_url)
    rows = _corridor_rows(engine)
    engine.dispose()
    if fetch_remote == "1":
        assert [request.path for request in server.requests] == ["/corridors.csv"]
        assert [path.read_bytes() for path in downloaded] == [changed]
        assert rows == len(pd.read_csv(COMMITTED)) - 2
    else:
        assert server.requests == [] and downloaded == []
        assert rows == len(pd.read_csv(COMMITTED))
