"""Help output that reads like a CLI's: flags without a type, values as ``TEXT``/``PATH``/``FLOAT``.

Typer prints a ``<bool>`` metavar after every flag (``--wait <bool>``, even ``--help <bool>``), so a
flag looks as if it took a value, and ``<list[str]>`` for repeatable options. The group class
here fixes the metavars of every command under it, once, before help or parsing sees them.
(Typer carries its own copy of click, so parameters are told apart by ``param_type_name``.)
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperGroup


def polish_params(command: Any, ctx: Any) -> None:
    """Give every parameter of ``command`` (and of its subcommands) a plain metavar."""
    if getattr(command, "_kg_polished", False):
        return
    help_option = command.get_help_option(ctx)  # made once and cached by click
    for param in [*command.params, *([help_option] if help_option is not None else [])]:
        if param.metavar is not None:
            continue
        if param.param_type_name == "option":
            if param.is_flag or param.count:
                param.metavar = ""
            else:
                param.metavar = _value_name(param.display_type(ctx))
        elif param.param_type_name == "argument":
            param.metavar = (param.name or "arg").upper()
            param.display_type_rich = _no_type  # the name says it: "FAMILY", not "FAMILY <str>"
    command._kg_polished = True
    if hasattr(command, "commands"):
        for sub in command.commands.values():
            polish_params(sub, ctx)


def _no_type(ctx: Any = None) -> None:
    return None


_NAMES = {"str": "TEXT", "int": "INTEGER", "int range": "INTEGER", "float": "NUMBER", "float range": "NUMBER"}


def _value_name(typer_label: str) -> str:
    """``<list[str]>`` → ``TEXT``, ``<int range>`` → ``INTEGER``, ``<path>`` → ``PATH``; choices kept."""
    label = typer_label.strip("<>")
    if label.startswith("list[") and label.endswith("]"):
        label = label[5:-1]
    return _NAMES.get(label, label if "|" in label else label.upper())


class PlainHelpGroup(TyperGroup):
    """The ``kling-gateway`` group: plain metavars everywhere (see the module docstring)."""

    def get_params(self, ctx: Any) -> Any:
        polish_params(self, ctx)
        params = super().get_params(ctx)
        for param in params:  # the completion options are added here, not kept in self.params
            if (
                param.param_type_name == "option"
                and param.metavar is None
                and getattr(param, "is_flag", False)
            ):
                param.metavar = ""
        return params

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            polish_params(command, ctx)
        return command
