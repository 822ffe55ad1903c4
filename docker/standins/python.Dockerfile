# Stand-in for python:3.11.x-slim-bookworm when the registry cannot be reached:
# Debian bookworm's own Python 3.11 on the debootstrapped base. Built by
# scripts/standin_images.py, tagged media-jobs-standin/python:3.11-bookworm.
ARG BASE_IMAGE=media-jobs-standin/debian:bookworm-minbase
FROM ${BASE_IMAGE}

ENV LANG=C.UTF-8 \
    DEBIAN_FRONTEND=noninteractive

# python-is-python3: the Dockerfiles call `python`, as in the official image.
# update-ca-certificates keeps the host's bundle (copied into the base under
# /usr/local/share/ca-certificates) so pip trusts what the host trusts.
RUN apt-get update -qq \
    && apt-get install -y -qq --no-install-recommends \
        python3 python3-venv python-is-python3 ca-certificates \
    && update-ca-certificates >/dev/null \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb

CMD ["python3"]
