"""The interface's languages: English, and Mexican Spanish from one gettext catalogue.

Every label the app writes is English in the code, wrapped in `_()` (or `N_()` where it is only
named, such as a page's name at import time), and its Spanish lives in
`dashboard/locale/es/LC_MESSAGES/messages.po`, read with Babel. Vocabulary labels
(`db/vocabulary.py`) are English msgids too. The language of the current request is a context
variable: a page's layout, a callback and the page shell set it from the URL's `/es` prefix, so
the functions that write text need no language argument. Data keep their published wording.
"""

from __future__ import annotations

import datetime as dt
import gettext
import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from functools import cache
from pathlib import Path

from babel.dates import format_date as _babel_format_date
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LANGUAGES = ("en", "es")
DEFAULT = "en"
# The Babel locale of each language. es-MX writes 7,825 and 68.3 as English does, so numbers
# keep one formatter (dashboard/text.py); dates and the percent sign differ.
LOCALES = {"en": "en_US", "es": "es_MX"}
# Each language's name in itself, for the language switch.
NAMES = {"en": "English", "es": "Español"}
# The URL prefix of each language; English URLs have none (permalinks are a contract).
PREFIXES = {"en": "", "es": "/es"}
# plotly.js locale of each language's charts (registered in assets/plotly-locale-es-mx.js).
PLOTLY_LOCALES = {"en": "en", "es": "es-MX"}
CATALOGUE = Path(__file__).parent / "locale" / "es" / "LC_MESSAGES" / "messages.po"

_language: ContextVar[str] = ContextVar("language", default=DEFAULT)


@cache
def _catalogue() -> Catalog:
    with CATALOGUE.open("rb") as handle:
        return read_po(handle, locale=LOCALES["es"])


@cache
def translations() -> dict[str, str]:
    """English msgid -> Spanish msgstr of every translated, non-fuzzy catalogue entry.

    A plural entry gives each English form its Spanish one (es-MX has English's two forms).
    """
    found: dict[str, str] = {}
    for message in _catalogue():
        english, spanish = _forms(message.id), _forms(message.string)
        if any(english) and spanish and all(spanish) and not message.fuzzy:
            found.update(zip(english, spanish, strict=True))
    return found


def _forms(value: object) -> tuple[str, ...]:
    """A catalogue msgid or msgstr as its forms: one string, or one per plural form."""
    if isinstance(value, str):
        return (value,)
    return tuple(str(form) for form in value) if isinstance(value, tuple | list) else ()


@cache
def _plural_catalogue() -> gettext.GNUTranslations:
    """The catalogue as gettext reads it, which picks a plural form by its Plural-Forms rule."""
    compiled = io.BytesIO()
    write_mo(compiled, _catalogue())  # an untranslated form falls back to its English msgid
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


def language() -> str:
    """The language of what is being rendered now ("en" or "es")."""
    return _language.get()


@contextmanager
def use(lang: str) -> Iterator[None]:
    """Render in `lang` inside the block (an unknown language is refused, never guessed)."""
    if lang not in LANGUAGES:
        raise ValueError(f"unknown language {lang!r}")
    token = _language.set(lang)
    try:
        yield
    finally:
        _language.reset(token)


def set_language(lang: str) -> Token[str]:
    """Render the rest of this request in `lang` (the request hook; blocks use `use`); the
    token given back restores the language before it when the request ends."""
    if lang not in LANGUAGES:
        raise ValueError(f"unknown language {lang!r}")
    return _language.set(lang)


def restore_language(token: Token[str]) -> None:
    """The language as it was before the `set_language` that gave `token`."""
    _language.reset(token)


def _(message: str) -> str:
    """`message` in the current language; English is the msgid itself."""
    if _language.get() == DEFAULT:
        return message
    return translations().get(message, message)


def N_(message: str) -> str:
    """Marks `message` for the catalogue without translating it (translated where it is shown)."""
    return message


def ngettext(singular: str, plural: str, count: int) -> str:
    """The form of a message for `count` in the current language: one catalogue entry with
    `msgid` / `msgid_plural` in English and a `msgstr[n]` per Spanish plural form."""
    if _language.get() == DEFAULT:
        return singular if count == 1 else plural
    return _plural_catalogue().ngettext(singular, plural, count)


def language_of(path: str) -> str:
    """The language a URL path is in: `/es` and `/es/...` are Spanish, everything else English."""
    for lang, prefix in PREFIXES.items():
        if prefix and (path == prefix or path.startswith(prefix + "/")):
            return lang
    return DEFAULT


def unprefixed(path: str) -> str:
    """The English path of a page path in any language: `/es/trends` -> `/trends`, `/es` -> `/`."""
    prefix = PREFIXES[language_of(path)]
    return (path[len(prefix) :] or "/") if prefix else path


def localised(path: str, lang: str | None = None) -> str:
    """An app path in `lang` (default: the current one): `/sources#x` -> `/es/sources#x`, `/` -> `/es/`."""
    return PREFIXES[lang or language()] + path if path.startswith("/") else path


def percent_sign() -> str:
    """What follows a percentage: "68.3%" in English, "68.3 %" (no-break space) in Spanish."""
    return "%" if language() == DEFAULT else "\u00a0%"


def format_date(value: dt.date) -> str:
    """A date as readers of the current language expect: "Jun 3, 2023", "3 jun 2023"."""
    return _babel_format_date(value, format="medium", locale=_locale())


def _locale() -> str:
    return LOCALES[language()]


# `{name}` placeholders, which a translation must keep exactly.
PLACEHOLDER = re.compile(r"\{[a-z_0-9]*(?:[:!][^}]*)?\}")
