"""ATF traces of firearms recovered in Mexico, by year and period, each tagged with its release."""

from etl.source import DATA_DIR, SourceModule, facts_transform, read_caveats

SOURCE = SourceModule(
    name="atf_trace_totals",
    title="ATF traces of firearms recovered in Mexico, by year and period, each tagged with its release",
    description="Firearms recovered in Mexico and submitted to ATF for tracing, and how many were U.S.-sourced, per recovery year and multi-year period, from each ATF release and the reports that quote them.",
    dataset="trace-totals",
    files=(DATA_DIR / "atf_trace_totals.csv",),
    module_file=__file__,
    transform=facts_transform,
    caveats=read_caveats("atf_trace_totals"),
)
