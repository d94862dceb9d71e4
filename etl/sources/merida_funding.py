"""Mérida Initiative funding for Mexico."""

from etl.source import DATA_DIR, SourceModule, facts_transform, read_caveats

SOURCE = SourceModule(
    name="merida_funding",
    title="Mérida Initiative funding for Mexico",
    description="Appropriated, allocated and delivered Mérida Initiative funds for Mexico (USD millions), as cumulative milestones; no per-year table was readable.",
    dataset="merida-funding",
    files=(DATA_DIR / "merida_funding.csv",),
    module_file=__file__,
    transform=facts_transform,
    caveats=read_caveats("merida_funding"),
)
