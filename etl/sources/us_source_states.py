"""US source states of firearms recovered in Mexico."""

from etl.source import DATA_DIR, SECONDARY_COPIES, TRACES_NOT_RANDOM, SourceModule, facts_transform

SOURCE = SourceModule(
    name="us_source_states",
    title="US source states of firearms recovered in Mexico",
    description="Counts and shares of traced firearms recovered in Mexico by the U.S. state of first retail sale, per period and report.",
    dataset="source-states",
    files=(DATA_DIR / "us_source_states.csv",),
    module_file=__file__,
    transform=facts_transform,
    caveats=(
        TRACES_NOT_RANDOM,
        SECONDARY_COPIES,
    ),
)
