"""`python -m dashboard.messages`: bring the Spanish catalogue up to date with the code.

The messages the app needs are every literal wrapped in `_()`, `N_()` or `ngettext()` under
`dashboard/` (extracted with Babel) and every label of `db/vocabulary.py`. Updating adds new
messages untranslated and drops unused ones; `tests/test_i18n.py` fails until each has Spanish.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

from dashboard.i18n import CATALOGUE, LOCALES
from db import vocabulary

DASHBOARD = Path(__file__).parent
KEYWORDS = {"_": None, "N_": None, "ngettext": (1, 2)}
VOCABULARIES = (
    vocabulary.UNITS,
    vocabulary.EVENT_KINDS,
    vocabulary.ESTIMATE_QUESTIONS,
    vocabulary.MEASURES,
    vocabulary.GEO_LEVELS,
    vocabulary.AGGREGATE_DIMENSIONS,
    vocabulary.SOURCE_CATEGORIES,
)


def used() -> dict[str, str]:
    """Every message the app can show -> where it is first written ("pages/map.py:12")."""
    found: dict[str, str] = {}
    for filename, line, message, _comments, _context in extract_from_dir(
        DASHBOARD, method_map=[("**.py", "python")], keywords=KEYWORDS
    ):
        for text in message if isinstance(message, tuple) else (message,):
            if text:
                found.setdefault(text, f"{filename}:{line}")
    for name, terms in _vocabulary_labels():
        for code, term in terms:
            found.setdefault(term, f"db/vocabulary.py:{name}.{code}")
    return found


def _vocabulary_labels() -> Iterator[tuple[str, list[tuple[str, str]]]]:
    names = {id(v): n for n, v in vars(vocabulary).items() if isinstance(v, dict)}
    for terms in VOCABULARIES:
        yield names[id(terms)], [(code, entry.en) for code, entry in terms.items()]


def load(path: Path = CATALOGUE) -> Catalog:
    """The Spanish catalogue as Babel reads it."""
    with path.open("rb") as handle:
        return read_po(handle, locale=LOCALES["es"])


def update(path: Path = CATALOGUE) -> tuple[int, int]:
    """Add missing messages (untranslated) and drop unused ones; (added, dropped)."""
    catalogue = load(path) if path.exists() else Catalog(locale=LOCALES["es"])
    needed = used()
    have = {str(m.id) for m in catalogue if m.id}
    dropped = sorted(have - needed.keys())
    for message_id in dropped:
        del catalogue[message_id]
    added = sorted(needed.keys() - have)
    for message_id in added:
        catalogue.add(message_id, "")
    catalogue.project, catalogue.version = "Iron River", ""
    catalogue.language_team = "Iron River <https://github.com/ironriver>"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        write_po(handle, catalogue, width=100, no_location=True, sort_output=True)
    return len(added), len(dropped)


def main() -> int:
    added, dropped = update()
    print(f"{CATALOGUE}: {added} messages added (untranslated), {dropped} unused dropped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
