"""The ``stageline`` command: ``stageline COMMAND [options]`` (``stageline --help``).

A thin front end over :mod:`stageline.commands`: it parses the arguments (argparse),
runs the command through :func:`stageline.exits.run_guarded` and exits with its code.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from stageline import commands
from stageline.deploy_plan import DEPLOY_INTERRUPTED
from stageline.exits import NOTHING_PUSHED, PRUNE_STOPPED, PUSHED_TAGS_WHOLE, run_guarded
from stageline.help_texts import HELP
from stageline.version import installed_version

# Each command's options beyond the stage selection (--stage, --target, --build-arg).
COMMAND_OPTIONS = {
    "plan": ("platform", "secret", "no_cache", "builder", "json"),
    "pull": ("platform", "no_cache", "builder", "report"),
    "build": ("platform", "secret", "no_cache", "push", "report", "metrics", "builder"),
    "push": ("platform", "report"),
    "merge": (),
}
COMMAND_HELP = {
    "plan": commands.plan.__doc__,
    "pull": commands.pull.__doc__,
    "build": commands.build.__doc__,
    "push": commands.push.__doc__,
    "merge": commands.merge.__doc__,
    "dev": commands.dev.__doc__,
    "release": commands.release.__doc__,
}


def add_option(parser: argparse.ArgumentParser, command: str, name: str) -> None:
    """Add the option ``name`` (a field of Options, or ``json``) to ``parser``."""
    flag = "--" + name.replace("_", "-")
    text = HELP.get(f"{command}.{name}", HELP.get(name, ""))
    if name in ("build_arg", "secret", "platform"):
        parser.add_argument(flag, action="append", default=[], metavar="VALUE", help=text)
    elif name in ("no_cache", "push", "json"):
        parser.add_argument(flag, action="store_true", help=text)
    elif name in ("report", "metrics"):
        parser.add_argument(flag, type=Path, metavar="FILE", help=text)
    else:
        parser.add_argument(flag, metavar=name.upper(), help=text)


def make_parser() -> argparse.ArgumentParser:
    """Return the parser of the whole command line."""
    parser = argparse.ArgumentParser(
        prog="stageline", description="Build, reuse and push every stage of a Docker image."
    )
    parser.add_argument("--version", action="version", version=f"stageline {installed_version()}")
    parser.add_argument(
        "-C", "--project-dir", type=Path, default=Path(), metavar="DIR", help=HELP["project_dir"]
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command, extra in COMMAND_OPTIONS.items():
        text = COMMAND_HELP[command]
        sub = subparsers.add_parser(command, help=text, description=text)
        for name in ("stage", "target", "build_arg", *extra):
            add_option(sub, command, name)
    dev = subparsers.add_parser("dev", help=COMMAND_HELP["dev"], description=COMMAND_HELP["dev"])
    dev.add_argument("--down", action="store_true", help=HELP["down"])
    text = COMMAND_HELP["release"]
    subparsers.add_parser("release", help=text, description=text)
    add_deploy_parsers(subparsers)
    add_prune(subparsers)
    return parser


def add_prune(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``stageline prune [--apply] [--now WHEN]``."""
    text = commands.prune.__doc__
    prune = subparsers.add_parser("prune", help=text, description=text)
    prune.add_argument("--apply", action="store_true", help=HELP["prune.apply"])
    prune.add_argument("--now", metavar="WHEN", help=HELP["prune.now"])


def options_from(arguments: argparse.Namespace) -> commands.Options:
    """Return the command's Options from parsed ``arguments``."""
    values = vars(arguments)
    return commands.Options(
        root=arguments.project_dir,
        stage=values.get("stage"),
        target=values.get("target"),
        build_args=tuple(values.get("build_arg") or ()),
        secrets=tuple(values.get("secret") or ()),
        platforms=tuple(values.get("platform") or ()),
        no_cache=bool(values.get("no_cache")),
        push=bool(values.get("push")),
        builder=values.get("builder"),
        report=values.get("report"),
        metrics=values.get("metrics"),
    )


def command_for(arguments: argparse.Namespace) -> Callable[[], None]:
    """Return the call that runs the parsed command."""
    options = options_from(arguments)
    if arguments.command == "plan":
        return lambda: commands.plan(options, as_json=arguments.json)
    if arguments.command == "dev":
        return lambda: commands.dev(arguments.project_dir, down=arguments.down)
    if arguments.command == "release":
        return lambda: commands.release(arguments.project_dir)
    if arguments.command in DEPLOY_COMMANDS:
        return deploy_call(arguments)
    if arguments.command == "prune":
        return lambda: commands.prune(arguments.project_dir, arguments.apply, arguments.now)
    action: Callable[[commands.Options], None] = getattr(commands, arguments.command)
    return lambda: action(options)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit code (1 on a foreseeable error)."""
    arguments = make_parser().parse_args(argv)
    pushes = arguments.command in ("push", "release", "merge") or bool(
        getattr(arguments, "push", False)
    )
    interrupted = PUSHED_TAGS_WHOLE if pushes else NOTHING_PUSHED
    if arguments.command in DEPLOY_COMMANDS:
        interrupted = DEPLOY_INTERRUPTED
    if arguments.command == "prune":
        interrupted = PRUNE_STOPPED
    ending = run_guarded(command_for(arguments), interrupted)
    if ending.message:
        print(ending.message, file=sys.stderr)
    return ending.code


# Deploy and rollback (issue 24).
DEPLOY_COMMANDS = {"deploy": commands.deploy.__doc__, "rollback": commands.rollback.__doc__}


def add_deploy_parsers(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``deploy --environment NAME [--image REF]`` and ``rollback --environment NAME``."""
    for command, text in DEPLOY_COMMANDS.items():
        sub = subparsers.add_parser(command, help=text, description=text)
        sub.add_argument("--environment", required=True, metavar="NAME", help=HELP["environment"])
        if command == "deploy":
            sub.add_argument("--image", metavar="REF", help=HELP["deploy.image"])


def deploy_call(arguments: argparse.Namespace) -> Callable[[], None]:
    """Return the call that runs ``deploy`` or ``rollback``."""
    root, environment = arguments.project_dir, arguments.environment
    if arguments.command == "deploy":
        return lambda: commands.deploy(root, environment, arguments.image)
    return lambda: commands.rollback(root, environment)


def run() -> None:
    """The console script's entry point."""
    sys.exit(main())
