"""Timeline: GC-Armas history and the milestones of US-Mexico arms-trafficking policy."""

from etl.source import DATA_DIR, SourceModule, events_transform, read_caveats

SOURCE = SourceModule(
    name="events",
    dataset="events",
    title="GC-Armas and US-Mexico arms-trafficking timeline",
    description="GC-Armas creation, meetings, suspension and resumption (both origin accounts), "
    "ATF and GAO milestones, Mérida funding decisions, dialogues and court cases.",
    files=(DATA_DIR / "events.csv",),
    module_file=__file__,
    transform=events_transform,
    caveats=read_caveats("events"),
)
