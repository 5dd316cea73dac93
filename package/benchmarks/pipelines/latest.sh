#!/usr/bin/env bash
# The naive pipeline: one image, cached from the newest image of the same kind.
#   docker pull IMAGE:latest || true
#   docker build --cache-from IMAGE:latest -t IMAGE:latest -t IMAGE:SHA .
#   docker push IMAGE:SHA && docker push IMAGE:latest
# The benchmark runs it for two Dockerfiles:
#   baseline           benchmarks/baseline/Dockerfile, the single-stage build Stageline replaced
#   multistage-latest  the project's multi-stage Dockerfile (target production), built the
#                      same way: only the final stage is in IMAGE:latest and its inline
#                      cache, so build-python and build-node have no cache source.
# Built as `docker build` builds on Docker 23+ (BuildKit), with inline cache so that
# --cache-from can work at all: the classic builder's --cache-from fails on the
# containerd image store that the benchmark's runner has.
#
# A branch (REF other than DEFAULT_BRANCH) reads IMAGE:<branch> first, then IMAGE:latest,
# and writes IMAGE:<branch> instead of IMAGE:latest, as such pipelines are usually written.
#
# Usage: latest.sh pull|build|push   (one call per step, as a CI job's script; the
# benchmark times each). Environment: IMAGE, REF, DEFAULT_BRANCH, SHA, CONTEXT, DOCKERFILE,
# TARGET (empty: the last stage), PYTHON_IMAGE, NODE_IMAGE, DOCKER_HOST.
set -euo pipefail

if [ "$REF" = "$DEFAULT_BRANCH" ]; then
    OWN_TAG="$IMAGE:latest"
    CACHE_REFS=("$IMAGE:latest")
else
    OWN_TAG="$IMAGE:$REF"
    CACHE_REFS=("$IMAGE:$REF" "$IMAGE:latest")
fi

pull() {  # the newest image this ref may build on, if there is one
    for ref in "${CACHE_REFS[@]}"; do
        if docker pull "$ref"; then
            return
        fi
    done
}

build() {
    local args=(--progress plain --network host --file "$DOCKERFILE")
    if [ -n "$TARGET" ]; then
        args+=(--target "$TARGET")
    fi
    for ref in "${CACHE_REFS[@]}"; do
        args+=(--cache-from "$ref")
    done
    echo "==> build image"
    docker build "${args[@]}" \
        --build-arg BUILDKIT_INLINE_CACHE=1 \
        --build-arg "PYTHON_IMAGE=$PYTHON_IMAGE" \
        --build-arg "NODE_IMAGE=$NODE_IMAGE" \
        --tag "$OWN_TAG" --tag "$IMAGE:$SHA" \
        "$CONTEXT"
}

push() {
    docker push "$IMAGE:$SHA"
    docker push "$OWN_TAG"
}

case "${1:-}" in
    pull | build | push) "$1" ;;
    *)
        echo "usage: $0 pull|build|push" >&2
        exit 2
        ;;
esac
