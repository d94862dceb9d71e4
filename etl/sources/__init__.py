"""The registry of embedded sources: adding a source is one module here and one line below."""

from etl.source import SourceModule
from etl.sources import (
    atf_trace_totals,
    bibliography,
    corridors,
    denominators,
    estimates,
    events,
    firearm_types,
    merida_funding,
    mx_recovery_states,
    mx_seizures_national,
    reference,
    us_source_states,
    us_supply_context,
)

# Load order matters: figures point at sources and codes, so those load first.
REGISTRY: tuple[SourceModule, ...] = (
    reference.SOURCE,
    bibliography.SOURCE,
    atf_trace_totals.SOURCE,
    us_source_states.SOURCE,
    corridors.SOURCE,
    mx_recovery_states.SOURCE,
    us_supply_context.SOURCE,
    firearm_types.SOURCE,
    mx_seizures_national.SOURCE,
    merida_funding.SOURCE,
    estimates.SOURCE,
    events.SOURCE,
    denominators.SOURCE,
)


def get(name: str) -> SourceModule:
    """The registered source called `name`; KeyError lists the valid names."""
    for source in REGISTRY:
        if source.name == name:
            return source
    raise KeyError(f"unknown source {name!r}; known: {', '.join(s.name for s in REGISTRY)}")
