# Stand-in for localstack/localstack when its image cannot be had: moto's S3
# server (the version in constraints.txt) on port 4566, answering LocalStack's
# health path, non-root, with curl for the compose health check. Objects live in
# memory. Built by scripts/standin_images.py.
ARG PYTHON_IMAGE=media-jobs-standin/python:3.11-bookworm
FROM ${PYTHON_IMAGE}

RUN apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends curl \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb

ARG MOTO_VERSION
RUN --mount=type=cache,target=/root/.cache/pip \
    python -m venv /opt/moto \
    && /opt/moto/bin/pip install --quiet "moto[s3,server]==${MOTO_VERSION}"

COPY s3_emulator.py /opt/moto/s3_emulator.py
ENV PATH=/opt/moto/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    MOTO_PORT=4566
USER 10001:10001
EXPOSE 4566
CMD ["python", "/opt/moto/s3_emulator.py"]
