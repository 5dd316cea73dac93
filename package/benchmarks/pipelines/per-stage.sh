#!/usr/bin/env bash
# The careful hand-written pipeline for a multi-stage Dockerfile: every stage is built
# with --target, tagged IMAGE:<stage> and pushed, so that the next pipeline has a cache
# source for each stage (inline cache: each stage image carries its own layers' cache).
#   for each stage: docker pull IMAGE:<stage> || true
#   for each stage: docker build --target <stage> --cache-from IMAGE:<stage>
#                       --cache-from <the earlier stages' tags> -t IMAGE:<stage> .
#   push every stage's tag, then IMAGE:SHA and IMAGE:latest (the final stage)
# Built with BuildKit, as `docker build` builds on Docker 23+ (see latest.sh).
#
# A branch (REF other than DEFAULT_BRANCH) tags IMAGE:<stage>--<branch>, reads those
# first and the default branch's IMAGE:<stage> after, and pushes no IMAGE:latest.
#
# Usage: per-stage.sh pull|build|push   (one call per step, as a CI job's script; the
# benchmark times each). Environment: IMAGE, REF, DEFAULT_BRANCH, SHA, CONTEXT, DOCKERFILE,
# PYTHON_IMAGE, NODE_IMAGE, DOCKER_HOST.
set -euo pipefail

STAGES=(build-python build-node assets production)   # in Dockerfile order; the last is the image
FINAL=production

own_tag() {  # the tag this ref writes for stage $1
    if [ "$REF" = "$DEFAULT_BRANCH" ]; then
        echo "$IMAGE:$1"
    else
        echo "$IMAGE:$1--$REF"
    fi
}

cache_refs() {  # the tags this ref reads for stage $1, newest first
    own_tag "$1"
    if [ "$REF" != "$DEFAULT_BRANCH" ]; then
        echo "$IMAGE:$1"
    fi
}

pull() {
    for stage in "${STAGES[@]}"; do
        for ref in $(cache_refs "$stage"); do
            if docker pull "$ref"; then
                break
            fi
        done
    done
}

build() {
    local cache_from=()
    for stage in "${STAGES[@]}"; do
        for ref in $(cache_refs "$stage"); do   # this stage's tags, and every earlier stage's
            cache_from+=(--cache-from "$ref")
        done
        local tags=(--tag "$(own_tag "$stage")")
        if [ "$stage" = "$FINAL" ]; then
            tags+=(--tag "$IMAGE:$SHA")
            if [ "$REF" = "$DEFAULT_BRANCH" ]; then
                tags+=(--tag "$IMAGE:latest")
            fi
        fi
        echo "==> build $stage"
        docker build --progress plain --network host --file "$DOCKERFILE" \
            --target "$stage" "${cache_from[@]}" \
            --build-arg BUILDKIT_INLINE_CACHE=1 \
            --build-arg "PYTHON_IMAGE=$PYTHON_IMAGE" \
            --build-arg "NODE_IMAGE=$NODE_IMAGE" \
            "${tags[@]}" "$CONTEXT"
    done
}

push() {
    for stage in "${STAGES[@]}"; do
        docker push "$(own_tag "$stage")"
    done
    docker push "$IMAGE:$SHA"
    if [ "$REF" = "$DEFAULT_BRANCH" ]; then
        docker push "$IMAGE:latest"
    fi
}

case "${1:-}" in
    pull | build | push) "$1" ;;
    *)
        echo "usage: $0 pull|build|push" >&2
        exit 2
        ;;
esac
