"""Denominators for rates: population by US and Mexican state (2020 censuses) and licensed dealers."""

from etl.source import DATA_DIR, SourceModule, facts_transform, read_caveats

SOURCE = SourceModule(
    name="denominators",
    dataset="denominators",
    title="Denominators for rates: population and licensed dealers by state",
    description="U.S. resident population by state (2020 Census apportionment results), Mexico's "
    "population by entidad federativa (INEGI Censo 2020) and federally licensed firearms dealers "
    "by U.S. state where published (8 states, Nov 2020); the denominators of every per-100,000 "
    "and per-100-dealer rate.",
    files=(DATA_DIR / "denominators.csv",),
    module_file=__file__,
    transform=facts_transform,
    caveats=read_caveats("denominators"),
)
