"""Reference tables: US states (USPS, FIPS) and Mexican states (INEGI CVE_ENT, ISO, names, aliases)."""

from etl.source import Frames, SourceModule
from geo.states import GEO_DIR


def _tables(frames: Frames) -> Frames:
    aliases = frames["mx_state_aliases.csv"][["alias", "cve_ent"]]
    return {
        "us_states": frames["us_states.csv"][["usps", "fips", "name"]],
        "mx_states": frames["mx_states.csv"][["cve_ent", "name", "short_name", "iso_3166_2"]],
        "mx_state_aliases": aliases.drop_duplicates("alias"),
    }


SOURCE = SourceModule(
    name="reference",
    title="US and Mexican state codes",
    description="USPS and FIPS codes of US states; INEGI CVE_ENT and ISO 3166-2 codes, official names and "
    "accepted aliases of Mexico's 32 states.",
    files=(GEO_DIR / "us_states.csv", GEO_DIR / "mx_states.csv", GEO_DIR / "mx_state_aliases.csv"),
    module_file=__file__,
    transform=_tables,
)
