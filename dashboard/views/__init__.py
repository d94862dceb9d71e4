"""What every page is made of: state -> build_view(state) -> render(view).

A page parses its URL (or its controls' values) into one `ViewState`, builds a plain frozen view
value from it (cached per state and data version) and renders that value into one container,
so the layout and the callback cannot show different things for the same state.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, SupportsFloat, TypeVar

from dashboard import components
from dashboard.data import AppData
from dashboard.figures.style import is_missing
from dashboard.i18n import _
from db.viewstate import ViewState
from db.vocabulary import EVENT_KINDS

V = TypeVar("V")


def shown(
    data: AppData,
    page: str,
    state: ViewState,
    build: Callable[[AppData, ViewState], V],
    render: Callable[[V], list[Any]],
) -> tuple[V, list[Any]]:
    """The view of a normalised state and its rendered container, each built once per state and
    data version and then reused in this process (layouts and callbacks share them)."""
    view = data.kept(f"view:{page}:{state!r}", lambda: build(data, state))
    content = data.kept(f"render:{page}:{state!r}", lambda: render(view))
    return view, content


def optional_number(cell: SupportsFloat | None) -> float | None:
    """A numeric cell of a frame as a float for a typed row; NULL (None, NaN or NA) as None.

    The text helpers read None as they read NaN, and every number through float().
    """
    if cell is None or is_missing(cell):
        return None
    return float(cell)


def source_labels(data: AppData) -> dict[str, str]:
    """Short "Publisher (date)" labels per source id, for hover text: one dict per data version."""
    return data.shared("source-labels", lambda: components.source_labels(data.dataset("sources")))


def known_kinds(data: AppData) -> list[str]:
    """Event kinds in the database, in the vocabulary's order (undeclared ones last)."""
    kinds = set(data.dataset("events")["kind"])
    return [k for k in EVENT_KINDS if k in kinds] + sorted(kinds - set(EVENT_KINDS))


def chosen_kinds(
    wanted: tuple[str, ...] | None,
    known: list[str],
    default: tuple[str, ...],
    problems: list[str],
) -> tuple[str, ...]:
    """The kinds a view shows, in one canonical order (so one view has one cache key)."""
    if wanted is None:
        return tuple(k for k in default if k in known)
    unknown = [k for k in wanted if k not in known]
    if unknown:
        problems.append(_("unknown event kind(s): {kinds}").format(kinds=", ".join(unknown)))
    return tuple(k for k in known if k in wanted)
