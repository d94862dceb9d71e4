"""Timeline: GC-Armas history and the milestones of US-Mexico arms-trafficking policy."""

from etl.source import DATA_DIR, SourceModule, events_transform

SOURCE = SourceModule(
    name="events",
    dataset="events",
    title="GC-Armas and US-Mexico arms-trafficking timeline",
    description="GC-Armas creation, meetings, suspension and resumption (both origin accounts), "
    "ATF and GAO milestones, Mérida funding decisions, dialogues and court cases.",
    files=(DATA_DIR / "events.csv",),
    module_file=__file__,
    transform=events_transform,
    caveats=(
        "Sources differ on GC-Armas' origin: Mexico dates it to 1995 as a domestic "
        "interagency group; the U.S. Embassy describes a bilateral group born in March 2009.",
        "The 2012-2015 suspension, the 2016 resumption and the 70-100 officials are reported "
        "only by the 2019 Taskforce white paper (UNVERIFIED).",
    ),
)
