# scim-groups as a container image: `docker build -t scim-groups .` (docs/DEPLOYING.md).
# HTTP mode by default (one process on $PORT); compose.yaml runs gunicorn with several workers
# and Redis. Settings come from the environment (`docker run --env-file .env …`).

# The build stage installs the app and its runtime dependencies (no dev tools) into a venv.
FROM python:3.12-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY bot ./bot
RUN python -m venv /opt/scim-groups \
    && /opt/scim-groups/bin/pip install --no-compile . \
    && /opt/scim-groups/bin/python -m compileall -q /opt/scim-groups/lib

# The runtime stage: the venv, a non-root user, nothing else.
FROM python:3.12-slim-bookworm
RUN useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin scim
COPY --from=build /opt/scim-groups /opt/scim-groups
ENV PATH=/opt/scim-groups/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PORT=3000
WORKDIR /app
USER 10001:10001
EXPOSE 3000
# In HTTP mode, /healthz on $PORT; in Socket Mode (SLACK_APP_TOKEN set) nothing listens and the
# probe passes. bot.health imports only the settings reader, so a probe costs little.
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
    CMD ["python", "-m", "bot.health"]
# SIGTERM drains: requests in flight finish and owed replies are posted (up to 25 s).
STOPSIGNAL SIGTERM
CMD ["python", "-m", "bot"]
