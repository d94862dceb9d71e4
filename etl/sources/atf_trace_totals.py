"""ATF traces of firearms recovered in Mexico, by year and period, each tagged with its release."""

from etl.source import (
    DATA_DIR,
    SECONDARY_COPIES,
    TRACES_NOT_RANDOM,
    US_SOURCED_MEANS,
    VINTAGES_DIFFER,
    SourceModule,
    facts_transform,
)

SOURCE = SourceModule(
    name="atf_trace_totals",
    title="ATF traces of firearms recovered in Mexico, by year and period, each tagged with its release",
    description="Firearms recovered in Mexico and submitted to ATF for tracing, and how many were U.S.-sourced, per recovery year and multi-year period, from each ATF release and the reports that quote them.",
    dataset="trace-totals",
    files=(DATA_DIR / "atf_trace_totals.csv",),
    module_file=__file__,
    transform=facts_transform,
    caveats=(
        TRACES_NOT_RANDOM,
        VINTAGES_DIFFER,
        US_SOURCED_MEANS,
        SECONDARY_COPIES,
    ),
)
