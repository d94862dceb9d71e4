"""What an embedded source module is: its files, its checksum, and how its rows are validated and coded."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pandera.pandas as pa

from db import vocabulary
from db.models import Status
from db.vocabulary import ESTIMATE_QUESTIONS, EVENT_KINDS, GEO_LEVELS, MEASURES, STATE_LEVELS, UNITS
from geo.states import GEO_DIR, mx_state_codes, us_state_codes

DATA_DIR = Path(__file__).parent / "sources" / "data"
# This module holds the transforms, schemas and caveats every source shares; the vocabulary holds
# the codes those schemas accept.
SHARED_CODE = (Path(__file__), Path(vocabulary.__file__))

STATUSES = [s.value for s in Status]
# "not_published": the row exists so a map can say "no published figure"; its value is NULL.
QUALIFIERS = ["exact", "approx", "more_than", "less_than", "at_least", "at_most", "not_published"]

Frames = dict[str, pd.DataFrame]


class SourceError(ValueError):
    """A data file that does not match what its module expects; the source fails loudly."""


@dataclass(frozen=True)
class RemoteFile:
    """Where a source's raw file is published; a download stands in for the committed copy."""

    url: str
    replaces: str  # the name of the committed file in `SourceModule.files`


@dataclass(frozen=True)
class SourceModule:
    """One embedded data source: a module in `etl/sources/` and the files beside it.

    `name` is the CLI's `--only` value. `transform` turns the files (keyed by file name) into rows
    per table (keyed by table name). On a change, the rows the module owns are replaced as a
    whole: in `facts` the rows of its `dataset`, elsewhere the whole table.
    """

    name: str
    title: str
    description: str
    files: tuple[Path, ...]
    module_file: str
    transform: Callable[[Frames], Frames] = field(compare=False)
    dataset: str | None = None
    caveats: tuple[str, ...] = ()
    remote: RemoteFile | None = None

    def with_input(self, name: str, path: Path) -> SourceModule:
        """This source reading `path` in place of its committed file `name`."""
        files = tuple(path if f.name == name else f for f in self.files)
        if files == self.files:
            raise ValueError(f"source {self.name} has no file named {name!r}")
        return dataclasses.replace(self, files=files)

    def checksum(self) -> str:
        """sha256 over every input of the rows, so a change to any one reloads the source.

        The inputs: the data files and any other file of this source beside them (caveats), the
        module's code, the shared transforms, schemas and caveats, and the geo lookups.
        """
        digest = hashlib.sha256()
        beside = sorted(p for p in DATA_DIR.glob(f"{self.name}.*") if p.suffix != ".csv")
        lookups = [GEO_DIR / "states.py", *sorted(GEO_DIR.glob("*.csv"))]
        for path in [*self.files, *beside, Path(self.module_file), *SHARED_CODE, *lookups]:
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
        # Caveats are read from their own file: a reworded caveat reloads the dataset's record.
        digest.update("\n".join(self.caveats).encode())
        return digest.hexdigest()

    def rows(self) -> Frames:
        """The validated rows this source loads, per table, in the tables' column names."""
        frames = {
            path.name: pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
            for path in self.files
        }
        return self.transform(frames)


def _validated(frame: pd.DataFrame, schema: pa.DataFrameSchema, what: str) -> None:
    try:
        schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as error:
        raise SourceError(
            f"{what} file does not match its schema:\n{error.failure_cases}"
        ) from error


def _nulls(frame: pd.DataFrame) -> pd.DataFrame:
    """Blank cells become NULL (never zero) before anything is written."""
    return frame.astype(object).where(frame.notna() & (frame != ""), None)


def _int_or_none(text: object) -> int | None:
    return None if text in (None, "") else int(str(text))


def _float_or_none(text: object) -> float | None:
    if text in (None, ""):
        return None
    return float(str(text).replace(",", ""))


FACT_FILE_SCHEMA = pa.DataFrameSchema(
    {
        "measure": pa.Column(str, pa.Check.isin(list(MEASURES))),
        "period": pa.Column(str, pa.Check.str_length(min_value=1)),
        "year_start": pa.Column(str, pa.Check.str_matches(r"^(\d{4})?$")),
        "year_end": pa.Column(str, pa.Check.str_matches(r"^(\d{4})?$")),
        "release": pa.Column(str),
        "geo_level": pa.Column(str, pa.Check.isin(list(GEO_LEVELS))),
        "geo_name": pa.Column(str, pa.Check.str_length(min_value=1)),
        "partner_geo_name": pa.Column(str),
        "category": pa.Column(str),
        "value": pa.Column(str, pa.Check.str_matches(r"^(-?\d+(\.\d+)?)?$")),
        "value_qualifier": pa.Column(str, pa.Check.isin(QUALIFIERS)),
        "unit": pa.Column(str, pa.Check.isin(list(UNITS))),
        "status": pa.Column(str, pa.Check.isin(STATUSES)),
        "source_id": pa.Column(str, pa.Check.str_matches(r"^[SP]\d+[a-z]?$")),
        "also_source_ids": pa.Column(str),
        "note": pa.Column(str),
    },
    strict=True,
    coerce=False,
)

COUNTRY_CODES = {"mexico": "MX", "méxico": "MX", "united states": "US", "u.s.": "US"}


def _geo_codes(levels: pd.Series, names: pd.Series) -> list[str]:
    """Names become codes here, at the edge; any unknown name fails with the whole list."""
    codes: list[str] = []
    for level, name in zip(levels, names, strict=True):
        if level == "us_state":
            codes.append(us_state_codes([name])[0])
        elif level == "us_state_group":
            codes.append("+".join(sorted(us_state_codes(_split_group(name)))))
        elif level == "mx_state":
            codes.append(mx_state_codes([name])[0])
        elif level == "country":
            if name.casefold() not in COUNTRY_CODES:
                raise SourceError(f"unknown country name {name!r}")
            codes.append(COUNTRY_CODES[name.casefold()])
        else:
            codes.append(name)
    return codes


def _split_group(name: str) -> list[str]:
    return [part.strip() for part in name.split("+") if part.strip()]


def _check_unknown_names(frame: pd.DataFrame) -> None:
    """Collect every unmatched state name across the file before failing, not one at a time."""
    us = frame.loc[frame.geo_level == "us_state", "geo_name"].tolist()
    for group in frame.loc[frame.geo_level == "us_state_group", "geo_name"]:
        us.extend(_split_group(group))
    mx = frame.loc[frame.geo_level == "mx_state", "geo_name"].tolist()
    mx.extend(name for name in frame.partner_geo_name if name)
    problems = []
    for lookup, names in ((us_state_codes, us), (mx_state_codes, mx)):
        try:
            lookup(names)
        except ValueError as error:
            problems.append(str(error))
    if problems:
        raise SourceError("; ".join(problems))


def _check_one_category_per_state_series(frame: pd.DataFrame) -> None:
    """A map series (measure, release, period of state figures) counts one firearm category.

    Long guns in one state and short guns in another on one colour scale would compare
    different things; such rows must come as separate series (e.g. by release).
    """
    states = frame[frame.geo_level.isin(list(STATE_LEVELS.values()))]
    counts = states.groupby(["measure", "release", "period"])["category"].nunique()
    mixed = counts[counts > 1]
    if not mixed.empty:
        raise SourceError(
            "state series mixing firearm categories (split them): "
            + "; ".join(" / ".join(key) for key in mixed.index)
        )


def facts_transform(frames: Frames) -> Frames:
    """Validate a facts file and code its geographies; the result has the `facts` columns."""
    (frame,) = frames.values()
    _validated(frame, FACT_FILE_SCHEMA, "facts")
    _check_unknown_names(frame)
    _check_one_category_per_state_series(frame)
    out = pd.DataFrame(
        {
            "measure": frame.measure,
            "period": frame.period,
            "year_start": frame.year_start.map(_int_or_none),
            "year_end": frame.year_end.map(_int_or_none),
            "release": frame.release,
            "geo_level": frame.geo_level,
            "geo_code": _geo_codes(frame.geo_level, frame.geo_name),
            "geo_name": frame.geo_name,
            "partner_code": [mx_state_codes([n])[0] if n else None for n in frame.partner_geo_name],
            "partner_name": frame.partner_geo_name,
            "category": frame.category,
            "value": frame.value.map(_float_or_none),
            "value_qualifier": frame.value_qualifier,
            "unit": frame.unit,
            "status": frame.status,
            "source_id": frame.source_id,
            "also_source_ids": frame.also_source_ids,
            "note": frame.note,
        }
    )
    return {"facts": _nulls(out)}


ESTIMATE_FILE_SCHEMA = pa.DataFrameSchema(
    {
        "question": pa.Column(str, pa.Check.isin(list(ESTIMATE_QUESTIONS))),
        "measure": pa.Column(str, pa.Check.str_length(min_value=1)),
        "period": pa.Column(str, pa.Check.str_length(min_value=1)),
        "year_start": pa.Column(str, pa.Check.str_matches(r"^(\d{4})?$")),
        "year_end": pa.Column(str, pa.Check.str_matches(r"^(\d{4})?$")),
        "low": pa.Column(str, pa.Check.str_matches(r"^(\d+(\.\d+)?)?$")),
        "central": pa.Column(str, pa.Check.str_matches(r"^(\d+(\.\d+)?)?$")),
        "high": pa.Column(str, pa.Check.str_matches(r"^(\d+(\.\d+)?)?$")),
        "unit": pa.Column(str, pa.Check.str_length(min_value=1)),
        "value_qualifier": pa.Column(str, pa.Check.isin(QUALIFIERS)),
        "producer": pa.Column(str, pa.Check.str_length(min_value=1)),
        "method_note": pa.Column(str, pa.Check.str_length(min_value=1)),
        "why_differs": pa.Column(str),
        "caveats": pa.Column(str),
        "status": pa.Column(str, pa.Check.isin(STATUSES)),
        "source_id": pa.Column(str, pa.Check.str_matches(r"^[SP]\d+[a-z]?$")),
        "also_source_ids": pa.Column(str),
    },
    strict=True,
)


def estimates_transform(frames: Frames) -> Frames:
    (frame,) = frames.values()
    _validated(frame, ESTIMATE_FILE_SCHEMA, "estimates")
    out = frame.copy()
    for column in ("year_start", "year_end"):
        out[column] = out[column].map(_int_or_none)
    for column in ("low", "central", "high"):
        out[column] = out[column].map(_float_or_none)
    return {"estimates": _nulls(out)}


EVENT_FILE_SCHEMA = pa.DataFrameSchema(
    {
        # Empty only for an undated account (precision "undated"): it is never placed on a time axis.
        "date_start": pa.Column(str, pa.Check.str_matches(r"^(\d{4}-\d{2}-\d{2})?$")),
        "date_end": pa.Column(str, pa.Check.str_matches(r"^(\d{4}-\d{2}-\d{2})?$")),
        "date_precision": pa.Column(str, pa.Check.isin(["year", "month", "day", "undated"])),
        "date_label": pa.Column(str, pa.Check.str_length(min_value=1)),
        "kind": pa.Column(str, pa.Check.isin(list(EVENT_KINDS))),
        "title_en": pa.Column(str, pa.Check.str_length(min_value=1)),
        "title_es": pa.Column(str, pa.Check.str_length(min_value=1)),
        "description": pa.Column(str),
        "participants": pa.Column(str),
        "status": pa.Column(str, pa.Check.isin(STATUSES)),
        "source_id": pa.Column(str, pa.Check.str_matches(r"^[SP]\d+[a-z]?$")),
        "also_source_ids": pa.Column(str),
    },
    strict=True,
)


def events_transform(frames: Frames) -> Frames:
    (frame,) = frames.values()
    _validated(frame, EVENT_FILE_SCHEMA, "events")
    undated = frame.date_precision == "undated"
    if ((frame.date_start == "") != undated).any():
        raise SourceError("an event has no start date exactly when its precision is 'undated'")
    out = frame.copy()
    out["date_start"] = out.date_start.map(lambda d: dt.date.fromisoformat(d) if d else None)
    out["date_end"] = out.date_end.map(lambda d: dt.date.fromisoformat(d) if d else None)
    return {"events": _nulls(out)}


BIBLIOGRAPHY_SCHEMA = pa.DataFrameSchema(
    {
        "source_id": pa.Column(str, pa.Check.str_matches(r"^[SP]\d+[a-z]?$"), unique=True),
        "publisher": pa.Column(str, pa.Check.str_length(min_value=1)),
        "title": pa.Column(str, pa.Check.str_length(min_value=1)),
        "report_id": pa.Column(str),
        "url": pa.Column(str, pa.Check.str_matches(r"^https?://")),
        "date_published": pa.Column(
            str, pa.Check.str_matches(r"^(\d{4}(-\d{2}(-\d{2})?)?|n\.d\.)$")
        ),
        "date_accessed": pa.Column(str, pa.Check.str_matches(r"^\d{4}-\d{2}-\d{2}$")),
        "license": pa.Column(str, pa.Check.str_length(min_value=1)),
        "citation": pa.Column(str, pa.Check.str_length(min_value=1)),
        "caveats": pa.Column(str),
        "source_type": pa.Column(str, pa.Check.isin(["primary", "secondary"])),
        "cites_source_id": pa.Column(str),
    },
    strict=True,
)


def bibliography_transform(frames: Frames) -> Frames:
    (frame,) = frames.values()
    _validated(frame, BIBLIOGRAPHY_SCHEMA, "bibliography")
    known = set(frame.source_id)
    dangling = sorted(set(frame.cites_source_id) - known - {""})
    if dangling:
        raise SourceError(f"bibliography cites unknown sources: {', '.join(dangling)}")
    out = frame.rename(columns={"source_id": "id"})
    out["date_accessed"] = out.date_accessed.map(dt.date.fromisoformat)
    return {"sources": _nulls(out)}


def read_caveats(name: str) -> tuple[str, ...]:
    """The caveats of source `name`, one per line of `data/<name>.caveats.txt` (prose lives in data)."""
    path = DATA_DIR / f"{name}.caveats.txt"
    return tuple(
        line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
    )
