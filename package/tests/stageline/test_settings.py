"""Settings come from GitLab's variable names, a .env file, pyproject.toml and git."""

import subprocess
from pathlib import Path

import pytest

from stageline.errors import SettingsError
from stageline.settings import GitFacts, Secret, needs_git, parse_settings, ref_slug
from stageline.settings_loader import load_settings


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.stageline]\nimage = "acme-shop"\ndefault-branch = "trunk"\n'
    )
    return tmp_path


@pytest.mark.parametrize(
    ("ref", "slug"),
    [
        ("main", "main"),
        ("Feature/Add_Login", "feature-add-login"),
        ("-weird--name-", "weird--name"),
        ("x" * 80, "x" * 63),
        ("release/1.2", "release-1-2"),
    ],
)
def test_ref_slug_matches_gitlab(ref: str, slug: str) -> None:
    assert ref_slug(ref) == slug


def test_without_ci_variables_the_image_is_the_project_slug_and_ref_comes_from_git(
    project: Path,
) -> None:
    subprocess.run(["git", "init", "-q", "-b", "Feature/X", str(project)], check=True)
    subprocess.run(
        [
            "git",
            "-C",
            str(project),
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "init",
        ],
        check=True,
    )
    settings = load_settings(project, environ={})
    assert settings.image == "acme-shop"
    assert settings.registry is None
    assert settings.ref_slug == "feature-x"
    assert settings.default_branch == "trunk"
    assert not settings.is_default_branch
    assert settings.short_sha is not None
    assert len(settings.short_sha) == 8


def test_gitlab_variables_win_over_dotenv_and_dotenv_over_defaults(project: Path) -> None:
    (project / ".env").write_text(
        "CI_REGISTRY_IMAGE=registry.example.com/team/shop\nCI_DEFAULT_BRANCH=main\n"
    )
    settings = load_settings(
        project,
        environ={
            "CI_COMMIT_REF_SLUG": "main",
            "CI_DEFAULT_BRANCH": "main",
            "CI_COMMIT_SHORT_SHA": "abcdef12",
        },
    )
    assert settings.image == "registry.example.com/team/shop"
    assert settings.is_default_branch
    settings = load_settings(
        project,
        environ={"CI_REGISTRY_IMAGE": "registry.example.com/team/other", "CI_COMMIT_REF_SLUG": "x"},
    )
    assert settings.image == "registry.example.com/team/other"


def test_a_tag_pipeline_is_never_the_default_branch(project: Path) -> None:
    settings = load_settings(
        project,
        environ={
            "CI_COMMIT_REF_SLUG": "trunk",
            "CI_COMMIT_TAG": "v1.0",
            "CI_COMMIT_SHORT_SHA": "1",
        },
    )
    assert not settings.is_default_branch


def test_the_password_never_shows_in_repr_or_str(project: Path) -> None:
    settings = load_settings(
        project,
        environ={
            "CI_REGISTRY": "registry.example.com",
            "CI_REGISTRY_USER": "bot",
            "CI_REGISTRY_PASSWORD": "hunter2-secret",
            "CI_COMMIT_REF_SLUG": "x",
        },
    )
    assert settings.registry_password == Secret("hunter2-secret")
    assert "hunter2" not in repr(settings)
    assert "hunter2" not in str(settings.registry_password)
    assert "hunter2" not in f"{settings.registry_password}"


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"CI_REGISTRY_IMAGE": "Registry.Example.com/Team/App"}, "not a valid Docker image"),
        ({"CI_REGISTRY_IMAGE": "shop:v1"}, "not a valid Docker image"),
        ({"CI_COMMIT_SHORT_SHA": "bad sha"}, "not a valid Docker tag"),
        ({"STAGELINE_BUILDER": "kaniko"}, "not a builder"),
        ({"CI_REGISTRY_USER": "bot"}, "CI_REGISTRY_PASSWORD is not set"),
        ({"STAGELINE_PUSH_RETRIES": "many"}, "STAGELINE_PUSH_RETRIES"),
        ({"CI_COMMIT_REF_SLUG": "///"}, "CI_COMMIT_REF_SLUG"),
    ],
)
def test_bad_settings_name_the_variable(
    project: Path, environ: dict[str, str], message: str
) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings(project, environ={"CI_COMMIT_REF_SLUG": "main", **environ})


def test_a_malformed_dotenv_line_is_refused_without_echoing_it(project: Path) -> None:
    (project / ".env").write_text("GOOD=1\nCI_REGISTRY_PASSWORD 's3cr3t\n")
    with pytest.raises(SettingsError) as excinfo:
        load_settings(project, environ={})
    message = str(excinfo.value)
    assert ".env line 2" in message
    assert "s3cr3t" not in message


def test_target_and_build_arg_names_come_from_pyproject_and_the_environment(
    project: Path,
) -> None:
    (project / "pyproject.toml").write_text(
        '[tool.stageline]\nimage = "acme"\ntarget = "Production"\nbuild-args = ["BASE"]\n'
    )
    settings = load_settings(project, environ={"CI_COMMIT_REF_SLUG": "x"})
    assert (settings.targets, settings.build_arg_names) == (("production",), ("BASE",))
    overridden = load_settings(
        project, environ={"CI_COMMIT_REF_SLUG": "x", "STAGELINE_TARGET": "dev"}
    )
    assert overridden.targets == ("dev",)


def test_several_targets_come_from_pyproject_in_order_each_once(project: Path) -> None:
    (project / "pyproject.toml").write_text(
        '[tool.stageline]\ntargets = ["Production", "development", "production"]\n'
    )
    settings = load_settings(project, environ={"CI_COMMIT_REF_SLUG": "x"})
    assert settings.targets == ("production", "development")


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('target = "a"\ntargets = ["b"]', "both target and targets"),
        ("targets = []", "targets is empty"),
        ('targets = "production"', "must be a list of names"),
    ],
)
def test_a_bad_targets_setting_is_refused(project: Path, table: str, message: str) -> None:
    (project / "pyproject.toml").write_text(f"[tool.stageline]\n{table}\n")
    with pytest.raises(SettingsError, match=message):
        load_settings(project, environ={"CI_COMMIT_REF_SLUG": "x"})


def test_build_args_default_to_the_templates_base_image_names(project: Path) -> None:
    settings = load_settings(project, environ={"CI_COMMIT_REF_SLUG": "x"})
    assert (settings.targets, settings.build_arg_names) == ((), ("PYTHON_IMAGE", "NODE_IMAGE"))


def test_a_build_args_setting_that_is_not_a_list_of_names_is_refused(project: Path) -> None:
    (project / "pyproject.toml").write_text('[tool.stageline]\nbuild-args = "PYTHON_IMAGE"\n')
    with pytest.raises(SettingsError, match="must be a list of names"):
        load_settings(project, environ={"CI_COMMIT_REF_SLUG": "x"})


def test_settings_are_parsed_from_what_was_read_without_git_or_files() -> None:
    project = {"image": "acme-shop", "default-branch": "trunk", "target": "Production"}
    git = GitFacts(branch="Feature/X", short_sha="abcdef12")
    settings = parse_settings(Path("/nowhere/shop"), {"STAGELINE_BUILDER": "classic"}, project, git)
    assert (settings.image, settings.ref_slug, settings.short_sha) == (
        "acme-shop",
        "feature-x",
        "abcdef12",
    )
    assert (settings.default_branch, settings.targets, settings.builder) == (
        "trunk",
        ("production",),
        "classic",
    )
    ci = {"CI_COMMIT_REF_SLUG": "trunk", "CI_COMMIT_SHORT_SHA": "0123abcd"}
    settings = parse_settings(Path("/nowhere/shop"), ci, {}, git)
    assert (settings.image, settings.ref_slug, settings.short_sha) == ("shop", "trunk", "0123abcd")
    assert parse_settings(Path("/x/y"), {}, {}, GitFacts()).ref_slug == "main"


def test_git_is_asked_only_for_what_no_variable_says() -> None:
    assert needs_git({}) == (True, True)
    assert needs_git({"CI_COMMIT_REF_NAME": "b", "CI_COMMIT_SHORT_SHA": ""}) == (False, True)
    assert needs_git({"CI_COMMIT_REF_SLUG": "b", "CI_COMMIT_SHORT_SHA": "abc"}) == (False, False)


def test_an_unknown_key_of_the_project_table_is_refused_with_the_known_ones() -> None:
    """A typo in [tool.stageline] must not be silently ignored."""
    with pytest.raises(SettingsError, match="no setting 'zzz'; remove it or use one of: "):
        parse_settings(Path("/shop"), {}, {"zzz": "production"}, GitFacts("main", "abc"))


@pytest.mark.parametrize(
    ("key", "meant"), [("taget", "target"), ("targte", "target"), ("build_args", "build-args")]
)
def test_a_misspelt_project_key_is_refused_with_the_nearest_name(key: str, meant: str) -> None:
    """Issue 26, item 8: the refusal names the key the user most likely meant."""
    with pytest.raises(SettingsError, match=rf"no setting '{key}' \(did you mean '{meant}'\?\); "):
        parse_settings(Path("/shop"), {}, {key: "production"}, GitFacts("main", "abc"))


def test_a_project_setting_of_the_wrong_type_is_refused() -> None:
    with pytest.raises(SettingsError, match=r"image in pyproject\.toml must be a str, not int"):
        parse_settings(Path("/shop"), {}, {"image": 3}, GitFacts("main", "abc"))


def test_platforms_come_from_pyproject_and_stageline_platforms_wins(project: Path) -> None:
    (project / "pyproject.toml").write_text(
        '[tool.stageline]\nplatforms = ["linux/amd64", "Linux/ARM64", "linux/amd64"]\n'
    )
    settings = load_settings(project, environ={"CI_COMMIT_REF_SLUG": "x"})
    assert settings.platforms == ("linux/amd64", "linux/arm64")
    env = {"CI_COMMIT_REF_SLUG": "x", "STAGELINE_PLATFORMS": "linux/arm64, linux/arm/v7"}
    assert load_settings(project, environ=env).platforms == ("linux/arm64", "linux/arm/v7")


def test_without_a_platforms_setting_the_engine_decides() -> None:
    assert parse_settings(Path("/shop"), {}, {}, GitFacts("main", "abc")).platforms == ()


@pytest.mark.parametrize(
    ("env", "project", "message"),
    [
        ({}, {"platforms": ["linux/amd64", "arm64"]}, "platforms in pyproject.toml: 'arm64'"),
        ({}, {"platforms": "linux/amd64"}, "platforms in pyproject.toml must be a list"),
        ({}, {"platforms": []}, "platforms in pyproject.toml names no platform"),
        ({"STAGELINE_PLATFORMS": "linux/amd64;linux/arm64"}, {}, "STAGELINE_PLATFORMS="),
    ],
)
def test_a_bad_platforms_setting_is_refused_in_one_line_naming_it_and_the_fix(
    env: dict[str, str], project: dict[str, object], message: str
) -> None:
    with pytest.raises(SettingsError, match=message) as raised:
        parse_settings(Path("/shop"), env, project, GitFacts("main", "abc"))
    text = str(raised.value)
    assert "\n" not in text
    assert "os/arch" in text
    assert "linux/arm64" in text  # the example of a fix
