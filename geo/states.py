"""Turn US and Mexican state names into codes; serve the reference tables and boundaries."""

from __future__ import annotations

import csv
import json
import re
import unicodedata
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:  # imported where used: the trace loader looks up names without pandas
    import pandas as pd

GEO_DIR = Path(__file__).resolve().parent
# Manifest paths are relative to the directory holding the `geo` and `dashboard` packages.
PROJECT_ROOT = GEO_DIR.parent
MANIFEST_PATH = GEO_DIR / "manifest.json"

Country = Literal["US", "MX"]
BOUNDARY_FILES: dict[str, str] = {"US": "us_states.geojson", "MX": "mx_states.geojson"}

# Apostrophes are dropped rather than spaced so "Hawai'i" and "Hawaii" meet.
_APOSTROPHES = re.compile(r"['\u2018\u2019`\u00b4]")
_SEPARATORS = re.compile(r"[\W_]+")


class UnknownNameError(ValueError):
    """Raised when a batch of state names contains names that match no state."""

    def __init__(self, country: str, unmatched: Iterable[object]) -> None:
        self.country = country
        self.unmatched: tuple[object, ...] = tuple(unmatched)
        listed = ", ".join(repr(name) for name in self.unmatched)
        super().__init__(
            f"{len(self.unmatched)} unknown {country} state name(s): {listed}. "
            f"Add a row to geo/{country.lower()}_state_aliases.csv if the name is legitimate."
        )


def normalize_name(text: str) -> str:
    """Fold a place name for matching: no accents, casefolded, punctuation and spaces collapsed."""
    decomposed = unicodedata.normalize("NFKD", text)
    unaccented = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    folded = _APOSTROPHES.sub("", unaccented.casefold())
    return _SEPARATORS.sub(" ", folded).strip()


@cache
def _read_csv(name: str) -> pd.DataFrame:
    import pandas as pd

    # keep_default_na=False: codes such as "NA" must stay strings, never become NaN.
    return pd.read_csv(GEO_DIR / name, dtype=str, keep_default_na=False)


def _csv_rows(name: str) -> list[dict[str, str]]:
    """A reference table's rows as text, for the name indexes (no pandas import for a lookup)."""
    with (GEO_DIR / name).open(encoding="utf-8", newline="") as stream:
        return list(csv.DictReader(stream))


def us_states() -> pd.DataFrame:
    """The 50 states, DC and Puerto Rico: columns usps, fips, name."""
    return _read_csv("us_states.csv").copy()


def us_state_aliases() -> pd.DataFrame:
    """Accepted alternative US names: columns alias, usps."""
    return _read_csv("us_state_aliases.csv").copy()


def mx_states() -> pd.DataFrame:
    """Mexico's 32 entidades: columns cve_ent, name (INEGI), short_name, hasc, iso_3166_2."""
    return _read_csv("mx_states.csv").copy()


def mx_state_aliases() -> pd.DataFrame:
    """Accepted alternative Mexican names: columns alias, cve_ent."""
    return _read_csv("mx_state_aliases.csv").copy()


def _build_index(pairs: Iterable[tuple[str, str]], table: str) -> dict[str, str]:
    index: dict[str, str] = {}
    for name, code in pairs:
        key = normalize_name(name)
        # Two states sharing a folded spelling would make lookups silently order-dependent.
        if index.setdefault(key, code) != code:
            raise ValueError(
                f"{table}: {name!r} folds to {key!r}, claimed by {index[key]} and {code}"
            )
    return index


@cache
def _mx_index() -> dict[str, str]:
    columns = ["cve_ent", "name", "short_name", "hasc", "iso_3166_2"]
    pairs = [(row[col], row["cve_ent"]) for row in _csv_rows("mx_states.csv") for col in columns]
    pairs += [(row["alias"], row["cve_ent"]) for row in _csv_rows("mx_state_aliases.csv")]
    return _build_index(pairs, "mx_states")


@cache
def _us_index() -> dict[str, str]:
    columns = ("usps", "fips", "name")
    pairs = [(row[col], row["usps"]) for row in _csv_rows("us_states.csv") for col in columns]
    pairs += [(row["alias"], row["usps"]) for row in _csv_rows("us_state_aliases.csv")]
    return _build_index(pairs, "us_states")


def _lookup(index: dict[str, str], value: object) -> str | None:
    # bool is an int subclass; True must not quietly mean state 01.
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    # No state code has more than two digits; a huge int would not even convert to text.
    if isinstance(value, int) and not 0 <= value < 100:
        return None
    key = normalize_name(str(value))
    # Codes arrive as "2", "02" or 2 depending on whether a spreadsheet ate the leading zero;
    # zeros are stripped as text because int() refuses strings of over 4,300 digits.
    if key.isascii() and key.isdigit():
        key = key.lstrip("0").zfill(2)
    return index.get(key)


def _lookup_all(index: dict[str, str], values: Iterable[object], country: str) -> list[str]:
    codes: list[str] = []
    unmatched: list[object] = []
    for value in values:
        code = _lookup(index, value)
        if code is not None:
            codes.append(code)
        elif value not in unmatched:
            unmatched.append(value)
    if unmatched:
        raise UnknownNameError(country, unmatched)
    return codes


def mx_state_code(value: str | int) -> str | None:
    """INEGI CVE_ENT ("01".."32") for a Mexican state name, alias or code; None if unknown."""
    return _lookup(_mx_index(), value)


def us_state_code(value: str | int) -> str | None:
    """USPS code for a US state name, alias, USPS code or FIPS code; None if unknown."""
    return _lookup(_us_index(), value)


def mx_state_codes(values: Iterable[str | int]) -> list[str]:
    """CVE_ENT for each value, in order; raises UnknownNameError naming every unmatched value."""
    return _lookup_all(_mx_index(), values, "MX")


def us_state_codes(values: Iterable[str | int]) -> list[str]:
    """USPS code for each value, in order; raises UnknownNameError naming every unmatched value."""
    return _lookup_all(_us_index(), values, "US")


def boundary_path(country: Country) -> Path:
    """Path of the committed, simplified, clockwise-wound GeoJSON for "US" or "MX"."""
    try:
        return GEO_DIR / BOUNDARY_FILES[country]
    except KeyError:
        raise ValueError(f"country must be 'US' or 'MX', not {country!r}") from None


@cache
def _read_bytes(path: Path) -> bytes:
    return path.read_bytes()


def load_boundaries(country: Country) -> dict[str, Any]:
    """The state boundaries of "US" or "MX" as a GeoJSON FeatureCollection dict."""
    # The file is read once; each call parses afresh (4x faster than deepcopy) so one caller's
    # edits cannot leak into another caller's figure.
    return json.loads(_read_bytes(boundary_path(country)))


def manifest() -> dict[str, Any]:
    """The provenance manifest of every committed boundary and topojson file."""
    return json.loads(_read_bytes(MANIFEST_PATH))


@cache
def state_names() -> dict[str, str]:
    """USPS and CVE_ENT codes to state names (both code sets are disjoint)."""
    names = dict(zip(us_states()["usps"], us_states()["name"], strict=True))
    names.update(zip(mx_states()["cve_ent"], mx_states()["short_name"], strict=True))
    return names


@cache
def state_centroids() -> dict[str, tuple[float, float]]:
    """A point inside each state (lon, lat), for corridor lines and labels; computed once."""
    import shapely
    from shapely.geometry import shape

    points: dict[str, tuple[float, float]] = {}
    for country in ("US", "MX"):
        for feature in load_boundaries(country)["features"]:  # type: ignore[arg-type]
            geometry = shape(feature["geometry"])
            largest = max(shapely.get_parts(geometry), key=lambda part: part.area)
            point = largest.centroid
            if not largest.contains(point):
                point = largest.representative_point()
            points[feature["properties"]["code"]] = (round(point.x, 3), round(point.y, 3))
    return points


@cache
def all_codes(country: str) -> tuple[str, ...]:
    return tuple(f["properties"]["code"] for f in load_boundaries(country)["features"])  # type: ignore[arg-type]
