# The API for the compose stack: scripts/devserver/ (chalice local's gateway behind
# guards) serving app.py, as in `make dev`.
# Build from the repository root with BuildKit, as worker/Dockerfile:
#   docker build -f docker/api.Dockerfile -t media-jobs-api .
# In AWS the API is a Lambda function (chalice package), not this image.

ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
COPY requirements.txt constraints.txt ./
# chalice is a development tool here (its local gateway serves the API), so it is not
# in requirements.txt, which lists what goes into the Lambda.
ARG CHALICE_VERSION=1.34.0
# pip's download cache: a BuildKit cache mount, kept between builds, never in a layer.
RUN --mount=type=cache,target=/root/.cache/pip \
    python -m venv /opt/venv \
    && /opt/venv/bin/pip install --upgrade pip \
    && /opt/venv/bin/pip install -r requirements.txt "chalice==${CHALICE_VERSION}" -c constraints.txt

FROM ${PYTHON_IMAGE} AS runtime

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --shell /usr/sbin/nologin app

COPY --from=build /opt/venv /opt/venv

WORKDIR /app
COPY --chown=root:root app.py requirements.txt ./
COPY --chown=root:root .chalice/config.json .chalice/config.json
COPY --chown=root:root chalicelib/ chalicelib/
COPY --chown=root:root scripts/__init__.py scripts/
COPY --chown=root:root scripts/devserver/ scripts/devserver/

USER 10001:10001
EXPOSE 8000

HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/api/health', timeout=4).status != 200)"]

CMD ["python", "-m", "scripts.devserver", "--host", "0.0.0.0", "--port", "8000", "--stage", "local", "--run-schedules"]
