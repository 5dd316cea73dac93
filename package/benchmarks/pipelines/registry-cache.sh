#!/usr/bin/env bash
# GitLab's registry-cache recipe, as GitLab's docs give it to a careful user:
#   docker buildx build --cache-from type=registry,ref=$IMAGE/cache:buildcache \
#     --cache-to type=registry,ref=$IMAGE/cache:buildcache,mode=max \
#     --target production -t $IMAGE:latest --push .
# One BuildKit solve reads every stage's cache from one registry cache ref, exports the
# cache of every step (mode=max) back to it, and pushes the image straight from the
# build. The benchmark adds what every variant gets: the base images as build arguments,
# the host's network (the runner has no NAT), plain progress, and a second tag IMAGE:SHA
# so that the pipeline's image can be read back, as latest.sh and per-stage.sh tag it.
#
# With PLATFORMS set (e.g. linux/amd64,linux/arm64; two_platforms.py), the same command
# gets --platform "$PLATFORMS": one solve builds every platform (the foreign ones under
# QEMU), pushes an image index and exports every platform's cache to the one cache ref.
#
# A branch (REF other than DEFAULT_BRANCH) writes IMAGE:<branch> instead of IMAGE:latest
# and, as the recipe in GitLab's docs does, reads and writes the same cache ref as the
# default branch (so a branch's pipeline overwrites the default branch's cache).
#
# Usage: registry-cache.sh pull|build|push   (one call per step, as latest.sh; the
# benchmark times each). pull and push do nothing: BuildKit reads the cache and pushes
# during the build. Environment: IMAGE, REF, DEFAULT_BRANCH, SHA, CONTEXT, DOCKERFILE,
# TARGET, PYTHON_IMAGE, NODE_IMAGE, DOCKER_HOST, PLATFORMS (optional).
set -euo pipefail

if [ "$REF" = "$DEFAULT_BRANCH" ]; then
    OWN_TAG="$IMAGE:latest"
else
    OWN_TAG="$IMAGE:$REF"
fi
CACHE_REF="$IMAGE/cache:buildcache"

pull() {  # nothing to pull: the build reads the cache from the registry
    :
}

build() {
    echo "==> build image"
    docker buildx build --progress plain --network host --file "$DOCKERFILE" \
        ${PLATFORMS:+--platform "$PLATFORMS"} \
        --cache-from "type=registry,ref=$CACHE_REF" \
        --cache-to "type=registry,ref=$CACHE_REF,mode=max" \
        --target "$TARGET" \
        --build-arg "PYTHON_IMAGE=$PYTHON_IMAGE" \
        --build-arg "NODE_IMAGE=$NODE_IMAGE" \
        --tag "$OWN_TAG" --tag "$IMAGE:$SHA" \
        --push "$CONTEXT"
}

push() {  # nothing left to push: --push pushed the image during the build
    :
}

case "${1:-}" in
    pull | build | push) "$1" ;;
    *)
        echo "usage: $0 pull|build|push" >&2
        exit 2
        ;;
esac
