"""The SELECTs the dashboard, the API and `ironriver export` run (published figures: `db/facts.py`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import Engine, Select, and_, case, distinct, func, literal, select

from db.message import Message
from db.models import (
    DatasetInfo,
    Estimate,
    EtlRun,
    Event,
    Fact,
    MxState,
    RunStatus,
    Source,
    TraceAggregate,
    TraceFile,
    UsState,
)
from db.viewstate import YEAR_MAX, YEAR_MIN, InvalidInput, InvalidRequest, ViewState, parse
from db.vocabulary import STATE_LEVELS, US_SOURCED_CATEGORIES

# Text columns hold Python strings whether or not pyarrow (the trace loader's extra) is
# installed: pandas 3 would otherwise store them as Arrow strings, which turns a Message (a str
# that remembers its template, for the Spanish pages) into a plain str.
pd.set_option("mode.string_storage", "python")

# Page-level measures: `count` keeps figures in their own unit, `share` keeps published percents.
MEASURE_UNITS = {"count": None, "share": "percent"}
# The URL parameters a `Filters` is made of.
URL_FILTERS = ("from", "to", "year", "measure", "period", "release", "state", "kinds")
# The dataset of population and dealer counts that rates divide by (db/rates.py).
DENOMINATORS = "denominators"
# Trace dimensions whose keys are state codes (USPS, INEGI CVE_ENT).
STATE_DIMENSIONS = ("source_state", "recovery_state")


@dataclass(frozen=True)
class Filters:
    """The filters a page, an API call and an export share; all optional."""

    year_from: int | None = None
    year_to: int | None = None
    year: int | None = None
    measure: str | None = None
    period: str | None = None
    release: str | None = None
    state: str | None = None
    kinds: tuple[str, ...] = ()

    @classmethod
    def build(cls, **values: object) -> Filters:
        filters = cls(**{k: v for k, v in values.items() if v not in (None, "", ())})  # type: ignore[arg-type]
        if (
            filters.year_from is not None
            and filters.year_to is not None
            and filters.year_from > filters.year_to
        ):
            raise InvalidRequest(f"'from' ({filters.year_from}) is after 'to' ({filters.year_to})")
        for year in (filters.year_from, filters.year_to, filters.year):
            if year is not None and not YEAR_MIN <= year <= YEAR_MAX:
                raise InvalidRequest(f"year {year} is outside {YEAR_MIN}-{YEAR_MAX}")
        return filters

    @classmethod
    def from_args(cls, args: Mapping[str, object]) -> Filters:
        """Parse URL query parameters through the one strict parser every view uses."""
        parsed = parse(args, allowed=URL_FILTERS)
        if parsed.problems:
            raise InvalidInput(parsed.problems)
        return cls.of(parsed.state)

    @classmethod
    def of(cls, state: ViewState) -> Filters:
        """The dataset filters a parsed URL asks for."""
        return cls(
            year_from=state.year_from,
            year_to=state.year_to,
            year=state.year,
            measure=state.measure,
            period=state.period,
            release=state.release,
            state=state.state,
            kinds=state.kinds or (),
        )

    def as_params(self) -> dict[str, str]:
        """The URL query parameters that reproduce these filters."""
        params = {
            "from": self.year_from,
            "to": self.year_to,
            "year": self.year,
            "measure": self.measure,
            "period": self.period,
            "release": self.release,
            "state": self.state,
            "kinds": ",".join(self.kinds) or None,
        }
        return {k: str(v) for k, v in params.items() if v is not None}


def read_frame(engine: Engine, query: Select) -> pd.DataFrame:
    """The rows of `query` as a DataFrame, on a connection of its own."""
    with engine.connect() as connection:
        return pd.read_sql(query, connection)


def whole_numbers(values: pd.Series) -> pd.Series:
    """Counts stored as floats print as 17352, not 17352.0; NULL stays empty, never 0."""
    # Built as an object Series on purpose: pandas would infer float64 back from a `.map`.
    return pd.Series(
        [None if pd.isna(v) else int(v) if float(v).is_integer() else float(v) for v in values],
        index=values.index,
        dtype=object,
    )


def _year_window(query: Select, start: Any, end: Any, filters: Filters) -> Select:
    if filters.year is not None:
        query = query.where(start == filters.year, end == filters.year)
    if filters.year_from is not None:
        query = query.where(start >= filters.year_from)
    if filters.year_to is not None:
        query = query.where(end <= filters.year_to)
    return query


def state_iso_codes(engine: Engine) -> dict[str, str]:
    """ISO 3166-2 code by USPS or INEGI code ("TX" -> "US-TX", "09" -> "MX-CMX").

    Downloads carry it beside every state code, so "09" stays Ciudad de México in a
    spreadsheet that has turned it into 9.
    """
    us = select(UsState.usps)
    mx = select(MxState.cve_ent, MxState.iso_3166_2).where(MxState.iso_3166_2.is_not(None))
    with engine.connect() as connection:
        codes = {code: f"US-{code}" for (code,) in connection.execute(us)}
        codes.update({code: str(iso) for code, iso in connection.execute(mx)})
    return codes


def estimates(engine: Engine, filters: Filters = Filters()) -> pd.DataFrame:
    query: Select = (
        select(
            Estimate.question,
            Estimate.measure,
            Estimate.period,
            Estimate.year_start,
            Estimate.year_end,
            Estimate.low,
            Estimate.central,
            Estimate.high,
            Estimate.unit,
            Estimate.value_qualifier,
            Estimate.producer,
            Estimate.method_note,
            Estimate.why_differs,
            Estimate.caveats,
            Estimate.status,
            Estimate.source_id,
            Estimate.also_source_ids,
            Source.citation,
            Source.url.label("source_url"),
        )
        .join(Source, Source.id == Estimate.source_id)
        .order_by(Estimate.question, Estimate.id)
    )
    query = _year_window(query, Estimate.year_start, Estimate.year_end, filters)
    if filters.measure is not None:
        query = query.where(Estimate.question == filters.measure)
    frame = read_frame(engine, query)
    for column in ("low", "central", "high", "year_start", "year_end"):
        frame[column] = whole_numbers(frame[column])
    frame["status"] = frame["status"].map(str)
    return frame


def events(engine: Engine, filters: Filters = Filters()) -> pd.DataFrame:
    query: Select = (
        select(
            Event.date_start,
            Event.date_end,
            Event.date_precision,
            Event.date_label,
            Event.kind,
            Event.title_en,
            Event.title_es,
            Event.description,
            Event.participants,
            Event.status,
            Event.source_id,
            Event.also_source_ids,
            Source.citation,
            Source.url.label("source_url"),
        )
        .join(Source, Source.id == Event.source_id)
        # Undated accounts last on every backend (SQLite sorts NULL first, PostgreSQL last).
        .order_by(Event.date_start.is_(None), Event.date_start, Event.id)
    )
    if filters.year_from is not None:
        query = query.where(Event.date_start >= dt.date(filters.year_from, 1, 1))
    if filters.year_to is not None:
        query = query.where(Event.date_start <= dt.date(filters.year_to, 12, 31))
    if filters.year is not None:
        query = query.where(func.extract("year", Event.date_start) == filters.year)
    if filters.kinds:
        query = query.where(Event.kind.in_(filters.kinds))
    frame = read_frame(engine, query)
    frame["status"] = frame["status"].map(str)
    return frame


def sources(engine: Engine, filters: Filters = Filters()) -> pd.DataFrame:
    """Every source record; `status` says whether it is a PRIMARY document or a SECONDARY copy."""
    query: Select = select(
        Source.id.label("source_id"),
        Source.publisher,
        Source.title,
        Source.report_id,
        Source.url,
        Source.date_published,
        Source.date_accessed,
        Source.license,
        Source.citation,
        Source.caveats,
        Source.source_type,
        Source.cites_source_id,
    ).order_by(Source.id)
    frame = read_frame(engine, query)
    frame["status"] = frame["source_type"].str.upper()
    return frame


# Trace datasets come from loaded files, never from published figures; each row says which file.
def _trace_file_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Every row names its file: a loaded trace file is its own source, not a published figure."""
    frame["status"] = frame.pop("synthetic").map(lambda s: "SYNTHETIC" if s else "LOADED_FILE")
    frame["source_id"] = "trace-file:" + frame["file_checksum"].str[:12]
    # A Message: English in downloads, and the dashboard's source line can write it in Spanish.
    frame["citation"] = [
        Message(
            "eTrace-style export {file} (sha256 {checksum}), loaded {date}; "
            "record-level traces, not a published figure",
            file=file,
            checksum=checksum,
            date=date[:10],
        )
        for file, checksum, date in zip(
            frame["trace_file"],
            frame["file_checksum"],
            frame["loaded_at"].astype(str),
            strict=True,
        )
    ]
    return frame


def traces_by(engine: Engine, dimension: str, filters: Filters = Filters()) -> pd.DataFrame:
    """Loaded traces counted by one dimension over the filtered years, per trace file."""
    firearms = func.sum(TraceAggregate.firearms).label("firearms")
    query: Select = (
        select(
            TraceAggregate.key.label(dimension),
            firearms,
            TraceFile.file_name.label("trace_file"),
            TraceFile.checksum.label("file_checksum"),
            TraceFile.loaded_at,
            TraceFile.synthetic,
        )
        .join(TraceFile, TraceFile.id == TraceAggregate.trace_file_id)
        .where(TraceAggregate.dimension == dimension)
        .group_by(TraceAggregate.key, TraceFile.id)
        .order_by(TraceFile.id, firearms.desc(), TraceAggregate.key)
    )
    query = _year_window(query, TraceAggregate.year, TraceAggregate.year, filters)
    query = _one_file(query, filters)
    frame = read_frame(engine, query)
    # The share is of the file's whole total for the years asked, so it is taken before `state`.
    totals = frame.groupby("file_checksum")["firearms"].transform("sum")
    frame.insert(2, "share_pct", (100 * frame["firearms"] / totals).round(2))
    if filters.state is not None:
        frame = frame[frame[dimension] == filters.state].reset_index(drop=True)
    if dimension in STATE_DIMENSIONS:
        names = state_names(engine).set_index("code")["name"]
        frame.insert(1, "state_name", frame[dimension].map(names))
        frame.insert(2, "state_iso", frame[dimension].map(state_iso_codes(engine)))
    frame["year_from"] = filters.year if filters.year is not None else filters.year_from
    frame["year_to"] = filters.year if filters.year is not None else filters.year_to
    return _trace_file_columns(frame)


def _one_file(query: Select, filters: Filters) -> Select:
    """`release` names one trace file by its checksum (or a prefix, as in its `source_id`)."""
    if filters.release is None:
        return query
    wanted = filters.release.removeprefix("trace-file:")
    return query.where(func.substr(TraceFile.checksum, 1, len(wanted)) == wanted)


def traces_by_year(engine: Engine, filters: Filters = Filters()) -> pd.DataFrame:
    """Loaded traces per recovery year, with the US-sourced count and share, per trace file.

    With `state`, only traces of that state: first sold there (USPS code) or recovered there
    (INEGI CVE_ENT code).
    """
    if filters.state is not None:
        return _state_traces_by_year(engine, filters)
    us = func.sum(TraceAggregate.firearms).filter(
        TraceAggregate.dimension == "source_category",
        TraceAggregate.key.in_(US_SOURCED_CATEGORIES),
    )
    total = func.sum(TraceAggregate.firearms).filter(TraceAggregate.dimension == "total")
    return _traces_per_year(engine, filters, total, us)


def _with_us_share(frame: pd.DataFrame) -> pd.DataFrame:
    frame["us_sourced"] = frame["us_sourced"].fillna(0).astype(int)
    frame.insert(3, "us_sourced_pct", (100 * frame["us_sourced"] / frame["firearms"]).round(2))
    return _trace_file_columns(frame)


def _state_traces_by_year(engine: Engine, filters: Filters) -> pd.DataFrame:
    """One state's traces per year from the aggregates: a US state counts the traces first sold
    there (all US-sourced by definition), a Mexican state those recovered there."""
    state = filters.state or ""
    total_dimension, us_dimension = (
        ("recovery_state", "us_sourced_by_mx_state")
        if state.isdigit()
        else ("source_state", "source_state")
    )
    of_state = TraceAggregate.key == state
    total = func.sum(TraceAggregate.firearms).filter(TraceAggregate.dimension == total_dimension)
    us = func.sum(TraceAggregate.firearms).filter(TraceAggregate.dimension == us_dimension)
    return _traces_per_year(
        engine,
        filters,
        total,
        us,
        of_state,
        TraceAggregate.dimension.in_((total_dimension, us_dimension)),
    )


def _traces_per_year(
    engine: Engine, filters: Filters, total: Any, us: Any, *where: Any
) -> pd.DataFrame:
    """Traces and US-sourced traces per year and trace file, from the aggregates."""
    query: Select = (
        select(
            TraceAggregate.year,
            total.label("firearms"),
            us.label("us_sourced"),
            TraceFile.file_name.label("trace_file"),
            TraceFile.checksum.label("file_checksum"),
            TraceFile.loaded_at,
            TraceFile.synthetic,
        )
        .join(TraceFile, TraceFile.id == TraceAggregate.trace_file_id)
        .where(*where)
        .group_by(TraceAggregate.year, TraceFile.id)
        .order_by(TraceFile.id, TraceAggregate.year)
    )
    query = _year_window(query, TraceAggregate.year, TraceAggregate.year, filters)
    return _with_us_share(read_frame(engine, _one_file(query, filters)))


def dataset_infos(engine: Engine) -> pd.DataFrame:
    """Title, description, caveats and last load of every published dataset."""
    query: Select = (
        select(
            DatasetInfo.name,
            DatasetInfo.title,
            DatasetInfo.description,
            DatasetInfo.caveats,
            DatasetInfo.source_module,
            EtlRun.finished_at.label("loaded_at"),
            EtlRun.id.label("run_id"),
        )
        .join(EtlRun, EtlRun.id == DatasetInfo.run_id)
        .order_by(DatasetInfo.name)
    )
    return read_frame(engine, query)


def dataset_source_ids(engine: Engine) -> pd.DataFrame:
    """Which sources each published dataset cites, with how many rows cite each."""
    parts = [
        select(Fact.dataset.label("dataset"), Fact.source_id, func.count().label("rows")).group_by(
            Fact.dataset, Fact.source_id
        ),
        select(literal("estimates"), Estimate.source_id, func.count()).group_by(Estimate.source_id),
        select(literal("events"), Event.source_id, func.count()).group_by(Event.source_id),
    ]
    frames = [read_frame(engine, part) for part in parts]
    for frame in frames:
        frame.columns = ["dataset", "source_id", "rows"]
    return pd.concat(frames, ignore_index=True)


def data_version(engine: Engine) -> str:
    """Identifies the loaded data: changes whenever a load commits new rows."""
    query: Select = select(func.max(EtlRun.id), func.max(EtlRun.finished_at)).where(
        EtlRun.status == RunStatus.LOADED
    )
    with engine.connect() as connection:
        run_id, finished = connection.execute(query).one()
    if run_id is None:
        return "empty"
    stamp = finished.strftime("%Y%m%d") if finished else "unknown"
    return f"{stamp}-r{run_id}"


def state_names(engine: Engine) -> pd.DataFrame:
    """Codes and names of every US and Mexican state, for labels and hover text."""
    us = select(UsState.usps.label("code"), UsState.name, literal("US").label("country"))
    mx = select(MxState.cve_ent, MxState.name, literal("MX"))
    frames = [read_frame(engine, q) for q in (us, mx)]
    frames[1].columns = frames[0].columns
    return pd.concat(frames, ignore_index=True)


def map_series(engine: Engine) -> pd.DataFrame:
    """Every published series with figures for single US or Mexican states, one row per unit."""
    query: Select = (
        select(
            Fact.dataset,
            Fact.release,
            Fact.period,
            func.min(Fact.year_start).label("year_start"),
            func.max(Fact.year_end).label("year_end"),
            Fact.geo_level,
            Fact.unit,
            # States with a figure; a NULL figure (not published) does not count.
            func.count(distinct(case((Fact.value.is_not(None), Fact.geo_code)))).label("states"),
            func.sum(
                case((and_(Fact.status == "UNVERIFIED", Fact.value.is_not(None)), 1), else_=0)
            ).label("unverified"),
        )
        # Denominators are what rates divide by, not a series of their own.
        .where(Fact.geo_level.in_(STATE_LEVELS.values()), Fact.dataset != DENOMINATORS)
        .group_by(Fact.dataset, Fact.release, Fact.period, Fact.geo_level, Fact.unit)
        .order_by(Fact.dataset, func.max(Fact.year_end).desc(), Fact.release, Fact.period)
    )
    return read_frame(engine, query)


def trace_files(engine: Engine) -> pd.DataFrame:
    """Every loaded trace file with the recovery years it covers and its trace count."""
    query: Select = (
        select(
            TraceFile.id,
            TraceFile.file_name,
            TraceFile.checksum,
            TraceFile.loaded_at,
            TraceFile.synthetic,
            func.min(TraceAggregate.year).label("year_min"),
            func.max(TraceAggregate.year).label("year_max"),
            func.sum(TraceAggregate.firearms).label("firearms"),
        )
        .join(TraceAggregate, TraceAggregate.trace_file_id == TraceFile.id)
        .where(TraceAggregate.dimension == "total")
        .group_by(TraceFile.id)
        .order_by(TraceFile.id)
    )
    frame = read_frame(engine, query)
    frame["synthetic"] = frame["synthetic"].astype(bool)
    frame["source_id"] = "trace-file:" + frame["checksum"].str[:12]
    return frame


def trace_file_years(engine: Engine) -> pd.DataFrame:
    """The recovery years each loaded trace file has traces for."""
    query: Select = (
        select(TraceAggregate.trace_file_id, TraceAggregate.year)
        .where(TraceAggregate.dimension == "total")
        .order_by(TraceAggregate.trace_file_id, TraceAggregate.year)
    )
    return read_frame(engine, query)


def dataset_status_counts(engine: Engine) -> pd.DataFrame:
    """How many rows of each published dataset are VERIFIED, DERIVED or UNVERIFIED."""
    parts = [
        select(Fact.dataset, Fact.status, func.count()).group_by(Fact.dataset, Fact.status),
        select(literal("estimates"), Estimate.status, func.count()).group_by(Estimate.status),
        select(literal("events"), Event.status, func.count()).group_by(Event.status),
    ]
    frames = [read_frame(engine, part) for part in parts]
    for frame in frames:
        frame.columns = ["dataset", "status", "rows"]
    frame = pd.concat(frames, ignore_index=True)
    frame["status"] = frame["status"].map(lambda s: getattr(s, "value", s))
    return frame
