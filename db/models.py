"""The schema: typed SQLAlchemy 2.0 models for sources, ETL runs, published figures and traces."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Date,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Stable constraint names, so Alembic migrations name the same thing on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Status(enum.StrEnum):
    """How a figure was checked (see the data README): read as written, computed, or not found."""

    VERIFIED = "VERIFIED"
    DERIVED = "DERIVED"
    UNVERIFIED = "UNVERIFIED"
    # A placeholder row for a place the source gives no figure for: never counted as a figure.
    NO_FIGURE = "NO_FIGURE"


class RunStatus(enum.StrEnum):
    RUNNING = "running"
    LOADED = "loaded"
    SKIPPED = "skipped"
    FAILED = "failed"
    REFUSED = "refused"


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    # Stored as the value text with a CHECK constraint: readable in SQL and portable.
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        values_callable=lambda members: [m.value for m in members],
        length=16,
    )


class Source(Base):
    """A publication a figure comes from; a secondary source points at the one it cites."""

    __tablename__ = "sources"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    publisher: Mapped[str] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(Text)
    report_id: Mapped[str | None] = mapped_column(String(80))
    url: Mapped[str] = mapped_column(Text)
    date_published: Mapped[str] = mapped_column(String(32))
    date_accessed: Mapped[dt.date] = mapped_column(Date)
    license: Mapped[str] = mapped_column(Text)
    citation: Mapped[str] = mapped_column(Text)
    caveats: Mapped[str | None] = mapped_column(Text)
    source_type: Mapped[str] = mapped_column(String(16))
    cites_source_id: Mapped[str | None] = mapped_column(
        String(16), ForeignKey("sources.id", use_alter=True)
    )


class EtlRun(Base):
    """One attempt to load one input: an embedded source module or a trace file."""

    __tablename__ = "etl_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # "embedded" or "traces"
    source: Mapped[str] = mapped_column(String(200), index=True)
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[RunStatus] = mapped_column(_enum(RunStatus, "run_status"))
    input_checksum: Mapped[str | None] = mapped_column(String(64))
    rows_read: Mapped[int] = mapped_column(Integer, default=0)
    rows_loaded: Mapped[int] = mapped_column(Integer, default=0)
    rows_rejected: Mapped[int] = mapped_column(Integer, default=0)
    rows_duplicate: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)


class RejectedRow(Base):
    """A trace row set aside with its reason; `fields` holds allow-listed columns only."""

    __tablename__ = "rejected_rows"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("etl_runs.id"), index=True)
    file_name: Mapped[str] = mapped_column(String(255))
    line_number: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    fields: Mapped[dict[str, str]] = mapped_column(JSON)


class TraceFile(Base):
    """A loaded eTrace-style export; its traces and aggregates point here."""

    __tablename__ = "trace_files"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    file_name: Mapped[str] = mapped_column(String(255))
    checksum: Mapped[str] = mapped_column(String(64), unique=True)
    loaded_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    run_id: Mapped[int] = mapped_column(ForeignKey("etl_runs.id"))
    encoding: Mapped[str] = mapped_column(String(16))
    synthetic: Mapped[bool] = mapped_column(default=False)


class Trace(Base):
    """One traced firearm, allow-listed columns only (no serials, names or addresses)."""

    __tablename__ = "traces"
    __table_args__ = (CheckConstraint("time_to_crime_days >= 0", name="ttc_not_negative"),)

    # No foreign key (migration 0004): PostgreSQL would check it with a query per inserted row,
    # half the server's work in a load. The loader writes only the id of the trace_files row it
    # inserted in the same transaction, refuses a batch naming another, and nothing deletes a
    # trace file; db/integrity.py finds orphans for `ironriver etl status --check`. No index
    # (migration 0007): that check was its only reader, and it cost every load.
    trace_file_id: Mapped[int] = mapped_column(Integer)
    # The natural key (migration 0005): unique across loads, so no surrogate id, no sequence.
    # Compared bytewise (migration 0007), as the loader sorts it: on PostgreSQL a libc collation
    # calls strcoll for every comparison in the key's index; SQLite's BINARY already is bytewise.
    trace_number: Mapped[str] = mapped_column(
        String(64).with_variant(String(64, collation="C"), "postgresql"), primary_key=True
    )
    recovery_date: Mapped[dt.date] = mapped_column(Date)
    recovery_year: Mapped[int] = mapped_column(Integer)
    recovery_country: Mapped[str] = mapped_column(String(2))
    recovery_state: Mapped[str] = mapped_column(String(2))
    recovery_city: Mapped[str | None] = mapped_column(String(120))
    firearm_type: Mapped[str] = mapped_column(String(16))
    manufacturer: Mapped[str | None] = mapped_column(String(120))
    caliber: Mapped[str | None] = mapped_column(String(40))
    country_of_manufacture: Mapped[str | None] = mapped_column(String(60))
    source_category: Mapped[str] = mapped_column(String(16))
    source_state: Mapped[str | None] = mapped_column(String(2))
    purchase_date: Mapped[dt.date | None] = mapped_column(Date)
    time_to_crime_days: Mapped[int | None] = mapped_column(Integer)


class TraceAggregate(Base):
    """Counts of loaded traces per file, year and one dimension, refreshed after each load."""

    __tablename__ = "trace_aggregates"
    __table_args__ = (Index("ix_trace_aggregates_dimension_year", "dimension", "year"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    trace_file_id: Mapped[int] = mapped_column(ForeignKey("trace_files.id"), index=True)
    dimension: Mapped[str] = mapped_column(String(24))
    year: Mapped[int] = mapped_column(Integer)
    key: Mapped[str | None] = mapped_column(String(40))
    firearms: Mapped[int] = mapped_column(Integer)


class Fact(Base):
    """One published figure in long form; a missing value is NULL with a qualifier, never zero."""

    __tablename__ = "facts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset: Mapped[str] = mapped_column(String(40), index=True)
    measure: Mapped[str] = mapped_column(String(60))
    period: Mapped[str] = mapped_column(String(80))
    year_start: Mapped[int | None] = mapped_column(Integer)
    year_end: Mapped[int | None] = mapped_column(Integer)
    release: Mapped[str | None] = mapped_column(String(200))
    geo_level: Mapped[str] = mapped_column(String(24))
    geo_code: Mapped[str] = mapped_column(String(80))
    geo_name: Mapped[str] = mapped_column(String(200))
    partner_code: Mapped[str | None] = mapped_column(String(8))
    partner_name: Mapped[str | None] = mapped_column(String(80))
    category: Mapped[str | None] = mapped_column(String(80))
    value: Mapped[float | None] = mapped_column(Float)
    value_qualifier: Mapped[str] = mapped_column(String(16))
    unit: Mapped[str] = mapped_column(String(16))
    status: Mapped[Status] = mapped_column(_enum(Status, "fact_status"))
    source_id: Mapped[str] = mapped_column(ForeignKey("sources.id"), index=True)
    also_source_ids: Mapped[str | None] = mapped_column(String(120))
    note: Mapped[str | None] = mapped_column(Text)
    run_id: Mapped[int] = mapped_column(ForeignKey("etl_runs.id"))


class Estimate(Base):
    """An estimate answering one question, with its range and the method behind it."""

    __tablename__ = "estimates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    question: Mapped[str] = mapped_column(String(40), index=True)
    measure: Mapped[str] = mapped_column(Text)
    period: Mapped[str] = mapped_column(String(80))
    year_start: Mapped[int | None] = mapped_column(Integer)
    year_end: Mapped[int | None] = mapped_column(Integer)
    low: Mapped[float | None] = mapped_column(Float)
    central: Mapped[float | None] = mapped_column(Float)
    high: Mapped[float | None] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(16))
    value_qualifier: Mapped[str] = mapped_column(String(16))
    producer: Mapped[str] = mapped_column(String(200))
    method_note: Mapped[str] = mapped_column(Text)
    why_differs: Mapped[str | None] = mapped_column(Text)
    caveats: Mapped[str | None] = mapped_column(Text)
    status: Mapped[Status] = mapped_column(_enum(Status, "estimate_status"))
    source_id: Mapped[str] = mapped_column(ForeignKey("sources.id"), index=True)
    also_source_ids: Mapped[str | None] = mapped_column(String(120))
    run_id: Mapped[int] = mapped_column(ForeignKey("etl_runs.id"))


class Event(Base):
    """A dated milestone (GC-Armas meetings, policy, funding, court cases) with its precision."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # NULL for an account its source does not date: it is listed, never placed on a time axis.
    date_start: Mapped[dt.date | None] = mapped_column(Date, index=True)
    date_end: Mapped[dt.date | None] = mapped_column(Date)
    date_precision: Mapped[str] = mapped_column(String(8))
    date_label: Mapped[str] = mapped_column(String(60))
    kind: Mapped[str] = mapped_column(String(24), index=True)
    title_en: Mapped[str] = mapped_column(Text)
    title_es: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    participants: Mapped[str | None] = mapped_column(Text)
    status: Mapped[Status] = mapped_column(_enum(Status, "event_status"))
    source_id: Mapped[str] = mapped_column(ForeignKey("sources.id"), index=True)
    also_source_ids: Mapped[str | None] = mapped_column(String(120))
    run_id: Mapped[int] = mapped_column(ForeignKey("etl_runs.id"))


class UsState(Base):
    __tablename__ = "us_states"

    usps: Mapped[str] = mapped_column(String(2), primary_key=True)
    fips: Mapped[str] = mapped_column(String(2), unique=True)
    name: Mapped[str] = mapped_column(String(60))


class MxState(Base):
    __tablename__ = "mx_states"

    cve_ent: Mapped[str] = mapped_column(String(2), primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    short_name: Mapped[str] = mapped_column(String(60))
    iso_3166_2: Mapped[str | None] = mapped_column(String(6))


class MxStateAlias(Base):
    __tablename__ = "mx_state_aliases"
    __table_args__ = (UniqueConstraint("alias"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alias: Mapped[str] = mapped_column(String(80))
    cve_ent: Mapped[str] = mapped_column(ForeignKey("mx_states.cve_ent"))


class DatasetInfo(Base):
    """A dataset's title, description and caveats, written by the ETL so the app reads them here."""

    __tablename__ = "datasets"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    title: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text)
    caveats: Mapped[list[str]] = mapped_column(JSON)
    source_module: Mapped[str] = mapped_column(String(40))
    run_id: Mapped[int] = mapped_column(ForeignKey("etl_runs.id"))
