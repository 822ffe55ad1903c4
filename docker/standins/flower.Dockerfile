# Stand-in for mher/flower:2.x: Flower from PyPI with the service's own Celery
# and redis versions, and wget for the compose health check. Non-root, like
# the official image. Built by scripts/standin_images.py.
ARG PYTHON_IMAGE=media-jobs-standin/python:3.11-bookworm
FROM ${PYTHON_IMAGE}

RUN apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wget \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb

ARG FLOWER_VERSION
ARG CELERY_VERSION
ARG REDIS_PY_VERSION
RUN --mount=type=cache,target=/root/.cache/pip \
    python -m venv /opt/flower \
    && /opt/flower/bin/pip install --quiet "flower==${FLOWER_VERSION}" \
        "celery[redis]==${CELERY_VERSION}" "redis==${REDIS_PY_VERSION}"

ENV PATH=/opt/flower/bin:$PATH
USER 10001:10001
EXPOSE 5555
CMD ["celery", "flower"]
