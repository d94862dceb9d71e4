"""Every code the data and the interface share, declared once with its English label.

The ETL validates incoming files against these codes and the dashboard labels them from here, so a
new event kind, measure or question is added in one place. The labels are the English msgids of
the interface's Spanish catalogue (dashboard/locale), so a new label needs its Spanish there
(tests/test_i18n.py). Imports nothing of ours, so `etl/`, `db/` and `dashboard/` can all use it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Term:
    """A code's English label (and, for event kinds, the marker drawn for it)."""

    en: str
    symbol: str = ""


@dataclass(frozen=True)
class Measure:
    """A published measure: its English label and the unit its figures are stated in."""

    en: str
    unit: str


def label(vocabulary: Mapping[str, Term | Measure], code: str) -> str:
    """The English label of `code`, or the code itself when the vocabulary does not know it."""
    entry = vocabulary.get(code)
    return entry.en if entry is not None else code


# Units a figure may be stated in, with the words that follow a number.
UNITS: dict[str, Term] = {
    "firearms": Term("firearms"),
    "percent": Term("%"),
    "years": Term("years"),
    "sites": Term("dealer sites"),
    "usd_millions": Term("USD million"),
    "persons": Term("residents"),
}

# Event kinds, in the order the timeline lanes and the checkboxes list them.
EVENT_KINDS: dict[str, Term] = {
    "gc_armas": Term("GC-Armas", "diamond"),
    "bilateral_dialogue": Term("Bilateral dialogue", "circle"),
    "policy": Term("Policy", "square"),
    "funding": Term("Funding", "triangle-up"),
    "enforcement": Term("Enforcement", "x"),
    "legal": Term("Court cases", "star"),
    "data_release": Term("Data releases", "triangle-down"),
    "report": Term("Reports", "hexagon"),
}

# The questions the estimates ledger answers, in the order the page asks them.
ESTIMATE_QUESTIONS: dict[str, Term] = {
    "how_many_per_year": Term("How many guns are trafficked from the US into Mexico?"),
    "us_sourced_share": Term("What share of the guns Mexico traces is US-sourced?"),
    "us_origin_share_of_seizures": Term(
        "What share of the guns Mexico seizes is of US origin? (shares of seizures, not of traces)"
    ),
    "market_value_usd": Term("What is the traffic worth to US sellers?"),
    "share_of_us_sales": Term("What share of US gun sales does it represent?"),
    "dealer_dependence_share": Term("How many US dealers depend on it?"),
    "share_intercepted": Term("What share is intercepted?"),
}

# Every measure a published figure or estimate may carry.
MEASURES: dict[str, Measure] = {
    "traced_firearms": Measure("Traced firearms", "firearms"),
    "trace_requests": Measure("Trace requests", "firearms"),
    "us_sourced_firearms": Measure("US-sourced firearms", "firearms"),
    "us_sourced_pct": Measure("US-sourced share of guns submitted for tracing (%)", "percent"),
    "us_sourced_of_successful_traces_pct": Measure(
        "US-sourced share of guns successfully traced (%)", "percent"
    ),
    "us_manufactured_firearms": Measure("US-manufactured firearms", "firearms"),
    "us_manufactured_of_successful_traces_pct": Measure(
        "US-made share of guns successfully traced (%)", "percent"
    ),
    "us_imported_firearms": Measure("Firearms imported into the US", "firearms"),
    "us_imported_of_successful_traces_pct": Measure(
        "US-imported share of guns successfully traced (%)", "percent"
    ),
    "not_us_sourced_firearms": Measure("Firearms not US-sourced", "firearms"),
    "not_us_sourced_pct": Measure("Share not US-sourced (%)", "percent"),
    "non_us_firearms": Measure("Non-US firearms", "firearms"),
    "non_us_pct": Measure("Non-US share (%)", "percent"),
    "undetermined_firearms": Measure("Firearms of undetermined origin", "firearms"),
    "undetermined_pct": Measure("Share of undetermined origin (%)", "percent"),
    "unsuccessful_trace_pct": Measure("Share of unsuccessful traces (%)", "percent"),
    "traced_to_us_purchase_firearms": Measure("Firearms traced to a US purchase", "firearms"),
    "traced_to_us_purchase_pct": Measure("Share traced to a US purchase (%)", "percent"),
    "no_purchaser_identified_firearms": Measure(
        "Firearms with no purchaser identified", "firearms"
    ),
    "no_purchaser_identified_pct": Measure("Share with no purchaser identified (%)", "percent"),
    "source_state_firearms": Measure("Traced firearms from the state", "firearms"),
    "source_state_pct": Measure("Share of traced firearms from the state (%)", "percent"),
    "transit_state_pct": Measure("Transit claim: share passing through the state (%)", "percent"),
    "single_seizure_source_state_pct": Measure(
        "One seizure: share of its traced guns from the state (%)", "percent"
    ),
    "single_seizure_source_state_firearms": Measure(
        "One seizure: traced guns from the state", "firearms"
    ),
    "four_country_source_state_pct": Measure(
        "Share of guns traced in Mexico + Guatemala + El Salvador + Honduras (%)", "percent"
    ),
    "four_country_source_state_firearms": Measure(
        "Guns traced in Mexico + Guatemala + El Salvador + Honduras", "firearms"
    ),
    "corridor_firearms": Measure("Traced firearms along the corridor", "firearms"),
    "corridor_pct": Measure("Share of traced firearms along the corridor (%)", "percent"),
    "county_firearms": Measure("Traced firearms from the county", "firearms"),
    "county_share_pct": Measure("Share of traced firearms from the county (%)", "percent"),
    "ffl_sites": Measure("Licensed dealer sites", "sites"),
    "ffl_dependent_pct": Measure("Share of US dealers dependent on the traffic (%)", "percent"),
    "firearm_type_firearms": Measure("Traced firearms of the type", "firearms"),
    "firearm_type_pct": Measure("Share of traced firearms of the type (%)", "percent"),
    "time_to_crime_years_mexico": Measure("Time-to-crime, Mexico (years)", "years"),
    "time_to_crime_years_us": Measure("Time-to-crime, US (years)", "years"),
    "firearms_seized": Measure("Firearms seized", "firearms"),
    "firearms_seized_pct": Measure("Share of firearms seized (%)", "percent"),
    "us_origin_of_seized_firearms": Measure("Seized guns of US origin", "firearms"),
    "us_origin_of_seized_pct": Measure("US-origin share of seized guns (%)", "percent"),
    "firearms_trafficked_per_year": Measure("Firearms trafficked per year", "firearms"),
    "firearms_trafficked_per_day": Measure("Firearms trafficked per day", "firearms"),
    "annual_value_to_us_industry": Measure("Annual value to the US industry", "usd_millions"),
    "share_of_us_sales_pct": Measure("Share of US gun sales (%)", "percent"),
    "share_intercepted_pct": Measure("Share intercepted (%)", "percent"),
    "funding_usd_millions": Measure("Mérida Initiative funding", "usd_millions"),
    "funding_share_pct": Measure("Share of Mérida Initiative funding (%)", "percent"),
    # Denominators of rates (db/rates.py).
    "population": Measure("Resident population", "persons"),
    "licensed_dealers": Measure("Licensed dealers (licence types 01 + 02)", "sites"),
}

# Geography levels a figure may be stated at; the two state levels are drawn on the map.
GEO_LEVELS: dict[str, Term] = {
    "country": Term("Country"),
    "region": Term("Region"),
    "us_region": Term("US region"),
    "us_state": Term("US state"),
    "us_state_group": Term("Group of US states"),
    "us_county_group": Term("Group of US counties"),
    "mx_state": Term("Mexican state"),
    "mx_state_group": Term("Group of Mexican states"),
    "mx_municipality": Term("Mexican municipality"),
}
STATE_LEVELS: dict[str, str] = {"US": "us_state", "MX": "mx_state"}

# The dimensions loaded trace files are aggregated by, each with the dataset that serves it.
AGGREGATE_DIMENSIONS: dict[str, Term] = {
    "source_state": Term("US source state"),
    "recovery_state": Term("Mexican recovery state"),
    "firearm_type": Term("Firearm type"),
    "time_to_crime_band": Term("Time-to-crime band"),
}

# Origin categories of a traced firearm; ATF counts the first two as "U.S.-sourced".
SOURCE_CATEGORIES: dict[str, Term] = {
    "us_manufactured": Term("Manufactured in the US"),
    "us_imported": Term("Imported into the US"),
    "non_us": Term("Not US-sourced"),
    "undetermined": Term("Undetermined"),
}
US_SOURCED_CATEGORIES: tuple[str, ...] = ("us_imported", "us_manufactured")
