"""The README's settings and command tables, written by cog from the declarations they document."""

from __future__ import annotations

from collections.abc import Iterator

import click

from db import settings


def _cell(text: str) -> str:
    """A Markdown table cell: pipes escaped, even inside code spans (GitHub's tables need it)."""
    return text.replace("|", "\\|")


def _table(header: tuple[str, ...], rows: Iterator[tuple[str, ...]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def settings_table() -> str:
    """One row per declared setting: variable, default and its help text."""
    return _table(
        ("variable", "default", "meaning"),
        (
            (f"`{s.env}`", f"`{s.default}`" if s.default else "empty", s.help)
            for s in settings.SETTINGS
        ),
    )


def _usage(path: str, command: click.Command, context: click.Context) -> str:
    parts = [f"ironriver {path}"]
    for param in command.params:
        if isinstance(param, click.Argument):
            parts.append(param.make_metavar(context))
        elif isinstance(param, click.Option) and "--help" not in param.opts:
            name = max(param.opts, key=len)
            shown = name if param.is_flag else f"{name} {param.make_metavar(context)}"
            parts.append(f"[{shown}]")
    return " ".join(parts)


def _commands(group: click.Group, prefix: str = "") -> Iterator[tuple[str, click.Command]]:
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from _commands(command, f"{prefix}{name} ")
        else:
            yield f"{prefix}{name}", command


def _description(command: click.Command) -> str:
    """The command's docstring on one line, then each option's help on a line of its own."""
    lines = [" ".join((command.help or "").split())]
    for param in command.params:
        if isinstance(param, click.Option) and param.help:
            shown = param.show_default and param.default not in (None, False)
            text = f"{param.help.rstrip('.')} (default {param.default})." if shown else param.help
            lines.append(f"`{max(param.opts, key=len)}`: {text}")
    return "<br>".join(lines)


def commands_table(cli: click.Group) -> str:
    """One row per command of `cli`: its usage, its docstring and its options' help."""
    context = click.Context(cli, info_name="ironriver")
    return _table(
        ("command", "what it does"),
        (
            (f"`{_usage(path, command, context)}`", _description(command))
            for path, command in _commands(cli)
        ),
    )
