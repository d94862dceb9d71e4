"""`python -m dashboard.messages`: bring the Spanish catalogue up to date with the code.

The messages the app needs are every literal wrapped in `_()`, `N_()` or `ngettext()` under
`dashboard/` (extracted with Babel), every `Message("...")` template under `db/` (problems and
notes `db/` writes, see `db/message.py`), every label of `db/vocabulary.py` and every US state's
name in `geo/us_states.csv` (Mexican states' names are Spanish already). Updating adds new
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
from geo.states import us_states

DASHBOARD = Path(__file__).parent
DB = DASHBOARD.parent / "db"
KEYWORDS = {"_": None, "N_": None, "ngettext": (1, 2)}
DB_KEYWORDS = {"Message": None}
VOCABULARIES = (
    vocabulary.UNITS,
    vocabulary.EVENT_KINDS,
    vocabulary.ESTIMATE_QUESTIONS,
    vocabulary.MEASURES,
    vocabulary.GEO_LEVELS,
    vocabulary.AGGREGATE_DIMENSIONS,
    vocabulary.SOURCE_CATEGORIES,
)


# A message's catalogue id: its English text, or (singular, plural) for a plural entry.
MessageId = str | tuple[str, str]


def used() -> dict[MessageId, str]:
    """Every message the app can show -> where it is first written ("pages/map.py:12").

    `ngettext(singular, plural, n)` is one plural entry, keyed (singular, plural).
    """
    found: dict[MessageId, str] = {}
    for folder, keywords, where in ((DASHBOARD, KEYWORDS, ""), (DB, DB_KEYWORDS, "db/")):
        for filename, line, message, _comments, _context in extract_from_dir(
            folder, method_map=[("**.py", "python")], keywords=keywords
        ):
            if isinstance(message, tuple) and all(message):
                found.setdefault((message[0], message[1]), f"{where}{filename}:{line}")
            elif isinstance(message, str) and message:
                found.setdefault(message, f"{where}{filename}:{line}")
    for name, terms in _vocabulary_labels():
        for code, term in terms:
            found.setdefault(term, f"db/vocabulary.py:{name}.{code}")
    for code, state in zip(us_states()["usps"], us_states()["name"], strict=True):
        found.setdefault(state, f"geo/us_states.csv:{code}")
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
    have = {m.id for m in catalogue if m.id}
    dropped = sorted(have - needed.keys(), key=str)
    for message_id in dropped:
        del catalogue[message_id]
    added = sorted(needed.keys() - have, key=str)
    for message_id in added:
        catalogue.add(message_id, ("", "") if isinstance(message_id, tuple) else "")
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
