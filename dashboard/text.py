"""How numbers, statuses and measures read in words: every chart, table and summary uses these."""

from __future__ import annotations

import textwrap
from functools import cache

import pandas as pd

from dashboard import i18n
from dashboard.i18n import N_, _
from db.message import Message
from db.vocabulary import EVENT_KINDS, MEASURES, UNITS, label
from geo import states

NO_FIGURE_TEXT = N_("no published figure")
QUALIFIER_PREFIX = {
    "approx": "≈",
    "more_than": ">",
    "less_than": "<",
    "at_least": "≥",
    "at_most": "≤",
}
STATUS_WORDS = {"NO_FIGURE": NO_FIGURE_TEXT}


def kind_label(kind: str) -> str:
    """An event kind as readers see it ("GC-Armas", "Court cases")."""
    return _(label(EVENT_KINDS, kind))


def unit_label(unit: str) -> str:
    """The words after a number in `unit` ("firearms", "USD million", "%")."""
    return _(label(UNITS, unit))


def format_value(value: object, unit: str | None, qualifier: str | None = None) -> str:
    """ "≈4,800 firearms", "41%", "USD 127.2 million"; a missing value says so, never 0."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return _(NO_FIGURE_TEXT)
    text = format_number(value)
    prefix = QUALIFIER_PREFIX.get(qualifier or "", "")
    if unit == "percent":
        return f"{prefix}{text}{i18n.percent_sign()}"
    if unit == "usd_millions":
        return prefix + _("USD {amount} million").format(amount=text)
    word = _(label(UNITS, unit or ""))
    return f"{prefix}{text} {word}".strip()


def format_number(value: object) -> str:
    """17352 -> "17,352"; 67.13 -> "67.13"; 68.40 -> "68.4"."""
    number = float(value)  # type: ignore[arg-type]
    if number.is_integer():
        return f"{number:,.0f}"
    return f"{number:,.2f}".rstrip("0").rstrip(".")


def state_names(lang: str | None = None) -> dict[str, str]:
    """USPS and INEGI codes to state names as readers of `lang` (default: the current language)
    write them: a US state's English name (geo/us_states.csv) is a catalogue message, so Spanish
    pages say "Nuevo México" and "Carolina del Norte"; Mexican states keep INEGI's names."""
    return _state_names(lang or i18n.language())


@cache
def _state_names(lang: str) -> dict[str, str]:
    with i18n.use(lang):
        # INEGI codes are digits, USPS codes letters: only the US names are English.
        return {
            code: name if code.isdigit() else _(name) for code, name in states.state_names().items()
        }


def state_sort_key(name: str) -> str:
    """How a list of state names is ordered: accents and case folded, as Spanish alphabetical
    order treats them ("Nuevo León", "Nuevo México", "Oaxaca"; no state name has an ñ)."""
    return states.normalize_name(name)


def status_text(status: object) -> str:
    """A status as readers see it: "NO_FIGURE" reads "no published figure"."""
    return _(STATUS_WORDS[str(status)]) if str(status) in STATUS_WORDS else str(status)


def translated(text: object) -> str:
    """Words `db/` wrote (a URL problem, a rate's note) in the current language: a
    `db.message.Message` is rewritten from its template, values included; other text is as is."""
    if not isinstance(text, Message):
        return str(text)
    values = {name: translated(value) for name, value in text.values.items()}
    return _(text.template).format(**values)


def status_heading() -> str:
    """The heading of a column of statuses: the word of the "Status: " label ("Estatus" in
    Spanish, where the Status page's own name is "Estado")."""
    return _("Status: ").rstrip(": ")


def with_category(text: str, category: object) -> str:
    """ "1,316 firearms" + "long guns" -> "1,316 firearms (long guns only)"; no category, no change."""
    if category is None or (isinstance(category, float) and pd.isna(category)) or not category:
        return text
    return _("{figure} ({category} only)").format(figure=text, category=category)


def is_part_year(period: object, year_start: float | None, year_end: float | None) -> bool:
    """A single-year row whose period is not the plain year ("2018 (Jan-Aug)", "FY2023 H1")."""
    if year_start is None or year_end is None or pd.isna(year_start) or pd.isna(year_end):
        return False
    if int(year_start) != int(year_end):
        return False
    return str(period).strip() != str(int(year_start))


def measure_label(measure: str) -> str:
    """`us_sourced_pct` -> its label in the vocabulary; an undeclared measure reads as its code."""
    return _(label(MEASURES, measure))


def wrap(text: object, width: int = 60) -> str:
    """Long notes broken into hover-sized lines (plotly hover boxes do not wrap)."""
    return "<br>".join(textwrap.wrap(str(text or ""), width))


def estimate_text(
    low: object, central: object, high: object, unit: str, qualifier: str | None = None
) -> str:
    """ "253,000 firearms (range 89,816–359,205)"; missing parts are left out, never zeroed."""
    parts = []
    if central is not None and not pd.isna(central):  # type: ignore[call-overload]
        parts.append(format_value(central, unit, qualifier))
    has_range = all(v is not None and not pd.isna(v) for v in (low, high))  # type: ignore[call-overload]
    if has_range:
        span = f"{format_number(low)}–{format_value(high, unit)}"
        parts.append(_("(range {span})").format(span=span) if parts else span)
    return " ".join(parts) or _(NO_FIGURE_TEXT)


def format_rate(value: object) -> str:
    """Three significant digits, never scientific: 27.75 -> "27.8", 0.00412 -> "0.00412"."""
    number = float(value)  # type: ignore[arg-type]
    return f"{number:,.0f}" if abs(number) >= 100 else f"{number:.3g}"


def format_when(value: object) -> str:
    """A UTC time as "Jun 3, 2023 14:05:09" / "3 jun 2023 14:05:09"; none is ""."""
    if value is None or pd.isna(value):  # type: ignore[call-overload]
        return ""
    moment = pd.Timestamp(value).to_pydatetime()  # type: ignore[arg-type]
    return f"{i18n.format_date(moment.date())} {moment:%H:%M:%S}"
