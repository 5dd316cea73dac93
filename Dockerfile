# Production image for Stageline, built in stages. The stage names are an
# interface: the build tool (the stageline package) reads the stage graph as
# BuildKit does, and tags, pushes and pulls each stage the target needs as a
# cache source. One build makes two images ([tool.stageline] targets in
# pyproject.toml): `production`, the image that ships, and `development`, the
# image the CI test jobs run in; the stages they share build once. Adding a
# stage needs no change to the tasks.
#
# Base images are build arguments so that a mirror or GitLab's dependency
# proxy can serve them, e.g.
#   --build-arg PYTHON_IMAGE=${CI_DEPENDENCY_PROXY_GROUP_IMAGE_PREFIX}/python:3.13-slim
# Everything below works with the official images and with plain Debian
# images: only `python3`, `python3 -m venv` and groupadd/useradd are assumed.
ARG PYTHON_IMAGE=python:3.13-slim
ARG NODE_IMAGE=node:24-slim

# ---------------------------------------------------------------------------
# build-python: resolve and install the Python dependencies into a venv that
# the final stage copies whole. Compilers and -dev headers, if a dependency
# ever needs them, belong here and never reach the final image. Only the
# requirement files are copied, so a source or JS change leaves this stage
# fully cached.
FROM ${PYTHON_IMAGE} AS build-python

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python3 -m venv /opt/venv

# Every file production.txt includes (-r) must be listed here.
COPY requirements/base.txt requirements/production.txt /tmp/requirements/
# Pinned requirements (==) keep this step deterministic; no wheel cache is kept.
RUN /opt/venv/bin/pip install --no-cache-dir -r /tmp/requirements/production.txt

# ---------------------------------------------------------------------------
# build-node: build the webpack bundle on a real Node image. The manifest and
# lockfile come first so `npm ci` is cached until dependencies change; a
# requirements change leaves this stage fully cached. It runs on the build
# machine's platform ($BUILDPLATFORM, which BuildKit sets): webpack's output
# does not depend on the architecture, so a multi-platform build runs it once,
# at native speed, and every platform shares `assets`. The classic builder
# sets no $BUILDPLATFORM, hence the default. (A global `ARG BUILDPLATFORM` is no
# way out: BuildKit 0.13 then leaves it empty.)
FROM --platform=${BUILDPLATFORM:-linux/amd64} ${NODE_IMAGE} AS build-node

WORKDIR /app

COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund

COPY webpack.config.js ./
COPY assets/ ./assets/
# Writes assets/dist/ including webpack-stats.json for django-webpack-loader.
RUN npm run build

# ---------------------------------------------------------------------------
# assets: the built bundle alone, on an empty base (one layer of a few kB).
# production copies from here rather than from build-node: when the bundle is
# cached, production's copy needs this layer, not Node and node_modules
# unpacked from the registry.
FROM scratch AS assets

COPY --from=build-node /app/assets/dist /dist

# ---------------------------------------------------------------------------
# development: the Django development image, with the local requirements
# (tests, linters) on top of build-python's venv. It is not an ancestor of
# production and never gets the release tags; the CI test jobs run in it
# (IMAGE:development-<sha>) with the checkout as their working folder. Mount
# the source at /app to run it, as docker-compose.local.yml (`invoke dev`) does.
# It comes before production: a plain `docker build .` (and any platform that
# builds a Dockerfile's last stage) must give the image that ships.
FROM build-python AS development

ENV PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    DJANGO_SETTINGS_MODULE=config.settings.local

# Every file local.txt includes (-r) must be listed here. The build tooling
# (requirements/build.txt: the stageline package) runs on the host, not here.
COPY requirements/base.txt requirements/production.txt requirements/local.txt \
    /tmp/requirements/
RUN /opt/venv/bin/pip install --no-cache-dir -r /tmp/requirements/local.txt

WORKDIR /app
EXPOSE 8000
CMD ["python3", "manage.py", "runserver", "0.0.0.0:8000"]

# ---------------------------------------------------------------------------
# production: what runs. Runtime only: the venv (psycopg[binary] ships libpq,
# so no system libraries are added), the app source and the built bundle; no
# compiler, no Node, no npm. Runs as an unprivileged user.
FROM ${PYTHON_IMAGE} AS production

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    DJANGO_SETTINGS_MODULE=config.settings.production

# A fixed system user and group; the stand-in base images have no adduser.
RUN groupadd --system --gid 10001 django \
    && useradd --system --uid 10001 --gid django --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin django

COPY --from=build-python /opt/venv /opt/venv

# Strip CRLF (a Windows checkout) and set the mode here: build contexts made
# with normalised file modes would otherwise drop the executable bit.
COPY compose/production/django/entrypoint /entrypoint
COPY compose/production/django/start /start
RUN sed -i 's/\r$//' /entrypoint /start && chmod 0755 /entrypoint /start

WORKDIR /app

# Sources as late as possible: everything above stays cached on a code change.
# The source comes before the bundle, so that on a JS change BuildKit copies it
# (fetching this stage's base and venv) while webpack runs in build-node.
COPY . /app
COPY --from=assets /dist /app/assets/dist

# Collect (and hash) static files into the image so whitenoise serves them
# with far-future cache headers. The secret key is a throwaway that exists
# only for this one command; it is not an ENV or ARG and does not persist.
RUN DJANGO_SECRET_KEY=build-only-collectstatic-key \
    python3 manage.py collectstatic --noinput

# Numeric, so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
USER 10001:10001

EXPOSE 8000

ENTRYPOINT ["/entrypoint"]
CMD ["/start"]
