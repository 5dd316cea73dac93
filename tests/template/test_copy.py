"""Start a project from the template with non-default answers and check what a user gets."""

from __future__ import annotations

import ast
import os
import re
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from stageline.dockerfile import read_dockerfile
from testing.task_runner import ok, run_task

from tests.template.conftest import (
    ACME,
    REPO_ROOT,
    STAGELINE,
    TEMPLATE_TAG,
    answers_args,
    copier,
    git,
    make_template_repo,
    run,
    start_project,
)

pytestmark = pytest.mark.template

# Where the template's name may stay in a generated project, and why. Everything else that
# says "stageline" (any case) is a leftover where the user's name belongs.
ALLOWED_DIRS = {
    "tests/": "tests name their own fixtures (test hosts and databases)",
}
ALLOWED_EVERYWHERE = [
    r"\b(?:from|import) stageline\b",  # imports of the build package
    r"\bstageline\.tasks\b",  # its invoke collection
    r"\bstageline\[invoke\]==[\d.]+",  # its pin in requirements/build.txt
    r"`stageline`",  # the package or its command, named in prose
    r"\bstageline package\b",  # the package, named in prose
    r"\bstageline (?:plan|pull|build|push|merge|dev|release|deploy|rollback|prune|--version)\b",
    r"https://stageline\.readthedocs\.io/\S*",  # its docs site
    r"\[tool\.stageline\]",  # its settings table in pyproject.toml
    r"\bSTAGELINE_[A-Z_*]+",  # its settings
    r"\bStageline\w*Error\b",  # its exceptions
    r"\(stageline\)",  # headings "Build (stageline)": its settings
    r"\bstageline_\w+",  # its metric names (stageline_cache_hit_ratio_<stage>)
    r"\bio\.stageline\.[\w.-]+",  # its image label (io.stageline.content-key)
]
ALLOWED_IN_FILE = {
    "README.md": [
        r"\bthe Stageline template\b",  # where the project came from
        r"\[Stageline\]\(",  # the build tool, linked to its docs
        r"\bStageline's settings\b",  # the link to its settings
    ],
    ".gitlab-ci.yml": [  # the CI job's throwaway database service and scratch directory
        r"POSTGRES_(?:DB|USER|PASSWORD): stageline$",
        r"stageline:stageline@postgres:5432/stageline",
        r"/tmp/stageline-ci/",
    ],
}
# Caches a tool run in the project leaves behind (git ignores them): not the project's text.
CACHE_DIRS = {".git", ".mypy_cache", ".ruff_cache", ".pytest_cache", "__pycache__"}
NAME = re.compile("stageline", re.IGNORECASE)


def leftover_names(project: Path) -> list[str]:
    """Return ``path:line: text`` for each line naming the template outside the allowlist."""
    found = []
    for path in sorted(project.rglob("*")):
        relative = path.relative_to(project).as_posix()
        if not path.is_file() or CACHE_DIRS.intersection(path.relative_to(project).parts):
            continue
        if any(relative.startswith(prefix) for prefix in ALLOWED_DIRS):
            continue
        allowed = [*ALLOWED_EVERYWHERE, *ALLOWED_IN_FILE.get(relative, [])]
        text = path.read_text(encoding="utf-8", errors="replace")
        for number, line in enumerate(text.splitlines(), start=1):
            rest = line
            for pattern in allowed:
                rest = re.sub(pattern, "", rest)
            if NAME.search(rest):
                found.append(f"{relative}:{number}: {line.strip()}")
    return found


def test_no_template_name_is_left_where_the_users_belongs(acme_project: Path) -> None:
    leftovers = leftover_names(acme_project)
    assert not leftovers, "template names left in the generated project:\n" + "\n".join(leftovers)


def test_the_users_names_are_in_place(acme_project: Path) -> None:
    readme = (acme_project / "README.md").read_text()
    assert readme.startswith(f"# {ACME['project_name']}\n\n{ACME['description']}\n")
    assert "nox -s template" not in readme, "the README documents the template's own tests"
    package = (acme_project / "package.json").read_text()
    assert f'"name": "{ACME["slug"]}"' in package
    assert f"Front end of the {ACME['project_name']} Django project" in package
    lock = (acme_project / "package-lock.json").read_text()
    assert lock.count(f'"name": "{ACME["slug"]}"') == 2
    pyproject = (acme_project / "pyproject.toml").read_text()
    assert "\n[tool.stageline]\n" in pyproject
    assert f'\nimage = "{ACME["image"]}"\n' in pyproject
    assert f'\ndefault-branch = "{ACME["default_branch"]}"\n' in pyproject
    compose = (acme_project / "docker-compose.yml").read_text()
    assert f"\nname: {ACME['slug']}\n" in compose
    assert f"POSTGRES_DB:-{ACME['slug']}}}" in compose
    assert f"PYTHON_IMAGE:-{ACME['python_image']}}}" in compose
    local = (acme_project / "docker-compose.local.yml").read_text()
    assert f"\nname: {ACME['slug']}-local\n" in local
    assert f"POSTGRES_DB:-{ACME['slug']}}}" in local
    assert f"NODE_IMAGE:-{ACME['node_image']}}}" in local
    assert f"PYTHON_IMAGE:-{ACME['python_image']}}}" in local
    dockerfile = (acme_project / "Dockerfile").read_text()
    assert f"\nARG PYTHON_IMAGE={ACME['python_image']}\n" in dockerfile
    assert f"\nARG NODE_IMAGE={ACME['node_image']}\n" in dockerfile
    # The mirror's images (a registry host) reach CI as given: the build and the release
    # and prune jobs run on them.
    ci = yaml.safe_load((acme_project / ".gitlab-ci.yml").read_text())
    assert ci["variables"]["PYTHON_IMAGE"] == ACME["python_image"]
    assert ci["variables"]["NODE_IMAGE"] == ACME["node_image"]
    example = (acme_project / ".env.example").read_text()
    assert f"# CI_REGISTRY_IMAGE={ACME['image']}\n" in example
    assert f"# CI_DEFAULT_BRANCH={ACME['default_branch']}\n" in example
    assert "https://acme-shop.example.com" in example
    assert (acme_project / "config/project.py").read_text().endswith('\nNAME = "Acme Shop"\n')


# The template's own sessions (noxfile.py's template-only tail), which projects never get.
TEMPLATE_ONLY_SESSIONS = {"template", "image", "e2e", "gitlab", "bench", "docs"}


def noxfile_sessions(noxfile: Path) -> set[str]:
    """Return the names of the sessions a noxfile defines."""
    names = set()
    for node in ast.parse(noxfile.read_text()).body:
        for decorator in getattr(node, "decorator_list", []):
            call = decorator if isinstance(decorator, ast.Call) else None
            target = call.func if call else decorator
            if ast.unparse(target) != "nox.session":
                continue
            named = [k.value for k in (call.keywords if call else []) if k.arg == "name"]
            names.add(named[0].value if named else node.name)  # type: ignore[attr-defined]
    return names


def test_the_generated_readme_describes_that_project_only(acme_project: Path) -> None:
    readme = (acme_project / "README.md").read_text()
    table = readme.split("\n## Nox sessions\n", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^\| `(\w+)` +\|", table, re.MULTILINE))
    sessions = noxfile_sessions(acme_project / "noxfile.py")
    assert not sessions & TEMPLATE_ONLY_SESSIONS, "the project got the template's sessions"
    assert listed == sessions, "README's session table and the project's noxfile differ"
    for template_only in (
        "nox -s template",
        "nox -s bench",
        "benchmarks/",
        "## Benchmark",
        "tests/template",
        "package/",
        "### Versions of the template",
    ):
        assert template_only not in readme, f"the project's README mentions {template_only!r}"
    assert len(readme.splitlines()) <= 150, "a project's README is short; the docs site is long"
    assert "https://stageline.readthedocs.io/" in readme, "it links the Stageline docs"
    assert "copier update --defaults --trust" in readme, "how to take template updates stays"
    for command in ("nox -s serve", "stageline plan", "pip install -r requirements/build.txt"):
        assert command in readme, f"README does not say how to run {command!r}"
    assert not (acme_project / "benchmarks").exists()


def test_a_plain_docker_build_gives_the_released_image(acme_project: Path) -> None:
    """Item 10 of issue 26: `docker build .` builds the last stage, which must be what ships.

    tests/template/test_generated_build.py builds it on a real engine; this reads the order.
    """
    for root in (REPO_ROOT, acme_project):
        dockerfile = read_dockerfile(root / "Dockerfile")
        project = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["stageline"]
        released = project.get("targets", [project.get("target")])[0]
        assert dockerfile.stages[-1].name == released, (
            f"{root.name}/Dockerfile ends with {dockerfile.stages[-1].name!r}, not the "
            f"released target {released!r}: a plain `docker build .` would build it"
        )


# Named in a project's README and made by a command it documents, not by copier.
BUILT_BY_THE_PROJECT = {"assets/dist": "npm run build (nox -s js)"}


def test_the_generated_readme_names_only_files_and_settings_the_project_has(
    acme_project: Path,
) -> None:
    """Issue 26, item 11: a project without Sentry had a README citing its files."""
    readme = (acme_project / "README.md").read_text()
    # The answers (image names) are values, not files.
    spans = set(re.findall(r"`([^`\s]+)`", readme)) - set(ACME.values())
    paths = {
        span.rstrip("/")
        for span in spans
        if ("/" in span or re.search(r"^\.|\.(?:py|yml|toml|txt|json|example)$", span))
        and not span.startswith("/")  # a URL path of the app, e.g. /healthz
    }
    missing = [
        path
        for path in sorted(paths - set(BUILT_BY_THE_PROJECT))
        if not (acme_project / path).exists()
    ]
    assert not missing, f"the project's README names files the project lacks: {missing}"
    # A setting is in .env.example, or a CI/CD variable the pipeline reads.
    example = (acme_project / ".env.example").read_text()
    pipeline_text = (acme_project / ".gitlab-ci.yml").read_text()
    variables = {span for span in spans if re.fullmatch(r"[A-Z][A-Z0-9_]+\*?", span)}
    undocumented = [
        name
        for name in sorted(variables)
        if not re.search(rf"^# {re.escape(name.rstrip('*'))}", example, re.MULTILINE)
        and f"${name}" not in pipeline_text
    ]
    assert not undocumented, f"README names settings the project lacks: {undocumented}"
    sessions = noxfile_sessions(acme_project / "noxfile.py")
    named = set(re.findall(r"\bnox -s (\w+)", readme))
    assert named <= sessions, f"README runs sessions the project lacks: {named - sessions}"
    # The pipeline's jobs it names are the project's jobs.
    pipeline = yaml.safe_load(pipeline_text)
    ci = readme.split("\n## GitLab CI\n", 1)[1].split("\n## ", 1)[0]
    jobs = set(re.findall(r"`([a-z][\w-]*)`", ci))
    assert jobs <= set(pipeline), f"README names jobs the pipeline lacks: {jobs - set(pipeline)}"


def test_template_only_files_stay_behind(acme_project: Path) -> None:
    assert not (acme_project / "copier.yml").exists()
    assert not (acme_project / "CHANGELOG.md").exists(), "the template's release notes"
    assert not (acme_project / "tests/template").exists()
    assert not list(acme_project.rglob("*.jinja"))
    # Django's own templates are copied untouched.
    for page in ("base.html", "home.html", "bundle_missing.html"):
        original = Path(__file__).resolve().parents[2] / "core/templates/core" / page
        assert (acme_project / "core/templates/core" / page).read_text() == original.read_text()


def test_env_has_a_fresh_secret_key_and_is_not_committed(
    acme_project: Path, template_repo: Path, environ: dict[str, str], tmp_path: Path
) -> None:
    env_file = acme_project / ".env"
    keys = re.findall(r"^DJANGO_SECRET_KEY=(\S+)$", env_file.read_text(), re.MULTILINE)
    assert len(keys) == 1
    assert len(keys[0]) >= 50
    assert ".env" not in git(acme_project, "ls-files", env=environ).split()
    assert git(acme_project, "check-ignore", ".env", env=environ).strip() == ".env"
    other = start_project(template_repo, tmp_path / "other", ACME, environ)
    assert keys[0] not in (other / ".env").read_text(), "two projects got the same secret key"


def test_project_is_a_git_repository_with_a_first_commit(
    acme_project: Path, environ: dict[str, str]
) -> None:
    branch = git(acme_project, "branch", "--show-current", env=environ).strip()
    assert branch == ACME["default_branch"]
    log = git(acme_project, "log", "--format=%s", env=environ).splitlines()
    assert log == ["Start Acme Shop from the Stageline template"]
    assert git(acme_project, "status", "--porcelain", env=environ) == ""
    # The custom user model is there from the first commit: Django cannot switch to one later.
    first = git(acme_project, "ls-files", env=environ).split()
    assert {"users/models.py", "users/admin.py", "users/migrations/0001_initial.py"} <= set(first)
    assert (
        'AUTH_USER_MODEL = "users.User"' in (acme_project / "config/settings/base.py").read_text()
    )


def test_answers_file_records_answers_and_version(acme_project: Path) -> None:
    answers = yaml.safe_load((acme_project / ".copier-answers.yml").read_text())
    assert answers["_commit"] == TEMPLATE_TAG
    assert {name: answers[name] for name in ACME} == ACME


def test_home_page_title_is_the_projects_name(acme_project: Path, environ: dict[str, str]) -> None:
    script = (
        "import django; django.setup()\n"
        "from django.template.loader import render_to_string\n"
        "from django.test import RequestFactory\n"
        "print(render_to_string('core/base.html', request=RequestFactory().get('/')))\n"
    )
    env = {**environ, "DJANGO_SETTINGS_MODULE": "config.settings.test"}
    page = run([sys.executable, "-c", script], acme_project, env).stdout
    assert "<title>Acme Shop</title>" in page


def test_invoke_plan_shows_the_users_image(acme_project: Path, environ: dict[str, str]) -> None:
    env = {"GIT_CONFIG_GLOBAL": environ["GIT_CONFIG_GLOBAL"]}
    plan = ok(run_task(acme_project, "plan", env=env))
    assert f"plan for {ACME['image']} on trunk (default branch)" in plan.output
    for stage in ("build-python", "build-node", "assets", "production", "development"):
        assert f"{ACME['image']}:{stage}" in plan.output


def test_template_own_answers_give_back_this_repository(
    template_repo: Path, environ: dict[str, str], tmp_path: Path
) -> None:
    """With the template's own names, every templated file comes out as it is here."""
    project = start_project(template_repo, tmp_path / "stageline", STAGELINE, environ)
    # README.md.jinja is the project's own README, not a sibling of the template's README.md.
    siblings = sorted(
        path.relative_to(template_repo).with_suffix("")
        for path in template_repo.rglob("*.jinja")
        if "{{" not in path.name and path.name != "README.md.jinja"
    )
    assert len(siblings) >= 9, siblings
    different = []
    for name in siblings:
        rendered = (project / name).read_text()
        original = (template_repo / name).read_text()
        if name == Path("noxfile.py"):
            # By design the template-only tail (the template's own sessions) is cut.
            original = original.split("\n# >>> template-only")[0].rstrip("\n") + "\n"
        elif name == Path(".env.example"):
            # The NODE_IMAGE example comes from the answer (the Dockerfile's default), and
            # the Sentry block is there only with the `sentry` answer (default no).
            rendered = re.sub(r"(?m)^# NODE_IMAGE=.*$", "", rendered)
            original = re.sub(r"(?m)^# NODE_IMAGE=.*$", "", original)
            original = re.sub(r"(?s)# --- Sentry .*?(?=# --- )", "", original)
        if rendered != original:
            different.append(str(name))
    assert not different, f"rendered with the template's own answers, these differ: {different}"


def test_template_from_a_working_tree_is_git_ignored_clean(
    tmp_path: Path, environ: dict[str, str]
) -> None:
    """Local clutter (.env, node_modules, .nox) of a template checkout never reaches a project."""
    template = make_template_repo(tmp_path / "template", environ)
    for clutter in (".env", "node_modules/x/index.js", ".nox/lint/bin/x", "db.sqlite3"):
        (template / clutter).parent.mkdir(parents=True, exist_ok=True)
        (template / clutter).write_text("DJANGO_SECRET_KEY=the-template-developers-key\n")
    # A dirty working tree copied at HEAD: copier includes uncommitted changes.
    (template / "NOTES.md").write_text("Unreleased\n")
    copier(
        "copy",
        "--trust",
        "--defaults",
        "--vcs-ref",
        "HEAD",
        *answers_args(ACME),
        str(template),
        str(tmp_path / "project"),
        cwd=tmp_path,
        env=environ,
    )
    project = tmp_path / "project"
    assert (project / "NOTES.md").read_text() == "Unreleased\n"
    assert "the-template-developers-key" not in (project / ".env").read_text()
    assert not (project / "node_modules").exists()
    assert not (project / ".nox").exists()
    assert not (project / "db.sqlite3").exists()
    assert os.access(project / "manage.py", os.X_OK)


@pytest.mark.parametrize(
    ("answer", "in_ci"),
    [
        # Official images come through IMAGE_PREFIX (Docker Hub, a mirror or GitLab's
        # dependency proxy), as the template's own do.
        ("python:3.12-slim", "${IMAGE_PREFIX}/python:3.12-slim"),
        ("library/python:3.12-slim", "${IMAGE_PREFIX}/python:3.12-slim"),
        # An image with a registry host, or in a Docker Hub namespace, as the answer says.
        ("localhost:5000/python:3.12", "localhost:5000/python:3.12"),
        (
            "registry.example.com:8443/base/python:3.12",
            "registry.example.com:8443/base/python:3.12",
        ),
        ("acme/python:3.12-slim", "acme/python:3.12-slim"),
    ],
)
def test_the_base_image_answers_reach_the_pipeline(
    answer: str, in_ci: str, template_repo: Path, environ: dict[str, str], tmp_path: Path
) -> None:
    """Item 1 of issue 26: CI built on the template's Python 3.13 whatever the answer."""
    node = answer.replace("python", "node").replace("3.12-slim", "22-slim")
    answers = {**ACME, "python_image": answer, "node_image": node}
    project = start_project(template_repo, tmp_path / "shop", answers, environ, ["--skip-tasks"])
    ci = yaml.safe_load((project / ".gitlab-ci.yml").read_text())
    assert ci["variables"]["PYTHON_IMAGE"] == in_ci
    assert ci["variables"]["NODE_IMAGE"] == in_ci.replace("python", "node").replace(
        "3.12-slim", "22-slim"
    )
    readme = (project / "README.md").read_text()
    assert f"`{answer}`" in readme, "README names the Python base image"
    assert f"`{node}`" in readme, "README names the Node base image"
    # No file keeps the template's own base images (the Dockerfile's comment on GitLab's
    # dependency proxy shows the syntax with an example).
    stale = [
        f"{path.relative_to(project)}: {line.strip()}"
        for path in sorted(project.rglob("*"))
        if path.is_file() and ".git" not in path.relative_to(project).parts
        for line in path.read_text(errors="replace").splitlines()
        if re.search(r"\b(?:python:3\.13|node:24)\b", line)
        and "PYTHON_IMAGE=${CI_DEPENDENCY_PROXY_GROUP_IMAGE_PREFIX}/" not in line
    ]
    assert not stale, "the template's base images are left in the project:\n" + "\n".join(stale)
