"""The glossary: the words Iron River uses in English and Spanish, and the sources that use them.

Its one home is `dashboard/locale/glossary.csv` (a term, its Spanish, a definition in each
language, the ids of the sources in the database that use it, and the patterns by which a test
checks that the catalogue's translations keep to it). The Sources page shows it.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from dashboard import i18n

GLOSSARY = Path(__file__).parent / "locale" / "glossary.csv"
# The Sources page section's anchor in each language (`/sources#glossary`, `/es/sources#glosario`).
ANCHORS = {"en": "glossary", "es": "glosario"}


@dataclass(frozen=True)
class Term:
    """One glossary entry."""

    slug: str
    term_en: str
    term_es: str
    definition_en: str
    definition_es: str
    source_ids: tuple[str, ...]  # sources in the database that use the term; may be none
    match_en: str  # a regular expression finding the term in an English message
    match_es: str  # ... and the Spanish its translation must then contain

    def term(self, lang: str | None = None) -> str:
        """The term in `lang` (default: the current language)."""
        return self.term_es if (lang or i18n.language()) == "es" else self.term_en

    def definition(self, lang: str | None = None) -> str:
        """The definition in `lang` (default: the current language)."""
        return self.definition_es if (lang or i18n.language()) == "es" else self.definition_en


@cache
def terms() -> tuple[Term, ...]:
    """Every glossary entry, in the file's order."""
    with GLOSSARY.open(encoding="utf-8", newline="") as handle:
        return tuple(
            Term(
                slug=row["slug"],
                term_en=row["term_en"],
                term_es=row["term_es"],
                definition_en=row["definition_en"],
                definition_es=row["definition_es"],
                source_ids=tuple(row["source_ids"].split()),
                match_en=row["match_en"],
                match_es=row["match_es"],
            )
            for row in csv.DictReader(handle)
        )


def anchor(lang: str | None = None) -> str:
    """The glossary section's anchor on the Sources page in `lang` (default: the current one)."""
    return ANCHORS[lang or i18n.language()]
