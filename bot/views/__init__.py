"""Views: answers turned into Slack messages (Block Kit), within Slack's limits; one module per
subject, over the shared parts in `blocks`. All user-facing wording lives here, once."""

from bot.query import (
    ACTION_BACK,
    ACTION_HISTORY,
    ACTION_NEXT,
    ACTION_OPEN,
    ACTION_PREVIOUS,
    ACTION_REFRESH,
    ACTION_SHARE,
    ACTION_USED_BY,
    ACTIONS,
)
from bot.views.answers import (
    failure_sentence,
    render_bad_input,
    render_failure,
    render_help,
    render_internal_error,
    render_refusal,
    render_too_slow,
)
from bot.views.blocks import (
    COMMAND,
    Message,
    escape,
    escaped,
    shorten,
)
from bot.views.groups import ByExternalId, Elsewhere, render_listing, render_provider_choice
from bot.views.home import (
    SEARCH_BUTTON,
    SEARCH_MODAL,
    WHY_BUTTON,
    WHY_MODAL,
    WHY_SHORTCUT,
    Failures,
    Home,
    render_home,
    render_modal_answer,
    render_search_modal,
    render_why_modal,
)
from bot.views.people import GroupChange, render_failures, render_history, render_users
from bot.views.rules import render_used_by
from bot.views.why import Read, Why, render_why

__all__ = [
    "ACTIONS",
    "ACTION_BACK",
    "ACTION_HISTORY",
    "ACTION_NEXT",
    "ACTION_OPEN",
    "ACTION_PREVIOUS",
    "ACTION_REFRESH",
    "ACTION_SHARE",
    "ACTION_USED_BY",
    "COMMAND",
    "SEARCH_BUTTON",
    "SEARCH_MODAL",
    "WHY_BUTTON",
    "WHY_MODAL",
    "WHY_SHORTCUT",
    "ByExternalId",
    "Elsewhere",
    "Failures",
    "GroupChange",
    "Home",
    "Message",
    "Read",
    "Why",
    "escape",
    "escaped",
    "failure_sentence",
    "render_bad_input",
    "render_failure",
    "render_failures",
    "render_help",
    "render_history",
    "render_home",
    "render_internal_error",
    "render_listing",
    "render_modal_answer",
    "render_provider_choice",
    "render_refusal",
    "render_search_modal",
    "render_too_slow",
    "render_used_by",
    "render_users",
    "render_why",
    "render_why_modal",
    "shorten",
]
