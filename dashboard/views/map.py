"""The map as a value: chosen series, measure and year -> each country's rows, layer and words."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

import pandas as pd

from dashboard import figures, text
from dashboard.data import AppData, ChartData
from dashboard.i18n import N_, _, ngettext
from dashboard.views import source_labels
from db import queries
from db.datasets import Filters, Selection
from db.viewstate import ViewState, from_callback, parse, shown
from db.vocabulary import STATE_LEVELS
from geo.states import all_codes

# English msgids, translated where shown.
COUNTRY_NAMES = {"US": N_("United States"), "MX": N_("Mexico")}
LAYER_NAMES = {"US": N_("United States layer"), "MX": N_("Mexico layer")}
# Which dataset a country's default comes from; other datasets with state figures are options.
PRIMARY = {"US": "source-states", "MX": "recovery-states"}
SHORT_TITLES = {
    "source-states": N_("US source states"),
    "us-supply-context": N_("Licensed dealers"),
    "recovery-states": N_("Seizures by Mexican state"),
}
MEASURES = {
    "count": N_("Count"),
    "share": N_("Share of the period's total"),
    "per_100k": N_("Per 100,000 residents a year (DERIVED)"),
    "per_100_dealers": N_("Per 100 licensed dealers a year (DERIVED; 8 US states)"),
}
# What a series publishes, in its label.
PUBLISHES = {
    (True, False): N_("counts"),
    (False, True): N_("shares"),
    (True, True): N_("counts & shares"),
    (False, False): "",
}
RATE_MEASURES = ("per_100k", "per_100_dealers")
LOADED_TRACES = N_("Loaded traces")
OVERLAY = "corridors"
# Hex digits of a series' option key: 24 bits, ample for a few dozen series per country (a
# collision is refused when the catalogue is built, never resolved silently).
OPTION_KEY_DIGITS = 6


def option_key(series_key: str) -> str:
    """The short value a series dropdown holds for `series_key` (its URL value): the same for
    the same series in every process and data version, and short because the dropdown indexes
    every substring of every option's value for its search when it mounts."""
    digest = hashlib.blake2b(series_key.encode("utf-8"), digest_size=OPTION_KEY_DIGITS // 2)
    return digest.hexdigest()


@dataclass(frozen=True)
class Series:
    """One choice of what colours a country: a published series or one loaded trace file."""

    key: str
    country: str
    dataset: str
    label: str
    release: str | None = None
    period: str | None = None
    years: tuple[int, ...] = ()
    units: tuple[str, ...] = ()
    synthetic: bool = False
    # The dropdown's value for this series; the URL carries `key`.
    option: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "option", option_key(self.key))

    @property
    def annual(self) -> bool:
        return bool(self.years)

    def filters(self, measure: str, year: int | None) -> Filters:
        """Exactly the filters the chart and its download use."""
        if self.annual:
            rate = measure if measure in RATE_MEASURES else None
            return Filters(release=self.release, year=year, measure=rate)
        return Filters(release=self.release, period=self.period, measure=measure)

    def has(self, measure: str) -> bool:
        if self.annual:
            return True
        if measure in RATE_MEASURES:
            return "firearms" in self.units
        percent = "percent" in self.units
        return percent if measure == "share" else any(u != "percent" for u in self.units)


def slug(text: object) -> str:
    """A stable, readable URL token: "ATF NFCTA Vol IV" -> "atf-nfcta-vol-iv"."""
    return re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-")[:60] or "x"


class _TraceFile(NamedTuple):
    """A loaded trace file, as its series in the catalogue name it."""

    id: int
    file_name: str
    checksum: str
    synthetic: bool

    @classmethod
    def rows(cls, frame: pd.DataFrame) -> list[_TraceFile]:
        """The frame's trace files, each cell converted here once."""
        return [
            cls(
                id=int(r["id"]),
                file_name=str(r["file_name"]),
                checksum=str(r["checksum"]),
                synthetic=bool(r["synthetic"]),
            )
            for r in frame.to_dict("records")
        ]


def catalogue(data: AppData) -> dict[str, Series]:
    """Every series the map can draw, keyed by its URL token, defaults first per country (its
    labels in the current language: shared per language)."""
    return data.shared("map-catalogue", lambda: _catalogue(data))


def _catalogue(data: AppData) -> dict[str, Series]:
    rows = data.cached("map_series", lambda: queries.map_series(data.engine))
    rows = rows[rows["dataset"] != OVERLAY]
    found: dict[str, Series] = {}
    ranked: list[tuple[Any, ...]] = []
    for keys, group in rows.groupby(["dataset", "release", "period"], sort=False, dropna=False):
        # As the label and the key have always written them: a NULL release (the column allows
        # one; no map series has one) reads "nan".
        dataset, release, period = (str(key) for key in keys)
        country = "US" if (group["geo_level"] == STATE_LEVELS["US"]).any() else "MX"
        units = tuple(sorted(set(group["unit"])))
        publishes = (any(u != "percent" for u in units), "percent" in units)
        what = _(PUBLISHES[publishes])
        unverified = " · UNVERIFIED" if group["unverified"].sum() else ""
        key = f"{dataset}.{slug(release)}.{slug(period)}"
        states = int(group["states"].max())
        label = (
            ngettext(
                "{title}: {period} · {release} ({states} state, {what})",
                "{title}: {period} · {release} ({states} states, {what})",
                states,
            ).format(
                title=_(SHORT_TITLES.get(dataset, dataset)),
                period=period,
                release=release,
                states=states,
                what=what,
            )
            + unverified
        )
        found[key] = Series(key, country, dataset, label, release, period, units=units)
        end = group["year_end"].max()
        ranked.append(
            (
                country,
                dataset != PRIMARY[country],
                -(0 if pd.isna(end) else end),
                -int(group["states"].max()),
                key,
            )
        )
    ordered = {item[-1]: found[item[-1]] for item in sorted(ranked)}
    files = data.cached("trace_files", lambda: queries.trace_files(data.engine))
    years = data.cached("trace_file_years", lambda: queries.trace_file_years(data.engine))
    for file in _TraceFile.rows(files):
        file_years = tuple(int(y) for y in years.loc[years["trace_file_id"] == file.id, "year"])
        tag = " · SYNTHETIC" if file.synthetic else ""
        span = f"{file_years[0]}–{file_years[-1]}" if file_years else _("no years")
        for country, dataset, what in (
            ("US", "traces-by-source-state", _("by US source state")),
            ("MX", "traces-by-recovery-state", _("by Mexican recovery state")),
        ):
            key = f"traces.{file.checksum[:12]}"
            ordered[f"{country}:{key}"] = Series(
                key,
                country,
                dataset,
                _("Loaded trace file {file} {what}, {span}, annual").format(
                    file=file.file_name, what=what, span=span
                )
                + tag,
                release=file.checksum[:12],
                years=file_years,
                synthetic=file.synthetic,
            )
    for country in COUNTRY_NAMES:
        # Two series of one country with one option key would make a choice ambiguous.
        if len(series_keys_by_option(ordered, country)) != len(for_country(ordered, country)):
            raise ValueError(f"two {country} series share an option key: raise OPTION_KEY_DIGITS")
    return ordered


def for_country(series: dict[str, Series], country: str) -> dict[str, Series]:
    return {s.key: s for s in series.values() if s.country == country}


def series_keys_by_option(series: dict[str, Series], country: str) -> dict[str, str]:
    """A country's dropdown values -> the series' URL values."""
    return {s.option: s.key for s in series.values() if s.country == country}


def _pick(
    options: dict[str, Series], wanted: str | None, problems: list[str], name: str
) -> Series | None:
    if wanted in options:
        return options[wanted]
    if wanted is not None:
        problems.append(
            _("{name}={value} is not a series on this map; showing the default").format(
                name=name, value=shown(wanted)
            )
        )
    return next(iter(options.values()), None)


def years_of(*sides: Series | None) -> list[int]:
    return sorted({y for side in sides if side is not None for y in side.years})


def _resolve_year(year: float | None, *sides: Series | None) -> int | None:
    """The year to show: the one asked if the files span it (even with no traces), else the last."""
    years = years_of(*sides)
    if not years:
        return None
    if year is not None and years[0] <= round(year) <= years[-1]:
        return round(year)
    return years[-1]


@dataclass(frozen=True, eq=False)
class Side:
    """One country's series, the rows it is drawn from and the layer drawn."""

    series: Series | None
    chart: ChartData | None
    layer: pd.DataFrame

    @property
    def rows(self) -> pd.DataFrame:
        return self.chart.rows if self.chart is not None else pd.DataFrame()

    @property
    def year(self) -> int | None:
        return self.chart.selection.filters.year if self.chart is not None else None


def _side(
    data: AppData,
    series: Series | None,
    country: str,
    measure: str,
    year: int | None,
    labels: dict[str, str],
) -> Side:
    if series is None:
        return Side(None, None, pd.DataFrame(columns=figures.LAYER_COLUMNS))
    what = LAYER_NAMES[country]
    if measure == "share" and not series.has("share"):
        # No published share: colour by a DERIVED share of the series' own total, labelled so;
        # the download is the published counts it is computed from.
        chart = ChartData.of(data, Selection(series.dataset, series.filters("count", None)), what)
        counts = figures.map_layer(chart.rows, country=country, measure="count", sources=labels)
        return Side(series, chart, figures.derived_share(counts))
    selection = Selection(series.dataset, series.filters(measure, year if series.annual else None))
    chart = ChartData.of(data, selection, what)
    if measure in RATE_MEASURES:
        layer = figures.rate_layer(chart.rows, country=country, sources=labels)
    else:
        layer = figures.map_layer(chart.rows, country=country, measure=measure, sources=labels)
    return Side(series, chart, layer)


def _unit_title(side: Side, measure: str) -> str:
    if side.series is None:
        return ""
    name = _(SHORT_TITLES.get(side.series.dataset, LOADED_TRACES))
    if measure == "share" and not side.series.has("share"):
        return f"{name}<br>" + _("% of the series' total") + "<br>(DERIVED)"
    if measure == "share":
        return f"{name}<br>" + _("% share")
    if measure in RATE_MEASURES:
        per = (
            _("per 100,000<br>residents a year")
            if measure == "per_100k"
            else _("per 100<br>dealers a year")
        )
        return f"{name}<br>{per}<br>(DERIVED)"
    units = [u for u in side.series.units if u != "percent"] or ["firearms"]
    return f"{name}<br>{text.unit_label(units[0])}"


def _summary_text(side: Side, country: str, measure: str) -> str:
    where = _(COUNTRY_NAMES[country])
    if side.series is None:
        return _("{country}: no series to show.").format(country=where)
    total = len(all_codes(country))
    ranked = figures.drawn(side.layer).sort_values("value", ascending=False)
    top = ", ".join(f"{r.name} {r.text}" for r in ranked.head(5).itertuples(index=False))
    more = _(" and {count} more").format(count=len(ranked) - 5) if len(ranked) > 5 else ""
    missing = total - len(ranked)
    label = side.series.label
    if ranked.empty and side.series.annual:
        return _("{country}, {series}: no traces in {year} in this file.").format(
            country=where, series=label, year=side.year
        )
    if ranked.empty and measure in RATE_MEASURES:
        return _("{country}, {series}: no state has both a count and a denominator.").format(
            country=where, series=label
        )
    if ranked.empty:
        empty = (
            _("{country}, {series}: no published share for any state.")
            if measure == "share"
            else _("{country}, {series}: no published count for any state.")
        )
        return empty.format(country=where, series=label)
    if measure in RATE_MEASURES:
        return _leaders_text(side, country, ranked)
    lacking = (
        ngettext(
            "{missing} of {total} states has no traces in {year} in this file.",
            "{missing} of {total} states have no traces in {year} in this file.",
            missing,
        )
        if side.series.annual
        else ngettext(
            "{missing} of {total} states has no published figure in this series.",
            "{missing} of {total} states have no published figure in this series.",
            missing,
        )
    )
    return f"{where}, {label}: {top}{more}. " + lacking.format(
        missing=missing, total=total, year=side.year
    )


def _leaders_text(side: Side, country: str, ranked: pd.DataFrame) -> str:
    """Rates never hide counts: the leaders by rate and by count, in words."""
    by_count = ranked.assign(
        number=pd.to_numeric(ranked["count"].str.replace(r"[^0-9.]", "", regex=True))
    ).sort_values("number", ascending=False)
    rate_leaders = ", ".join(f"{r.name} {r.text}" for r in ranked.head(3).itertuples(index=False))
    count_leaders = ", ".join(
        f"{r.name} {r.count}" for r in by_count.head(3).itertuples(index=False)
    )
    first_rate, first_count = ranked["name"].iloc[0], by_count["name"].iloc[0]
    lead = (
        _("{state} leads both by rate and by count").format(state=first_rate)
        if first_rate == first_count
        else _("{state} leads by rate, {other} by count").format(
            state=first_rate, other=first_count
        )
    )
    layer = side.layer
    counted = layer["count"] != text.format_value(None, "firearms")
    missing = int((layer["value"].isna() & counted).sum())
    lacking = (
        " "
        + ngettext(
            "{count} state with a count has no denominator, so no rate.",
            "{count} states with a count have no denominator, so no rate.",
            missing,
        ).format(count=missing)
        if missing
        else ""
    )
    return (
        _("{country}, {series}: {lead}. By rate: {by_rate}. By count: {by_count}.").format(
            country=_(COUNTRY_NAMES[country]),
            series=side.series.label if side.series else "",
            lead=lead,
            by_rate=rate_leaders,
            by_count=count_leaders,
        )
        + lacking
    )


def _corridors(
    data: AppData, us: Series | None, mx: Series | None, measure: str
) -> ChartData | None:
    """The corridors of the same release and period as a drawn series, if the dataset has them."""
    for side in (us, mx):
        if side is None or side.annual:
            continue
        # Corridor lines are drawn as counts under a rate: a line has no population.
        shown_as = "count" if measure in RATE_MEASURES else measure
        selection = Selection(
            OVERLAY, Filters(release=side.release, period=side.period, measure=shown_as)
        )
        chart = ChartData.of(data, selection, N_("corridor lines"))
        if not chart.rows.empty:
            return chart
    return None


def normalise(data: AppData, asked: ViewState) -> tuple[ViewState, list[str]]:
    """Known series (else each country's default), a known measure and a year the chosen files
    span (else their last), each problem listed: one view has one state and one cache key."""
    problems: list[str] = []
    series = catalogue(data)
    us = _pick(for_country(series, "US"), asked.us, problems, "us")
    mx = _pick(for_country(series, "MX"), asked.mx, problems, "mx")
    if asked.measure not in (None, *MEASURES):
        problems.append(
            _("measure={value} is not one of {allowed}").format(
                value=shown(asked.measure), allowed=", ".join(MEASURES)
            )
        )
    measure = asked.measure if asked.measure in MEASURES else "count"
    state = ViewState(
        us=us.key if us else None,
        mx=mx.key if mx else None,
        measure=measure,
        year=_resolve_year(asked.year, us, mx),
    )
    return state, problems


def state_from_url(data: AppData, query: dict[str, object]) -> tuple[ViewState, list[str]]:
    parsed = parse(query, allowed=("us", "mx", "measure", "year"))
    state, problems = normalise(data, parsed.state)
    return state, [*parsed.problems, *problems]


def state_from_controls(
    data: AppData, *, us: object, mx: object, year: object, measure: object = None
) -> tuple[ViewState, list[str]]:
    """The controls' values as the normalised state, or `InvalidInput` for malformed ones.

    The series dropdowns hold option keys (`Series.option`), turned here into the series' URL
    values, so the state, its permalink, its downloads and its cache key are the URL's. A value
    that is no option key (a page opened before the options were short) is read as a URL value.
    """
    asked = from_callback(us=us, mx=mx, measure=measure, year=year)
    series = catalogue(data)
    us_keys, mx_keys = series_keys_by_option(series, "US"), series_keys_by_option(series, "MX")
    asked = replace(
        asked,
        us=us_keys.get(asked.us, asked.us) if asked.us else None,
        mx=mx_keys.get(asked.mx, asked.mx) if asked.mx else None,
    )
    return normalise(data, asked)


@dataclass(frozen=True, eq=False)
class MapView:
    """Everything the map shows for one state."""

    state: ViewState
    figure: dict[str, Any]
    summary: str
    us: Side
    mx: Side
    corridors: ChartData | None
    sources: pd.DataFrame
    years: tuple[int, ...]  # the years the chosen trace files span (the slider's)

    @property
    def measure(self) -> str:
        return self.state.measure or "count"

    @property
    def charts(self) -> tuple[ChartData, ...]:
        sides = (self.us.chart, self.mx.chart, self.corridors)
        return tuple(c for c in sides if c is not None)


def build_view(data: AppData, state: ViewState) -> MapView:
    """Both countries' layers, the corridors and the words for one normalised state."""
    sources = data.dataset("sources")
    labels = source_labels(data)
    series = catalogue(data)
    us = for_country(series, "US").get(state.us or "")
    mx = for_country(series, "MX").get(state.mx or "")
    measure, year = state.measure or "count", state.year
    us_side = _side(data, us, "US", measure, year, labels)
    mx_side = _side(data, mx, "MX", measure, year, labels)
    corridors = _corridors(data, us, mx, measure)
    figure = figures.map_figure(
        us_side.layer,
        mx_side.layer,
        us_title=_unit_title(us_side, measure),
        mx_title=_unit_title(mx_side, measure),
        geojson_urls=figures.geojson_urls(),
        corridors=corridors.rows if corridors is not None else pd.DataFrame(),
        sources=labels,
        missing={
            side.series.country: _("No traces in {year} in this file").format(year=year)
            for side in (us_side, mx_side)
            if side.series is not None and side.series.annual
        },
    )
    summary = " ".join(
        [_summary_text(us_side, "US", measure), _summary_text(mx_side, "MX", measure)]
    )
    if corridors is not None:
        summary += " " + ngettext(
            "Lines: {count} corridor from the same release.",
            "Lines: {count} corridors from the same release.",
            len(corridors.rows),
        ).format(count=len(corridors.rows))
    return MapView(
        state, figure, summary, us_side, mx_side, corridors, sources, tuple(years_of(us, mx))
    )
