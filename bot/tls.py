"""The TLS context every HTTP client of the bot verifies servers with, made once per process.

httpx makes a new context for each client, and loading the CA bundle into it costs about 25 ms of
CPU: the bot makes a client per Cloudflare account and one to post replies, and each test makes
its own. Verification is httpx's default (certifi's bundle, `SSL_CERT_FILE` and `SSL_CERT_DIR`
when set); a context is safe to share between clients and threads.
"""

from __future__ import annotations

import functools
import ssl

import httpx


@functools.cache
def context() -> ssl.SSLContext:
    """Give back the process's TLS context, as httpx would make it for a client."""
    return httpx.create_ssl_context()
