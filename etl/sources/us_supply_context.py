"""US counties and licensed dealers named as supply context."""

from etl.source import DATA_DIR, SourceModule, facts_transform, read_caveats

SOURCE = SourceModule(
    name="us_supply_context",
    title="US counties and licensed dealers named as supply context",
    description="U.S. counties named by Mexico's Foreign Ministry as sources of seized guns, and federal firearms licensee counts by state.",
    dataset="us-supply-context",
    files=(DATA_DIR / "us_supply_context.csv",),
    module_file=__file__,
    transform=facts_transform,
    caveats=read_caveats("us_supply_context"),
)
