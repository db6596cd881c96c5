"""Cloudflare's API, as the bot talks to it: the client (`client`), the errors it raises as one
tree (`errors`), and what it reads Cloudflare's answers into (`records`)."""

from bot.cloudflare.client import (
    CALLS,
    DEFAULT_TIMEOUT,
    MAX_PER_PAGE,
    CloudflareClient,
    Params,
    RetryPolicy,
    TokenKind,
)
from bot.cloudflare.errors import (
    ApiMessage,
    AuthFailed,
    BudgetSpent,
    CloudflareError,
    NotFound,
    PermissionMissing,
    RateLimited,
    Rejected,
    Unavailable,
)
from bot.cloudflare.records import (
    MAX_TEXT,
    GroupPage,
    GroupRow,
    IdentityProvider,
    ListPage,
    ScimGroup,
    moment_or_none,
    text_of,
)

__all__ = [
    "CALLS",
    "DEFAULT_TIMEOUT",
    "MAX_PER_PAGE",
    "MAX_TEXT",
    "ApiMessage",
    "AuthFailed",
    "BudgetSpent",
    "CloudflareClient",
    "CloudflareError",
    "GroupPage",
    "GroupRow",
    "IdentityProvider",
    "ListPage",
    "NotFound",
    "Params",
    "PermissionMissing",
    "RateLimited",
    "Rejected",
    "RetryPolicy",
    "ScimGroup",
    "TokenKind",
    "Unavailable",
    "moment_or_none",
    "text_of",
]
