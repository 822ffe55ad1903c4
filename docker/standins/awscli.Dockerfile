# Stand-in for amazon/aws-cli:2.x: AWS CLI v1 from PyPI (v2 is not on PyPI),
# which reads AWS_ENDPOINT_URL too. Built by scripts/standin_images.py.
ARG PYTHON_IMAGE=media-jobs-standin/python:3.11-bookworm
FROM ${PYTHON_IMAGE}

ARG AWSCLI_VERSION
RUN --mount=type=cache,target=/root/.cache/pip \
    python -m venv /opt/awscli \
    && /opt/awscli/bin/pip install --quiet "awscli==${AWSCLI_VERSION}" \
    && ln -s /opt/awscli/bin/aws /usr/local/bin/aws

USER 10001:10001
ENTRYPOINT ["aws"]
