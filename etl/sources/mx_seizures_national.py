"""National firearm seizures in Mexico by agency and year."""

from etl.source import (
    DATA_DIR,
    SECONDARY_COPIES,
    SEIZURES_ARE_NOT_TRACES,
    SourceModule,
    facts_transform,
)

SOURCE = SourceModule(
    name="mx_seizures_national",
    title="National firearm seizures in Mexico by agency and year",
    description="Weapons seized per year by SEDENA, PGR/FGR, INEGI's census of justice institutions and SSPC: context for how many recovered guns are ever traced.",
    dataset="mx-seizures-national",
    files=(DATA_DIR / "mx_seizures_national.csv",),
    module_file=__file__,
    transform=facts_transform,
    caveats=(
        SEIZURES_ARE_NOT_TRACES,
        SECONDARY_COPIES,
    ),
)
