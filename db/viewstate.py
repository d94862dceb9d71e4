"""One strict parser for a view's URL: the API, every page's layout and every callback read it.

A view is one frozen `ViewState`, parsed once from a query string and written back to one by the
same value. Every problem is listed (never dropped silently) so a page can show it and the API can
answer 400 with it. It lives with the read side in `db/` and imports only the standard library
(and `db.message`, which does too), so the dashboard, the API and `ironriver export` share it.
Its problems are `db.message.Message`s: English text the dashboard can write in Spanish too.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from urllib.parse import urlencode

from db.message import Message

# Any year a date can hold, so every value the database can hold stays addressable; pages and
# charts apply their own plausible window on top.
YEAR_MIN, YEAR_MAX = 1, 9999
# Bounds on what a parameter may be, so hostile input costs nothing to refuse.
MAX_PARAMETERS = 30
MAX_TEXT = 200
MAX_KINDS = 20
# How much of a bad value a problem message repeats.
SHOWN = 40

# Parameters that marketing links add; they say nothing about the view and are ignored silently.
TRACKING = re.compile(
    r"(utm_[a-z0-9_]*|fbclid|gclid|dclid|gbraid|wbraid|msclkid|yclid|twclid|ttclid|igshid|"
    r"mc_cid|mc_eid|_ga|_gl|_hsenc|_hsmi|mkt_tok|li_fat_id|ref_src|s_cid|si|ref)",
    re.IGNORECASE,
)
_STATE_CODE = re.compile(r"[A-Z]{2}|[0-9]{2}")
_TOKEN = re.compile(r"[a-z0-9_]{1,60}")
_SERIES_KEY = re.compile(r"[a-z0-9.:-]{1,160}")
_ASCII_DIGITS = re.compile(r"[0-9]{1,4}")

# The URL name of each field (`from`/`to` are keywords in Python).
URL_NAMES = {"year_from": "from", "year_to": "to"}
# Every parameter a view can carry, in the order a query string writes them.
PARAMETERS = (
    "us",
    "mx",
    "state",
    "question",
    "kinds",
    "release",
    "period",
    "measure",
    "year",
    "from",
    "to",
)


# A field's check: (URL name, text, problems) -> the value, or None after listing a problem.
Check = Callable[[str, str, list[str]], object]


class InvalidRequest(ValueError):
    """A filter that cannot be honoured; its message is one line fit for a 400 response."""


class InvalidInput(InvalidRequest):
    """Input that cannot describe a view, with every problem listed: a 400 for callback posts."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(self.problems))


@dataclass(frozen=True)
class ViewState:
    """Everything a URL can say about a view; `None` is "not given" (the page's default)."""

    us: str | None = None
    mx: str | None = None
    state: str | None = None
    question: str | None = None
    # `()` is "none chosen" (`kinds=`), distinct from `None`, "not given".
    kinds: tuple[str, ...] | None = None
    release: str | None = None
    period: str | None = None
    measure: str | None = None
    year: int | None = None
    year_from: int | None = None
    year_to: int | None = None

    def params(self) -> dict[str, str]:
        """The query parameters that reproduce this state, in a stable order."""
        out: dict[str, str] = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if value is None:
                continue
            name = URL_NAMES.get(item.name, item.name)
            out[name] = ",".join(value) if isinstance(value, tuple) else str(value)
        return out

    def query_string(self) -> str:
        """`?a=1&b=2` (or "" for the default view): what a permalink carries."""
        params = self.params()
        return "?" + urlencode(params) if params else ""


@dataclass(frozen=True)
class Parsed:
    """A parsed query string: the state made of every valid parameter, and every problem."""

    state: ViewState
    problems: tuple[str, ...] = field(default=())


def shown(value: object) -> str:
    """A bad value as a message may repeat it: short, printable, never a second log line."""
    text = value if isinstance(value, str) else repr(value)
    clipped = "".join(c if c.isprintable() else "?" for c in text[:SHOWN])
    return clipped + ("…" if len(text) > SHOWN else "")


def is_tracking(name: str) -> bool:
    """Whether `name` is a marketing parameter (`utm_source`, `fbclid`...), ignored silently."""
    return bool(TRACKING.fullmatch(name))


def _one(name: str, value: object, problems: list[str]) -> str | None:
    """The single text value of a parameter; a repeated one must repeat the same value."""
    if isinstance(value, list | tuple):
        if not value or not all(isinstance(v, str) for v in value):
            problems.append(Message("{name} must be text", name=name))
            return None
        distinct = list(dict.fromkeys(value))
        if len(distinct) > 1:
            problems.append(
                Message(
                    "{name} was given {count} times ({values}); using {value}",
                    name=name,
                    count=len(value),
                    values=shown(", ".join(distinct)),
                    value=shown(distinct[0]),
                )
            )
        value = distinct[0]
    if not isinstance(value, str):
        problems.append(Message("{name} must be text, not {value}", name=name, value=shown(value)))
        return None
    return value


def _year(name: str, text: str, problems: list[str]) -> int | None:
    # ASCII digits only: str.isdigit() also accepts "²", and int() of 4,301 digits raises.
    text = text.strip()
    if _ASCII_DIGITS.fullmatch(text) and YEAR_MIN <= int(text) <= YEAR_MAX:
        return int(text)
    problems.append(
        Message(
            "{name}={value} is not a year from {first} to {last}",
            name=name,
            value=shown(text),
            first=YEAR_MIN,
            last=YEAR_MAX,
        )
    )
    return None


def _text(name: str, text: str, problems: list[str]) -> str | None:
    if len(text) > MAX_TEXT or not text.isprintable():
        problems.append(
            Message("{name}={value} is not a valid {name}", name=name, value=shown(text))
        )
        return None
    return text


def _pattern(pattern: re.Pattern[str], what: Message, upper: bool = False) -> Check:
    def check(name: str, text: str, problems: list[str]) -> str | None:
        value = text.strip().upper() if upper else text.strip()
        if pattern.fullmatch(value):
            return value
        problems.append(
            Message("{name}={value} is not {what}", name=name, value=shown(text), what=what)
        )
        return None

    return check


def _kinds(name: str, text: str, problems: list[str]) -> tuple[str, ...] | None:
    wanted = [k.strip() for k in text.split(",") if k.strip()]
    bad = [k for k in wanted if not _TOKEN.fullmatch(k)]
    if bad or len(wanted) > MAX_KINDS:
        problems.append(
            Message("{name}={value} is not a list of event kinds", name=name, value=shown(text))
        )
        return None
    return tuple(dict.fromkeys(wanted))


_FIELDS: dict[str, tuple[str, Check]] = {
    "us": ("us", _pattern(_SERIES_KEY, Message("a series"))),
    "mx": ("mx", _pattern(_SERIES_KEY, Message("a series"))),
    "state": ("state", _pattern(_STATE_CODE, Message("a USPS or INEGI state code"), upper=True)),
    "question": ("question", _pattern(_TOKEN, Message("a question"))),
    "kinds": ("kinds", _kinds),
    "release": ("release", _text),
    "period": ("period", _text),
    "measure": ("measure", _pattern(_TOKEN, Message("a measure"))),
    "year": ("year", _year),
    "from": ("year_from", _year),
    "to": ("year_to", _year),
}


def parse(query: Mapping[str, object], allowed: Iterable[str] = PARAMETERS) -> Parsed:
    """Parse query parameters (values: text, or a list for a repeated parameter).

    `allowed` names the parameters the caller honours; others are problems, except tracking
    parameters, which are ignored silently.
    """
    allowed = frozenset(allowed)
    problems: list[str] = []
    values: dict[str, object] = {}
    names = [n for n in query if not (isinstance(n, str) and is_tracking(n))]
    if len(names) > MAX_PARAMETERS:
        problems.append(
            Message(
                "{count} parameters; only the first {limit} were read",
                count=len(names),
                limit=MAX_PARAMETERS,
            )
        )
        names = names[:MAX_PARAMETERS]
    for name in names:
        if not isinstance(name, str) or name not in allowed or name not in _FIELDS:
            problems.append(Message("unknown parameter {name}", name=shown(name)))
            continue
        text = _one(name, query[name], problems)
        if text is None:
            continue
        attribute, check = _FIELDS[name]
        if name != "kinds" and text.strip() == "":
            continue  # `?year=` is the default, as if not given
        value = check(name, text, problems)
        if value is not None:
            values[attribute] = value
    start, end = values.get("year_from"), values.get("year_to")
    if isinstance(start, int) and isinstance(end, int) and start > end:
        problems.append(Message("from ({start}) is after to ({end})", start=start, end=end))
        del values["year_from"], values["year_to"]
    return Parsed(ViewState(**values), tuple(problems))  # type: ignore[arg-type]


def from_callback(**inputs: object) -> ViewState:
    """Callback inputs (component values) as a state, through the same parser, or `InvalidInput`.

    Components send text, whole numbers, `None` and (for `kinds`) lists of text; anything else is
    a hand-made request, refused.
    """
    query: dict[str, object] = {}
    problems: list[str] = []
    for name, value in inputs.items():
        if value is None:
            continue
        if name == "kinds" and isinstance(value, list | tuple):
            if not all(isinstance(k, str) for k in value):
                problems.append(Message("kinds must be a list of text"))
                continue
            query[name] = ",".join(value)
        elif isinstance(value, bool) or not isinstance(value, str | int | float):
            problems.append(
                Message(
                    "{name} must be text or a number, not {value}", name=name, value=shown(value)
                )
            )
        elif isinstance(value, float) and not value.is_integer():
            problems.append(
                Message("{name}={value} is not a whole number", name=name, value=shown(value))
            )
        elif isinstance(value, int | float):
            query[name] = str(int(value)) if abs(value) < 10**6 else shown(value)
        else:
            query[name] = value
    parsed = parse(query, allowed=inputs.keys())
    if problems or parsed.problems:
        raise InvalidInput([*problems, *parsed.problems])
    return parsed.state


def window_inputs(value: object) -> tuple[object, object]:
    """The (from, to) of a range slider's value, or `InvalidInput` for anything but two values."""
    if value is None:
        return None, None
    if isinstance(value, list) and len(value) == 2:
        return value[0], value[1]
    raise InvalidInput([Message("window={value} is not a pair of years", value=shown(value))])
