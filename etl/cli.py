"""The `ironriver` command line: database, ETL, datasets, exports and the dashboard server."""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from db.engine import make_engine
from db.migrate import is_current, is_ready, upgrade
from db.models import RunStatus
from db.settings import Settings
from etl import logs

if TYPE_CHECKING:  # the CLI imports pandas and the catalogue only in the commands that use them
    import pandas as pd

    from db.queries import Filters
    from etl.first_pass import Begun
    from etl.traces import TraceLoadResult

EXIT_REFUSED = 2
# sysexits' EX_TEMPFAIL: schedulers read it as "try again later", not as a failed load.
EXIT_LOCKED = 75


class Context:
    """Settings and a lazily made engine, shared by every command of one invocation."""

    def __init__(self, settings: Settings, first_passes: Begun | None = None) -> None:
        self.settings = settings
        # `etl load-traces`: the checksum passes `etl.launcher` began over its files.
        self.first_passes = first_passes
        self._engine: Engine | None = None

    @property
    def engine(self) -> Engine:
        """Created on first use, so commands that need no database never open one."""
        if self._engine is None:
            self._engine = make_engine(self.settings.database_url)
        return self._engine

    def upgraded_engine(self) -> Engine:
        """The engine after bringing the schema to the newest migration."""
        if not is_current(self.engine):
            upgrade(self.engine)
        return self.engine

    def reading(self) -> Engine:
        """A read-only engine on a database that exists and is migrated, or a one-line error."""
        from db.engine import DatabaseUnreadable, reader_uri

        url = make_url(self.settings.database_url)
        if url.get_backend_name() == "sqlite" and url.database and Path(url.database).exists():
            try:
                # Rolls back what a killed pre-WAL writer left, or says who can.
                reader_uri(Path(url.database).resolve())
            except DatabaseUnreadable as error:
                raise click.ClickException(str(error)) from error
        if not is_ready(self.settings.database_url):
            raise click.ClickException(
                f"no Iron River database at {self._shown_url()}: "
                "run `ironriver etl run` (or `make run`) first"
            )
        return make_engine(self.settings.database_url, read_only=True)

    def _shown_url(self) -> str:
        return make_url(self.settings.database_url).render_as_string(hide_password=True)

    @contextmanager
    def writing(self) -> Iterator[Engine]:
        """The engine, holding the writer lock; exits with EXIT_LOCKED if another writer runs."""
        from db.lock import LockBusy, writer_lock

        try:
            with writer_lock(self.engine):
                engine = self.upgraded_engine()
                self._report_interrupted(engine)
                try:
                    yield engine
                finally:
                    # Closed under the lock, not at exit: closing SQLite's last connection
                    # checkpoints the write-ahead log and removes it, which is writing too.
                    engine.dispose()
        except LockBusy as error:
            click.echo(f"not started: {error}", err=True)
            sys.exit(EXIT_LOCKED)

    def _report_interrupted(self, engine: Engine) -> None:
        """Runs a killed process left `running` get their failure alert from the next writer."""
        from etl.runs import INTERRUPTED_ERROR, claim_interrupted

        interrupted = claim_interrupted(engine)
        if not interrupted:
            return
        from etl.notify import failure_payload, notify_failure  # requests: only to send one

        for run in interrupted:
            click.echo(f"run {run.run_id} ({run.kind} {run.source}) was interrupted", err=True)
        notify_failure(
            self.settings.webhook_url,
            failure_payload(
                failed_sources=sorted({run.source for run in interrupted}),
                errors={run.source: INTERRUPTED_ERROR for run in interrupted},
                run_ids=[run.run_id for run in interrupted],
                interrupted=True,
            ),
        )


pass_context = click.make_pass_decorator(Context)


@click.group()
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default=None,
    help="Log format on stderr; overrides IRONRIVER_LOG_FORMAT.",
)
@click.version_option(package_name="ironriver")
@click.pass_context
def cli(ctx: click.Context, log_format: str | None) -> None:
    """Iron River: cited statistics on firearms trafficked from the United States into Mexico."""
    try:
        settings = Settings.from_env()
    except ValueError as error:
        raise click.UsageError(str(error)) from error
    logs.configure(settings.log_level, log_format or settings.log_format)
    ctx.obj = Context(settings, first_passes=ctx.obj)  # `main` passes them in as obj


@cli.group()
def db() -> None:
    """Database schema and maintenance."""


@db.command("upgrade")
@pass_context
def db_upgrade(context: Context) -> None:
    """Create or migrate the database schema to the newest revision."""
    upgrade(context.engine)
    click.echo(f"database at the newest revision: {context.engine.url.render_as_string()}")


@db.command("backup")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@pass_context
def db_backup(context: Context, path: Path) -> None:
    """Write a consistent copy of the SQLite database to PATH (PostgreSQL: use pg_dump)."""
    from db.backup import backup_sqlite

    if not context.settings.is_sqlite:
        url = context.engine.url
        click.echo(
            "PostgreSQL: back up with pg_dump, e.g. "
            f"pg_dump --format=custom --file={path} --host={url.host} --port={url.port or 5432} "
            f"--username={url.username} {url.database}  (restore: pg_restore --clean --dbname=...)",
            err=True,
        )
        sys.exit(1)
    size = backup_sqlite(context.engine, path)
    click.echo(f"backup written: {path} ({size} bytes)")


@cli.group()
def etl() -> None:
    """Load published figures and trace files."""


@etl.command("run")
@click.option(
    "--only",
    "only",
    multiple=True,
    metavar="SOURCE",
    help="Load only this source (repeatable); skips the inbox.",
)
@click.option("--force", is_flag=True, help="Reload sources even when their input is unchanged.")
@pass_context
def etl_run(context: Context, only: tuple[str, ...], force: bool) -> None:
    """Load the embedded datasets and the inbox; unchanged inputs are skipped. Exit 1 on any failure."""
    from etl import sources
    from etl.inbox import process_inbox
    from etl.notify import failure_payload, notify_failure
    from etl.pipeline import remote_refresher, run_embedded

    for name in only:
        try:
            sources.get(name)
        except KeyError as error:
            raise click.BadParameter(error.args[0], param_hint="--only") from error
    settings = context.settings
    refresh = remote_refresher(settings.data_dir / "raw") if settings.fetch_remote else None
    with context.writing() as engine:
        outcomes = run_embedded(engine, only=only, force=force, refresh=refresh)
        inbox = (
            []
            if only
            else process_inbox(settings.inbox_dir, lambda path: _load_trace_file(engine, path))
        )
    for outcome in outcomes:
        rows = f" {outcome.rows_loaded} rows" if outcome.status == RunStatus.LOADED else ""
        reason = f": {outcome.error}" if outcome.error else ""
        click.echo(f"{outcome.source:<22} {outcome.status.value}{rows}{reason}")
    for result in inbox:
        click.echo(f"inbox {result.name}: {result.status.value} -> {result.moved_to}")
    errors = {o.source: o.error or "" for o in outcomes if o.status == RunStatus.FAILED}
    errors |= {f"inbox:{r.name}": r.message for r in inbox if not r.ok}
    if errors:
        notify_failure(
            settings.webhook_url,
            failure_payload(
                failed_sources=sorted(errors),
                errors=errors,
                run_ids=[o.run_id for o in outcomes if o.status == RunStatus.FAILED],
            ),
        )
        click.echo(f"FAILED: {', '.join(sorted(errors))}", err=True)
        sys.exit(1)


def _load_trace_file(engine: Engine, path: Path) -> TraceLoadResult:
    return _trace_loader()(engine, path, None)


def _trace_loader() -> Callable[[Engine, Path, Begun | None], TraceLoadResult]:
    """The trace loader, imported only for a file to load: serving does not install it. Without
    its extra, one line says how to install it (exit 1)."""
    try:
        from etl.traces import load_trace_file
    except ImportError as error:
        raise click.ClickException(str(error)) from error
    return load_trace_file


@etl.command("load-traces")
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@pass_context
def etl_load_traces(context: Context, files: tuple[Path, ...]) -> None:
    """Load eTrace-style CSV exports; print read, loaded, rejected and duplicate rows per file.

    Exit 0 if accepted, 2 if a file was refused, 1 on error.
    """
    load_trace_file = _trace_loader()
    # The libraries' objects (made with the collector off, by `etl.launcher`) are left out of
    # its passes for good.
    gc.freeze()
    gc.enable()
    statuses = set()
    with context.writing() as engine:
        for path in files:
            result = load_trace_file(engine, path, context.first_passes)
            click.echo(result.summary())
            statuses.add(result.status)
    # The load is over and its connections are closed. What is left is the libraries' objects,
    # which the operating system frees: sparing them the garbage collector's passes at exit
    # saves ~0.2 s of CPU per command (issue 13).
    gc.freeze()
    if RunStatus.FAILED in statuses:
        sys.exit(1)
    if RunStatus.REFUSED in statuses:
        sys.exit(EXIT_REFUSED)


@etl.command("status")
@click.option("--limit", default=20, show_default=True, help="How many recent runs to show.")
@click.option(
    "--check", is_flag=True, help="Exit 1 when a source is stale or failing (for monitoring)."
)
@pass_context
def etl_status(context: Context, limit: int, check: bool) -> None:
    """Freshness of every source and the most recent ETL runs with their outcome."""
    from db.freshness import recent_runs, source_freshness
    from db.integrity import orphan_trace_file_ids
    from db.lock import writer_active
    from etl.runs import unresolved_interrupted

    engine = context.reading()
    active = writer_active(engine)
    freshness = source_freshness(engine, context.settings.stale_after_days, writer_active=active)
    if freshness.empty:
        click.echo("no ETL runs yet: run `ironriver etl run`")
        sys.exit(1 if check else 0)
    states = freshness["stale"].map({True: "STALE", False: "fresh"})
    shown = freshness.assign(
        state=states.mask(freshness["interrupted"], "INTERRUPTED"),
        last_success=freshness["last_success"].astype(str).str[:19],
    )
    columns = [
        "source",
        "state",
        "last_success",
        "age_days",
        "rows",
        "failures_since",
        "last_error",
    ]
    click.echo(f"sources (stale after {context.settings.stale_after_days} days):")
    click.echo(shown[columns].fillna("").to_string(index=False))
    click.echo("\nrecent runs:")
    click.echo(recent_runs(engine, limit, writer_active=active).fillna("").to_string(index=False))
    # Trace files are not in the freshness table; their interrupted loads count here.
    interrupted = unresolved_interrupted(engine, writer_active=active)
    if interrupted:
        listed = ", ".join(f"run {run.run_id} ({run.source})" for run in interrupted)
        click.echo(f"\ninterrupted, not since run successfully: {listed}")
    orphans = orphan_trace_file_ids(engine)
    if orphans:
        listed = ", ".join(str(file_id) for file_id in orphans)
        click.echo(f"\ntraces naming a trace file that does not exist: trace_file_id {listed}")
    failing = freshness["stale"].any() or (freshness["failures_since"] > 0).any()
    if check and (failing or interrupted or orphans):
        sys.exit(1)


@cli.command("datasets")
@pass_context
def datasets(context: Context) -> None:
    """List the dataset names `export` and the API accept, with titles and sources."""
    from db.datasets import DATASETS
    from db.queries import dataset_source_ids

    cited = dataset_source_ids(context.reading())
    for dataset in DATASETS.values():
        click.echo(f"{dataset.name:<26} {dataset.title}")
        ids = sorted(set(cited.loc[cited.dataset == dataset.name, "source_id"]))
        if ids:
            click.echo(f"{'':<26} sources: {', '.join(ids)}")
        elif dataset.name == "sources":
            click.echo(f"{'':<26} the source records themselves")
        elif not dataset.published:
            click.echo(f"{'':<26} sources: loaded trace files (each row names its file)")
        else:
            click.echo(f"{'':<26} sources: none loaded yet (run `ironriver etl run`)")


@cli.command("export")
@click.argument("name")
@click.option("--from", "year_from", type=int, metavar="YEAR", help="First year to include.")
@click.option("--to", "year_to", type=int, metavar="YEAR", help="Last year to include.")
@click.option(
    "--measure",
    metavar="MEASURE",
    help="count, share, per_100k or per_100_dealers (DERIVED rates, with count, denominator and "
    "both citations on every row), or one of the dataset's own measure names.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "json", "zip", "xlsx"]),
    default="csv",
    show_default=True,
    help="Output format; zip and xlsx are the API's (zip: data.csv, datapackage.json, README.md, "
    "LEEME.md; xlsx: sheets data, columns, sources, README, LEEME).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File to write (default stdout).",
)
@click.option(
    "--site",
    default="",
    metavar="URL",
    help="Address the dashboard is served at: a zip's or workbook's permalink is its download there "
    "(default: the download's path alone).",
)
@pass_context
def export(
    context: Context,
    name: str,
    year_from: int | None,
    year_to: int | None,
    measure: str | None,
    fmt: str,
    output: Path | None,
    site: str,
) -> None:
    """Write dataset NAME (see `ironriver datasets`) as CSV, JSON, a zip or an Excel workbook,
    with sources on every row."""
    from db.datasets import DATASETS, Filters, InvalidRequest, write_rows

    if name not in DATASETS:
        raise click.BadParameter(
            f"unknown dataset {name!r}; see `ironriver datasets`", param_hint="NAME"
        )
    try:
        filters = Filters.build(year_from=year_from, year_to=year_to, measure=measure)
        DATASETS[name].refuse_unapplied(filters)
    except InvalidRequest as error:
        raise click.UsageError(str(error)) from error
    engine = context.reading()
    frame = DATASETS[name].query(engine, filters)
    if fmt not in ("csv", "json"):  # the self-citing downloads (db/workbook.py)
        _write_self_citing(engine, fmt, name, filters, frame, site, output)
        return
    stream = output.open("w", encoding="utf-8", newline="") if output else sys.stdout
    try:
        for chunk in write_rows(frame, fmt):
            stream.write(chunk)
    finally:
        if output:
            stream.close()


def _write_self_citing(
    engine: Engine,
    fmt: str,
    name: str,
    filters: Filters,
    frame: pd.DataFrame,
    site: str,
    output: Path | None,
) -> None:
    """The zip or workbook `/api/v1/<name>.<fmt>` gives for the same rows, built by the same
    function."""
    from db import queries, workbook
    from db.datasets import Filters, Selection

    body = workbook.self_citing_download(
        fmt,
        name,
        filters,
        frame,
        infos=queries.dataset_infos(engine),
        sources=Selection("sources", Filters()).rows(engine),
        data_version=queries.data_version(engine),
        site=site,
    )
    if output:
        output.write_bytes(body)
    else:
        click.echo(body, nl=False)  # bytes go to stdout's binary stream


@cli.command("serve")
@click.option(
    "--host", default="127.0.0.1", show_default=True, metavar="HOST", help="Address to listen on."
)
@click.option(
    "--port", default=8050, show_default=True, type=int, metavar="PORT", help="Port to listen on."
)
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    metavar="N",
    help="More than 1 serves with gunicorn worker processes (for PostgreSQL deployments).",
)
@click.option("--debug", is_flag=True, help="Dash debug mode with hot reload (development only).")
@pass_context
def serve(context: Context, host: str, port: int, workers: int, debug: bool) -> None:
    """Serve the dashboard (default http://127.0.0.1:8050)."""
    context.reading().dispose()
    if workers > 1:
        # gunicorn takes over this process; each worker builds its own app from the environment.
        gunicorn = [sys.executable, "-m", "gunicorn", "--workers", str(workers)]
        os.execv(sys.executable, [*gunicorn, "--bind", f"{host}:{port}", "dashboard.wsgi:server"])
    from dashboard.app import create_app
    from dashboard.guard import QuietRequestHandler

    app = create_app(context.settings, warm_new_versions=True)
    app.run(host=host, port=port, debug=debug, request_handler=QuietRequestHandler)


def main(first_passes: Begun | None = None) -> None:
    """Run the command line; `first_passes`: those `etl.launcher` began for `etl load-traces`."""
    cli(prog_name="ironriver", obj=first_passes)


if __name__ == "__main__":
    main()
