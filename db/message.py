"""Words `db/` writes for people (URL problems, rate notes): English text that keeps its template.

A `Message` is the English string everyone already reads (the API's 400 answer, the CSV's
`rate_note`), and it also carries its template and values, so the dashboard can write the same
message in the reader's language (`dashboard.text.translated`) instead of parsing English back.
Templates are `str.format` strings with named placeholders; `python -m dashboard.messages` reads
every literal `Message("...")` in `db/` into the catalogue. Standard library only.
"""

from __future__ import annotations

from typing import Any


class Message(str):
    """`template.format(**values)`, remembering `template` and `values` (which may be Messages)."""

    template: str
    values: dict[str, Any]

    def __new__(cls, template: str, **values: Any) -> Message:
        message = super().__new__(cls, template.format(**values))
        message.template = template
        message.values = values
        return message

    def __reduce__(self) -> tuple[Any, ...]:
        # Cached frames are pickled; a Message comes back a Message, not a plain str.
        return (_rebuilt, (self.template, self.values))


def _rebuilt(template: str, values: dict[str, Any]) -> Message:
    return Message(template, **values)
