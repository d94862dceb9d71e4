"""National firearm seizures in Mexico by agency and year."""

from etl.source import DATA_DIR, SourceModule, facts_transform, read_caveats

SOURCE = SourceModule(
    name="mx_seizures_national",
    title="National firearm seizures in Mexico by agency and year",
    description="Weapons seized per year by SEDENA, PGR/FGR, INEGI's census of justice institutions and SSPC: context for how many recovered guns are ever traced.",
    dataset="mx-seizures-national",
    files=(DATA_DIR / "mx_seizures_national.csv",),
    module_file=__file__,
    transform=facts_transform,
    caveats=read_caveats("mx_seizures_national"),
)
