"""The docs site stays true: commands, options and tasks, the nav, and README's links."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from stageline.cli import make_parser
from stageline.dockerfile import parse_dockerfile
from stageline.errors import StagelineError
from stageline.plan import make_plan
from stageline.settings import Settings
from stageline.tasks import deploy_tasks, stage_tasks

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
CLI_PAGE = DOCS / "reference/cli.md"
# Options every stage command takes, documented once in this section of the CLI page.
SHARED_SECTION = "Options that choose the plan"
GLOBAL_SECTION = "Global options"


def sections(page: Path) -> dict[str, str]:
    """Return the page's `## ` sections by heading."""
    parts = ("\n" + page.read_text(encoding="utf-8")).split("\n## ")[1:]
    return {part.split("\n", 1)[0].strip(): part for part in parts}


def option_strings(parser: argparse.ArgumentParser) -> list[str]:
    """Return the option strings of ``parser`` (``--help`` left out)."""
    return [
        string
        for action in parser._actions
        if not isinstance(action, argparse._HelpAction)
        for string in action.option_strings
    ]


def subcommands() -> dict[str, argparse.ArgumentParser]:
    """Return the `stageline` parser's subcommands by name."""
    [subparsers] = [
        action
        for action in make_parser()._actions
        if isinstance(action, argparse._SubParsersAction)
    ]
    return dict(subparsers.choices)


def command_section(command: str) -> str:
    """Return the CLI page's section about ``stageline COMMAND``."""
    found = [
        text
        for heading, text in sections(CLI_PAGE).items()
        if heading.startswith(f"`stageline {command}`")
    ]
    assert found, f"docs/reference/cli.md has no section `## `stageline {command}``"
    return found[0]


def test_the_parser_has_the_commands_the_docs_expect() -> None:
    assert {"plan", "pull", "build", "push", "dev"} <= set(subcommands())


def test_every_global_option_is_documented() -> None:
    documented = sections(CLI_PAGE)[GLOBAL_SECTION]
    for option in option_strings(make_parser()):
        assert f"`{option}" in documented, f"cli.md's {GLOBAL_SECTION} omit {option}"


@pytest.mark.parametrize("command", sorted(subcommands()))
def test_every_command_and_its_options_are_documented(command: str) -> None:
    section = command_section(command)
    shared = sections(CLI_PAGE)[SHARED_SECTION]
    for option in option_strings(subcommands()[command]):
        assert f"`{option}" in section or f"`{option}" in shared, (
            f"docs/reference/cli.md documents neither under `stageline {command}` "
            f"nor under {SHARED_SECTION!r}: {option}"
        )


@pytest.mark.parametrize("name", [task.name for task in stage_tasks()])
def test_every_invoke_task_and_its_options_are_documented(name: str) -> None:
    page = CLI_PAGE.read_text(encoding="utf-8")
    assert f"`invoke {name}`" in page, f"docs/reference/cli.md omits the task {name}"
    [task] = [task for task in stage_tasks() if task.name == name]
    for argument in task.get_arguments():
        assert f"`--{argument.names[0]}" in page, f"cli.md omits {name}'s --{argument.names[0]}"


class MkDocsLoader(yaml.SafeLoader):
    """A safe loader that reads mkdocs.yml's `!!python/name:` tags as plain strings."""


def _python_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> str:
    return suffix


MkDocsLoader.add_multi_constructor("tag:yaml.org,2002:python/", _python_tag)


def nav_pages(entries: Any) -> list[str]:
    """Return every page path in mkdocs.yml's ``nav`` (nested sections included)."""
    if isinstance(entries, str):
        return [] if "://" in entries else [entries]
    if isinstance(entries, list):
        return [page for entry in entries for page in nav_pages(entry)]
    if isinstance(entries, dict):
        return [page for value in entries.values() for page in nav_pages(value)]
    return []


def mkdocs_nav() -> list[str]:
    config = yaml.load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"), Loader=MkDocsLoader)
    assert config.get("docs_dir", "docs") == "docs"
    return nav_pages(config["nav"])


def test_every_nav_entry_is_a_page() -> None:
    pages = mkdocs_nav()
    assert "index.md" in pages
    for page in pages:
        assert (DOCS / page).is_file(), f"mkdocs.yml's nav names docs/{page}, which is missing"
    assert len(pages) == len(set(pages)), "mkdocs.yml's nav names a page twice"


def test_every_page_is_in_the_nav() -> None:
    pages = set(mkdocs_nav())
    for path in DOCS.rglob("*.md"):
        page = path.relative_to(DOCS).as_posix()
        assert page in pages, f"docs/{page} is not in mkdocs.yml's nav"


def readme_links() -> list[str]:
    """Return the targets of README.md's relative Markdown links (no URL, no bare anchor)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)\s]+)\)", readme)
    relative = [t for t in targets if "://" not in t and not t.startswith(("#", "mailto:"))]
    return list(dict.fromkeys(relative))


def test_readme_is_a_front_door() -> None:
    """At most 200 lines: the rest is on the docs site (issue 26)."""
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 200, f"README.md has {len(lines)} lines; move detail into docs/"


def test_readme_links_into_the_docs() -> None:
    links = [link for link in readme_links() if link.startswith("docs/")]
    assert len(links) >= 5, "README.md should link into the docs pages"


@pytest.mark.parametrize("link", readme_links())
def test_readme_links_point_to_files_that_exist(link: str) -> None:
    path, _, anchor = link.partition("#")
    assert (ROOT / path).exists(), f"README.md links to {path}, which does not exist"
    if path.startswith("docs/"):
        assert path.endswith(".md"), f"README.md should link the page's source: {link}"
    if anchor and path.endswith(".md"):
        headings = re.findall(r"^#+ (.+)$", (ROOT / path).read_text(encoding="utf-8"), re.M)
        slugs = {re.sub(r"[^\w\- ]", "", h).strip().lower().replace(" ", "-") for h in headings}
        assert anchor in slugs, f"README.md links to #{anchor}, which {path} has no heading for"


# Deploy and rollback (issue 24): their commands and tasks are documented too.


def test_the_parser_has_deploy_and_rollback() -> None:
    assert {"deploy", "rollback"} <= set(subcommands())


@pytest.mark.parametrize("name", ["deploy", "rollback"])
def test_deploy_tasks_and_their_options_are_documented(name: str) -> None:
    from stageline.tasks import deploy_tasks

    page = CLI_PAGE.read_text(encoding="utf-8")
    assert f"`invoke {name}`" in page, f"docs/reference/cli.md omits the task {name}"
    [task] = [task for task in deploy_tasks() if task.name == name]
    for argument in task.get_arguments():
        assert f"`--{argument.names[0]}" in page, f"cli.md omits {name}'s --{argument.names[0]}"


# Dockerfiles on the docs pages parse as Docker reads them (issue 26, item 7: README's
# example had comments after FROM, which Docker refuses).


def dockerfile_blocks() -> list[tuple[str, str, str]]:
    """Return (page, block, the text after it) for each ```dockerfile block of the docs."""
    found = []
    for path in sorted([ROOT / "README.md", *DOCS.rglob("*.md")]):
        text = path.read_text(encoding="utf-8")
        for match in re.finditer(r"^```dockerfile\n(.*?)^```\n", text, re.MULTILINE | re.DOTALL):
            found.append((path.relative_to(ROOT).as_posix(), match[1], text[match.end() :]))
    return found


def test_the_docs_have_dockerfile_examples() -> None:
    assert len(dockerfile_blocks()) >= 2


@pytest.mark.parametrize(
    ("page", "block", "after"), dockerfile_blocks(), ids=lambda value: value[:30]
)
def test_a_dockerfile_example_parses_and_plans_as_the_page_says(
    page: str, block: str, after: str
) -> None:
    # A fragment (a step or two) is shown as part of some stage.
    text = block if re.search(r"^FROM ", block, re.MULTILINE) else f"FROM scratch\n{block}"
    try:
        dockerfile = parse_dockerfile(text)
    except StagelineError as exc:
        pytest.fail(f"{page}: a Dockerfile example does not parse: {exc}", pytrace=False)
    # "`stageline plan` plans `a`, `b` and `c`" right after the example: what it plans.
    claim = re.match(r"\s*`stageline plan` plans ((?:`[\w-]+`(?:, | and )?)+)", after)
    if claim:
        settings = Settings(root=Path("."), image="app", ref_slug="main", default_branch="main")
        planned = [stage.name for stage in make_plan(settings, dockerfile).stages]
        assert planned == re.findall(r"`([\w-]+)`", claim[1]), f"{page} says otherwise"


# The other way round: the reference names nothing the code lacks (issue 26: a reference
# that cannot drift either way).


def table_names(text: str) -> list[str]:
    """Return the first code span of each table row: `--opt ARG` -> --opt."""
    names = re.findall(r"^\| `([^`]+)`", text, re.MULTILINE)
    return [name.split(",")[0].split()[0] for name in names]


def test_the_commands_table_is_the_parsers_commands_and_the_tasks() -> None:
    table = sections(CLI_PAGE)["Commands and tasks"]
    rows = re.findall(r"^\| `stageline (\S+)` \| `invoke (\S+)` \|", table, re.MULTILINE)
    assert {command for command, _ in rows} == set(subcommands())
    tasks = {task.name for task in (*stage_tasks(), *deploy_tasks())}
    assert {task for _, task in rows} == tasks


def test_every_documented_global_option_exists() -> None:
    documented = table_names(sections(CLI_PAGE)[GLOBAL_SECTION])
    assert documented, "no table under Global options"
    assert set(documented) <= set(option_strings(make_parser())), documented


@pytest.mark.parametrize("command", sorted(subcommands()))
def test_every_option_documented_for_a_command_exists(command: str) -> None:
    documented = table_names(command_section(command))
    real = set(option_strings(subcommands()[command]))
    assert set(documented) <= real, (
        f"docs/reference/cli.md documents for `stageline {command}` what it does not take: "
        f"{sorted(set(documented) - real)}"
    )


def test_the_shared_options_are_every_stage_commands() -> None:
    shared = table_names(sections(CLI_PAGE)[SHARED_SECTION])
    for command in ("plan", "pull", "build", "push"):
        missing = set(shared) - set(option_strings(subcommands()[command]))
        assert not missing, f"`stageline {command}` lacks the shared options {missing}"
