"""US source states of firearms recovered in Mexico."""

from etl.source import DATA_DIR, SourceModule, facts_transform, read_caveats

SOURCE = SourceModule(
    name="us_source_states",
    title="US source states of firearms recovered in Mexico",
    description="Counts and shares of traced firearms recovered in Mexico by the U.S. state of first retail sale, per period and report.",
    dataset="source-states",
    files=(DATA_DIR / "us_source_states.csv",),
    module_file=__file__,
    transform=facts_transform,
    caveats=read_caveats("us_source_states"),
)
