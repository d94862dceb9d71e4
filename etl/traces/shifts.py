"""Rows shifted by a missing or an extra cell: which kept columns a dropped value could reach, and
free text shaped like an identifier.

A row that lost a cell and gained a trailing comma (or the reverse) keeps the header's width,
and its cells move over. Where a kept column no vocabulary checks sits near a dropped one, the
dropped value (a serial, a name) would be stored; both check paths reject such rows.
"""

from __future__ import annotations

import re

from etl.traces.columns import ALLOWED_COLUMNS, FREE_TEXT_COLUMNS

# How many cells a row may be shifted by and still keep the header's width unnoticed: a missing
# cell (or two) made up by trailing commas, an extra one made up by a dropped blank last cell.
SHIFT_REACH = 2
# Kept columns no vocabulary checks: a dropped value shifted into one of them would be stored.
SHIFT_EXPOSED: tuple[str, ...] = ("trace_number", *FREE_TEXT_COLUMNS)
# Required checked columns, and the checked columns whose values can pass their check too (a
# purchase date is a date; a country cell may read "México", a time-to-crime "9", both states).
# A row shifted left moves each later cell into the column on its left: a required column
# reading a cell from any other checked column, or the blank made up at the row's end, fails.
SHIFT_SHIELDS: dict[str, frozenset[str]] = {
    "recovery_date": frozenset({"purchase_date"}),
    "recovery_state": frozenset({"recovery_country", "source_state", "time_to_crime_days"}),
    "firearm_type": frozenset(),
    "source_category": frozenset(),
}


# A calibre token: `9mm`, `.223`, `7.62x39`, `5.56x45mm`, `7.62x54R`, `300BLK`, `.30-06`, `7mm-08`.
_CALIBER_TOKEN = re.compile(
    r"\.?[0-9]{1,3}(?:\.[0-9]{1,3})?(?:[xX][0-9]{1,3}(?:\.[0-9]{1,3})?)?[A-Za-z]{0,4}"
    r"(?:-[0-9]{1,3}[A-Za-z]{0,4})?"
)


def identifier_shaped(text: str, *, caliber: bool = False) -> bool:
    """Whether free text holds a token shaped like an identifier rather than a word.

    A token (no spaces) with 3 digits or more and a letter, or with 5 digits or more, is what a
    serial number, a licence number, a date of birth or a note's reference looks like; a city,
    a maker or a country has none. Calibres are the exception, and `caliber` lets their
    grammar through. A value shifted in from a dropped column is rejected this way wherever the
    column sits in the header.
    """
    for token in text.split():
        digits = sum(ch.isdigit() for ch in token)
        if digits < 3 or (caliber and _CALIBER_TOKEN.fullmatch(token)):
            continue
        if digits >= 5 or any(ch.isalpha() for ch in token):
            return True
    return False


def identifier_reason(name: str) -> str:
    """Why a row whose free-text cell `name` is identifier-shaped is rejected; names no value."""
    return (
        f"{name} is shaped like an identifier (a serial or licence number), not free text: "
        "the row may be shifted, so none of its cells is kept"
    )


def trailing_blank_reason(exposed: tuple[str, ...]) -> str:
    """Why a row of a left-exposed layout that ends in a blank cell is rejected; names no value."""
    return (
        f"the row ends in a blank cell and {', '.join(exposed)} sits at most {SHIFT_REACH} cells "
        "left of a dropped column: a missing cell before it would shift the dropped value in, "
        "so none of its cells is kept"
    )


def exposure(
    names: list[str], positions: dict[str, int]
) -> tuple[tuple[str, ...], tuple[tuple[str, tuple[int, ...]], ...]]:
    """Which unchecked kept columns a shift of up to SHIFT_REACH cells could fill with a dropped
    column's value: those with one on their right (a left shift), and each of them with the
    dropped columns near it (their indices in `names`).

    Every named column off the allow-list counts, sensitive or not: the loader cannot know what
    an unknown column holds, and none of its values may be stored. Unnamed columns (a header
    ending in a comma, as every line may) are padding, not a source.
    """
    kept = set(positions.values()) | {index for index, name in enumerate(names) if not name}
    left: list[str] = []
    near: list[tuple[str, tuple[int, ...]]] = []
    for name in SHIFT_EXPOSED:
        at = positions.get(name)
        if at is None:
            continue
        right = [
            i for i in range(at + 1, min(at + SHIFT_REACH, len(names) - 1) + 1) if i not in kept
        ]
        left_of = [i for i in range(max(at - SHIFT_REACH, 0), at) if i not in kept]
        if any(not _shielded(names, at, i - at) for i in right):
            left.append(name)
        if right or left_of:
            near.append((name, tuple(sorted(left_of + right))))
    return tuple(left), tuple(near)


def _shielded(names: list[str], at: int, shift: int) -> bool:
    """Whether a left shift by `shift` cells into column `at` always fails a check: some
    required checked column after it would read a cell its check refuses."""
    for index in range(at + 1, len(names)):
        compatible = SHIFT_SHIELDS.get(names[index])
        if compatible is None:
            continue
        source = index + shift
        if source >= len(names):
            return True  # a required column reads a blank made up at the row's end
        other = names[source]
        if other in ALLOWED_COLUMNS and other not in SHIFT_EXPOSED and other not in compatible:
            return True
    return False
