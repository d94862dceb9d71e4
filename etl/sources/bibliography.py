"""The source records every figure points at: publisher, title, report id, URL, dates, licence."""

from etl.source import DATA_DIR, SourceModule, bibliography_transform

SOURCE = SourceModule(
    name="bibliography",
    dataset="sources",
    title="Sources",
    description="Every publication a figure comes from, with its full citation, licence and "
    "caveats; secondary sources point at the source they cite.",
    files=(DATA_DIR / "bibliography.csv",),
    module_file=__file__,
    transform=bibliography_transform,
)
