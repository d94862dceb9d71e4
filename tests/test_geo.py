"""Tests for geo: boundaries match their manifest, plotly can draw them, names become codes."""

from __future__ import annotations

import ast
import hashlib
import json
from pathlib import Path

import pytest
import shapely
from shapely.geometry import shape

from geo import states
from geo.states import (
    UnknownNameError,
    boundary_path,
    load_boundaries,
    manifest,
    mx_state_aliases,
    mx_state_code,
    mx_state_codes,
    mx_states,
    normalize_name,
    us_state_aliases,
    us_state_code,
    us_state_codes,
    us_states,
)

ROOT = states.PROJECT_ROOT
MAX_BYTES = 500_000


def committed_geometry_files() -> set[str]:
    patterns = [("geo", "*.geojson"), ("geo", "*.topojson"), ("dashboard/assets/topojson", "*")]
    return {
        path.relative_to(ROOT).as_posix()
        for folder, pattern in patterns
        for path in (ROOT / folder).glob(pattern)
        if path.is_file()
    }


def polygons(country: str) -> list[tuple[str, shapely.Polygon]]:
    found = []
    for feature in load_boundaries(country)["features"]:
        for part in shapely.get_parts(shape(feature["geometry"])):
            found.append((feature["properties"]["code"], part))
    return found


def feature(country: str, code: str) -> dict:
    matches = [f for f in load_boundaries(country)["features"] if f["properties"]["code"] == code]
    assert len(matches) == 1
    return matches[0]


# --- manifest -------------------------------------------------------------------------------


@pytest.mark.parametrize("entry", manifest()["files"], ids=lambda e: e["path"])
def test_manifest_sha256_size_and_feature_count_match_the_file_on_disk(entry):
    data = (ROOT / entry["path"]).read_bytes()
    assert hashlib.sha256(data).hexdigest() == entry["sha256"]
    assert len(data) == entry["bytes"]
    if entry["path"].endswith(".geojson"):
        assert len(json.loads(data)["features"]) == entry["feature_count"]


def test_every_committed_boundary_and_topojson_file_is_in_the_manifest():
    listed = {entry["path"] for entry in manifest()["files"]}
    assert committed_geometry_files() == listed


@pytest.mark.parametrize("entry", manifest()["files"], ids=lambda e: e["path"])
def test_manifest_entries_carry_full_provenance(entry):
    for field in ("origin", "registry", "url", "licence", "attribution", "source_sha256"):
        assert entry[field], field
    package, _, inner = entry["origin"].partition(":")
    assert "@" in package and inner
    assert entry["url"].startswith(("https://pypi.org/project/", "https://www.npmjs.com/package/"))


def test_plotly_base_topojson_for_world_and_north_america_is_served_locally():
    listed = {entry["path"] for entry in manifest()["files"]}
    for name in ("world_110m.json", "north-america_110m.json", "usa_110m.json"):
        path = f"dashboard/assets/topojson/{name}"
        assert path in listed
        assert json.loads((ROOT / path).read_text())["type"] == "Topology"


@pytest.mark.parametrize("path", sorted(committed_geometry_files()))
def test_each_geometry_file_is_under_500_kb(path):
    assert (ROOT / path).stat().st_size < MAX_BYTES


# --- boundaries -----------------------------------------------------------------------------


def test_us_file_has_52_features_whose_codes_match_us_states_csv():
    features = load_boundaries("US")["features"]
    table = us_states().set_index("usps")
    codes = [f["properties"]["code"] for f in features]
    assert len(features) == 52
    assert len(set(codes)) == 52
    assert set(codes) == set(table.index)
    for f in features:
        props = f["properties"]
        assert f["id"] == props["code"]
        assert props["fips"] == table.loc[props["code"], "fips"]
        assert props["name"] == table.loc[props["code"], "name"]


def test_mx_file_has_32_features_coded_01_to_32_matching_mx_states_csv():
    features = load_boundaries("MX")["features"]
    table = mx_states().set_index("cve_ent")
    codes = sorted(f["properties"]["code"] for f in features)
    assert codes == [f"{n:02d}" for n in range(1, 33)]
    assert codes == sorted(table.index)
    for f in features:
        props = f["properties"]
        assert f["id"] == props["code"]
        assert props["name"] == table.loc[props["code"], "name"]
        assert props["hasc"] == table.loc[props["code"], "hasc"]


@pytest.mark.parametrize("country", ["US", "MX"])
def test_every_polygon_is_valid_with_clockwise_exterior_as_plotly_js_requires(country):
    for code, polygon in polygons(country):
        assert polygon.is_valid, code
        assert not polygon.exterior.is_ccw, f"{code} exterior ring is counter-clockwise"
        assert all(ring.is_ccw for ring in polygon.interiors), f"{code} hole is clockwise"


@pytest.mark.parametrize("country", ["US", "MX"])
def test_neighbouring_states_neither_overlap_nor_leave_slivers(country):
    geoms = [shape(f["geometry"]) for f in load_boundaries(country)["features"]]
    assert shapely.coverage_is_valid(geoms)


def test_sonora_representative_point_lies_in_northwest_mexico():
    point = shape(feature("MX", "26")["geometry"]).representative_point()
    assert -115 <= point.x <= -108
    assert 26 <= point.y <= 33


def test_texas_representative_point_lies_between_the_rio_grande_and_louisiana():
    point = shape(feature("US", "TX")["geometry"]).representative_point()
    assert -107 <= point.x <= -93


def test_alaska_does_not_straddle_the_antimeridian():
    xmin, _, xmax, _ = shape(feature("US", "AK")["geometry"]).bounds
    assert xmax - xmin < 180


def test_boundary_path_names_the_committed_files_and_rejects_other_countries():
    assert boundary_path("US").name == "us_states.geojson"
    assert boundary_path("MX").name == "mx_states.geojson"
    with pytest.raises(ValueError, match="'CA'"):
        boundary_path("CA")  # type: ignore[arg-type]


def test_load_boundaries_hands_each_caller_its_own_copy():
    first = load_boundaries("MX")
    first["features"].clear()
    assert len(load_boundaries("MX")["features"]) == 32


# --- name lookups ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("Michoacán", "16"),
        ("MICHOACAN DE OCAMPO", "16"),
        ("Ciudad de México", "09"),
        ("Distrito Federal", "09"),
        ("CDMX", "09"),
        ("Edo. de México", "15"),
        ("Estado de México", "15"),
        ("Veracruz de Ignacio de la Llave", "30"),
        ("SONORA", "26"),
        ("02", "02"),
        ("2", "02"),
        ("Nuevo León", "19"),
        ("Coahuila de Zaragoza", "05"),
        ("Quintana Roo", "23"),
        ("  nuevo   leon ", "19"),
        ("Veracruz-Llave", "30"),
        ("Baja California Norte", "02"),
        ("Baja California Sur", "03"),
        ("Querétaro de Arteaga", "22"),
        ("MX-CMX", "09"),
        ("MX.BN", "02"),
        (32, "32"),
    ],
)
def test_mexican_spellings_resolve_to_the_inegi_code(name, code):
    assert mx_state_code(name) == code


def test_every_official_short_hasc_and_iso_name_resolves_to_its_own_row():
    for row in mx_states().itertuples(index=False):
        for value in (row.cve_ent, row.name, row.short_name, row.hasc, row.iso_3166_2):
            assert mx_state_code(value) == row.cve_ent, value


def test_every_listed_mexican_alias_resolves_to_its_code():
    for row in mx_state_aliases().itertuples(index=False):
        assert mx_state_code(row.alias) == row.cve_ent, row.alias


@pytest.mark.parametrize("value", ["Atlantis", "", "0", "33", "Mexicali", None, True])
def test_unknown_mexican_names_give_none(value):
    assert mx_state_code(value) is None


def test_mexican_batch_lookup_keeps_order():
    assert mx_state_codes(["Sonora", "cdmx", "8"]) == ["26", "09", "08"]


def test_mexican_batch_lookup_names_every_unmatched_value_at_once():
    with pytest.raises(UnknownNameError) as caught:
        mx_state_codes(["Sonora", "Atlantis", "Narnia", "Jalisco", "Atlantis"])
    assert caught.value.unmatched == ("Atlantis", "Narnia")
    assert "'Atlantis'" in str(caught.value) and "'Narnia'" in str(caught.value)
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("Texas", "TX"),
        ("tx", "TX"),
        ("48", "TX"),
        ("New Mexico", "NM"),
        ("District of Columbia", "DC"),
        ("Washington, D.C.", "DC"),
        ("Washington", "WA"),
        ("6", "CA"),
        ("puerto rico", "PR"),
        ("ZZ", None),
        ("Guam", None),
        ("Atlantis", None),
    ],
)
def test_us_names_codes_and_fips_resolve_to_usps(value, code):
    assert us_state_code(value) == code


@pytest.mark.parametrize(
    "value",
    ["9" * 5000, "0" * 4999 + "6", 10**5000, -6, 106],
    ids=["5000 nines", "06 with 4998 more zeros", "int of 5001 digits", "-6", "106"],
)
def test_codes_far_out_of_range_are_unknown_not_an_error(value):
    expected = "CA" if value == "0" * 4999 + "6" else None
    assert us_state_code(value) == expected
    assert mx_state_code(value) == (None if expected is None else "06")


def test_every_us_row_and_alias_resolves_to_itself():
    for row in us_states().itertuples(index=False):
        for value in (row.usps, row.fips, row.name):
            assert us_state_code(value) == row.usps
    for row in us_state_aliases().itertuples(index=False):
        assert us_state_code(row.alias) == row.usps


def test_us_batch_lookup_names_every_unmatched_value_at_once():
    assert us_state_codes(["Arizona", "az", "04"]) == ["AZ", "AZ", "AZ"]
    with pytest.raises(UnknownNameError, match=r"'ZZ'.*'Atlantis'"):
        us_state_codes(["Texas", "ZZ", "Atlantis"])


@pytest.mark.parametrize(
    ("raw", "folded"),
    [
        ("Edo. de México", "edo de mexico"),
        ("Veracruz-Llave", "veracruz llave"),
        ("  NUEVO   LEÓN ", "nuevo leon"),
        ("Hawai'i", "hawaii"),
    ],
)
def test_normalize_name_strips_accents_case_and_punctuation(raw, folded):
    assert normalize_name(raw) == folded


def test_reference_tables_have_the_expected_rows():
    assert len(us_states()) == 52
    assert len(mx_states()) == 32
    assert mx_states().set_index("cve_ent").loc["15", "short_name"] == "Estado de México"


# --- architecture ---------------------------------------------------------------------------


def test_geo_imports_nothing_from_the_other_project_packages():
    for path in Path(states.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert name.split(".")[0] not in {"dashboard", "db", "etl"}, f"{path.name}: {name}"
