# One image for every xinfang service; the command picks the service:
#   docker run --rm xinfang python -m services.intake    (or services.router, services.tracker)
#   docker run --rm xinfang xf --help
# Configuration comes from XF_* environment variables (services/common/settings.py).

# ---------------------------------------------------------------------------------------------------
# build: compiles the dependencies into a virtualenv. durable_rules ships no wheels and is built from
# source here, which is why this stage has a C toolchain and the runtime stage does not.
FROM python:3.11-slim-bookworm AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

# Dependencies first, read from pyproject.toml, so that a code change does not rebuild durable_rules.
# README.m[d] copies README.md (pyproject names it as the readme) and copies nothing while there is none.
COPY pyproject.toml README.m[d] /src/
RUN python -c "import tomllib; \
        project = tomllib.load(open('/src/pyproject.toml', 'rb'))['project']; \
        print('\n'.join(project['dependencies']))" > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt

# Then the project itself (not editable: the runtime image holds no source tree).
COPY services /src/services
RUN pip install --no-deps /src

# ---------------------------------------------------------------------------------------------------
FROM python:3.11-slim-bookworm

# tzdata: zoneinfo needs the time-zone database for XF_TIMEZONE (Asia/Shanghai by default).
RUN apt-get update \
    && apt-get install -y --no-install-recommends tzdata \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --system --gid 10001 xinfang \
    && useradd --system --uid 10001 --gid xinfang --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin xinfang

COPY --from=build /opt/venv /opt/venv

WORKDIR /app
# Rules baked in as a default; docker-compose mounts the working copy over /app/rules read-only.
COPY --chown=root:root rules /app/rules

# XF_RULES_DIR: the settings default is relative to a source tree, which an installed package does
# not have. XF_HOST: services listen on all interfaces in a container (the settings default is loopback).
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    XF_RULES_DIR=/app/rules \
    XF_HOST=0.0.0.0

USER xinfang

EXPOSE 8001 8002 8003

CMD ["xf", "--help"]
