"""Types of traced firearms and time-to-crime."""

from etl.source import DATA_DIR, SourceModule, facts_transform, read_caveats

SOURCE = SourceModule(
    name="firearm_types",
    title="Types of traced firearms and time-to-crime",
    description="Shares of pistols, rifles, revolvers and other types among firearms recovered in Mexico and traced, and average time-to-crime, per report.",
    dataset="firearm-types",
    files=(DATA_DIR / "firearm_types.csv",),
    module_file=__file__,
    transform=facts_transform,
    caveats=read_caveats("firearm_types"),
)
