"""US-state to Mexican-state trafficking corridors, 2022-2023."""

from etl.source import DATA_DIR, SourceModule, facts_transform, read_caveats

SOURCE = SourceModule(
    name="corridors",
    title="US-state to Mexican-state trafficking corridors, 2022-2023",
    description="Successfully traced firearms by U.S. state of purchase and Mexican state of recovery (ATF National Firearms Commerce and Trafficking Assessment, Vol. IV).",
    dataset="corridors",
    files=(DATA_DIR / "corridors.csv",),
    module_file=__file__,
    transform=facts_transform,
    caveats=read_caveats("corridors"),
)
