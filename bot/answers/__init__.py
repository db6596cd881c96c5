"""The kinds of answer, one module each, registered here: a new kind is its module, its view,
one line in a table, and its tests (`bot.answers.kinds` says what a kind is)."""

from typing import Any

from bot.answers import browse, changed, failures, history, lookup, search, used_by, users, why
from bot.answers.kinds import DetailKind, PageKind
from bot.query import BadInput, Kind, Show, ShowHelp, read_command

# What answers a command or a paging click, by the kind of its query.
ANSWERS: dict[Kind, PageKind[Any]] = {
    "browse": browse.ANSWER,
    "search": search.ANSWER,
    "id": lookup.ANSWER,
    "external": lookup.ANSWER,
    "any": lookup.ANSWER,
    "user": users.ANSWER,
    "failures": failures.ANSWER,
    "changed": changed.ANSWER,
    "why": why.ANSWER,
}
# How a command reads, kind by kind: in this order where the options are listed, the search
# (which reads any words, and no words as browsing) last.
READINGS = tuple(dict.fromkeys(kind.reading for kind in ANSWERS.values() if kind.reading is not None))
# What answers a group's History or Used by button.
DETAILS: dict[str, DetailKind[Any]] = {"history": history.DETAIL, "used_by": used_by.DETAIL}


def parse_command(text: str, *, page_size: int) -> Show | ShowHelp | BadInput:
    """Give back what the command's text asks for, read by its kind of answer; never raises."""
    return read_command(text, READINGS, page_size=page_size)
