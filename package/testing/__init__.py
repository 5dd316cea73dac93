"""The real-service test harness: what every suite and the benchmark run against.

Loaded into pytest through ``pytest_plugins`` (tests/conftest.py); benchmarks/ imports it
too, and nothing here imports from tests/.

- fixtures.py: the pytest plugin (the main engine, the loopback registry, the mirror
  images, the production image built once, a fresh database, the production server)
- network.py: bridges for the test daemons, claimed per run on a free /24 and deleted
  after (registries take free ports: checks.py)
- daemons.py: a dockerd of a test's own; runners.py: empty-cache CI runners on it;
  tls_daemon.py: one that speaks only TLS, as GitLab's dind does
- registries.py: CNCF registries on loopback and reads of what they hold;
  token_service.py: the token auth GitLab's registry uses; access_log.py: which blobs
  crossed a registry; private_index.py: a package index behind basic auth
- projects.py: copies of this checkout and tiny projects; task_runner.py: the invoke
  tasks run as a user runs them; gitlab_ci_local.py: the pipeline through gitlab-ci-local
- emulation.py: arm64 under QEMU (the binfmt handler, the mirror's arm64 image)
- production_image.py: the production image and its containers; leftovers.py: what a run
  left behind; checks.py: skip (or fail under CI) when a service is missing
"""
