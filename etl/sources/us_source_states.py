"""US source states of firearms recovered in Mexico."""

from etl.source import DATA_DIR, SourceModule, facts_transform, read_caveats

SOURCE = SourceModule(
    name="us_source_states",
    title="US source states of firearms recovered in Mexico",
    description="Counts and shares of firearms recovered in Mexico and traced to a U.S. state of purchase, per period and report; and, each labelled for what it is, a Foreign Ministry transit claim, one seizure's traced rifles and a four-country total, which are not such shares.",
    dataset="source-states",
    files=(DATA_DIR / "us_source_states.csv",),
    module_file=__file__,
    transform=facts_transform,
    caveats=read_caveats("us_source_states"),
)
