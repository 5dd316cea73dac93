# A stand-in for docker:<version>-cli, the image of the pipeline's docker jobs (build,
# smoke, deploy): the docker CLI with buildx and compose, an ssh client for DOCKER_HOST=ssh://,
# and Python for stageline (the real image is Alpine; its jobs `apk add python3`); with rsync
# it is also gitlab-ci-local's helper image (copying artifacts out). Built by
# .ci/build-base-images on the Python stand-in, from Debian trixie's packages.
ARG PYTHON_IMAGE
FROM ${PYTHON_IMAGE}
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        docker-cli docker-buildx docker-compose openssh-client git rsync \
    && rm -rf /var/lib/apt/lists/*
