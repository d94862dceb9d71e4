"""Estimates of how many guns cross, what share is US-sourced and what the traffic is worth."""

from etl.source import DATA_DIR, SourceModule, estimates_transform, read_caveats

SOURCE = SourceModule(
    name="estimates",
    dataset="estimates",
    title="Estimates of US-to-Mexico firearms trafficking",
    description="The same questions (how many guns a year, what share of traced guns is "
    "U.S.-sourced, what the traffic is worth to U.S. sellers) answered by GAO, ATF, the Igarapé "
    "Institute / Justice in Mexico, the Mexican government and the 2019 Taskforce white paper, "
    "with ranges, methods and why they differ.",
    files=(DATA_DIR / "estimates.csv",),
    module_file=__file__,
    transform=estimates_transform,
    caveats=read_caveats("estimates"),
)
