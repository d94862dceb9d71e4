"""Firearms seized by Mexican state."""

from etl.source import DATA_DIR, SourceModule, facts_transform, read_caveats

SOURCE = SourceModule(
    name="mx_recovery_states",
    title="Firearms seized by Mexican state",
    description="Firearms seized by Mexican federal authorities per state (FGR 2006-2024, the ranked top ten per administration and other state figures). Nine states have no published figure in the 2006-2024 series.",
    dataset="recovery-states",
    files=(DATA_DIR / "mx_recovery_states.csv",),
    module_file=__file__,
    transform=facts_transform,
    caveats=read_caveats("mx_recovery_states"),
)
