"""Prometheus metrics, served at GET /metrics.

Under gunicorn every worker process counts on its own; prometheus-client's multiprocess mode
(PROMETHEUS_MULTIPROC_DIR, set up by bot/gunicorn_config.py) adds them up at scrape time.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

REQUESTS = Counter(
    "scim_groups_requests", "Commands and clicks answered, by kind and outcome.", ["kind", "outcome"]
)
CACHE = Counter(
    "scim_groups_cache",
    "Answers by how the cache served them: hit, miss, aging (past its TTL, refreshed behind) or stale.",
    ["result"],
)
UPSTREAM = Counter(
    "scim_groups_upstream_requests", "Calls to Cloudflare, by HTTP status or error.", ["status"]
)
UPSTREAM_LATENCY = Histogram(
    "scim_groups_upstream_latency_seconds",
    "How long one call to Cloudflare took.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
ALERTS = Counter("scim_groups_alerts", "Failure alerts posted, resolved, or refused by Slack.", ["outcome"])
RETRIES = Counter("scim_groups_upstream_retries", "Calls to Cloudflare tried again.")
REFUSALS = Counter("scim_groups_refusals", "Requests refused by the access policy, by reason.", ["reason"])
REDIS_ERRORS = Counter("scim_groups_redis_errors", "Requests answered without Redis because it failed.")
REDIS_REJECTED = Counter(
    "scim_groups_redis_rejected",
    "Entries read from Redis and not used, by reason: forged (bad seal) or malformed.",
    ["reason"],
)
RESPONSE_URL_RETRIES = Counter(
    "scim_groups_response_url_retries", "Replies posted again because the first try never reached Slack."
)
RESPONSE_URL_FAILURES = Counter(
    "scim_groups_response_url_failures",
    "Replies that Slack's response_url did not take, by status.",
    ["status"],
)


def exposition() -> tuple[bytes, str]:
    """Give back the metrics in Prometheus' text format, and its content type."""
    # prometheus-client's own switch: set, every process writes its samples to files there.
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
