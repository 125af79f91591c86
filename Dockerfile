# campaign-bot: publishes a campaign's Mastodon posts, unattended.
# Build: docker build -t campaign-bot .   Run: see compose.yaml and the README.

FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/venv
# Dependencies first, from exact versions, so a code change does not reinstall them.
COPY requirements.lock ./
RUN /opt/venv/bin/pip install -r requirements.lock
COPY pyproject.toml README.md ./
COPY bot ./bot
RUN /opt/venv/bin/pip install --no-deps .

FROM python:3.11-slim-bookworm
# A fixed uid, so operators can give it the token file: chown 10001 secrets/mastodon-token
RUN groupadd --system --gid 10001 campaign \
    && useradd --system --uid 10001 --gid 10001 --home-dir /app --shell /usr/sbin/nologin campaign \
    && mkdir -p /app/config /app/posts /app/data \
    && chown campaign:campaign /app/data
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    CAMPAIGN_BOT_CONFIG=/app/config/bot.yaml
WORKDIR /app
# config/ and posts/ are mounted read-only; the ledger lives in the data volume.
VOLUME ["/app/data"]
USER 10001:10001
HEALTHCHECK --interval=60s --timeout=15s --start-period=60s --retries=3 \
    CMD ["campaign-bot", "health"]
CMD ["campaign-bot", "run"]
