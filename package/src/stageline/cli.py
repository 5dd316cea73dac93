"""The ``stageline`` command: ``stageline plan|pull|build|push|dev|prune [options]``.

A thin front end over :mod:`stageline.commands`: it parses the arguments (argparse),
runs the command through :func:`stageline.exits.run_guarded` and exits with its code.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from stageline import commands
from stageline.exits import NOTHING_PUSHED, PRUNE_STOPPED, PUSHED_TAGS_WHOLE, run_guarded
from stageline.help_texts import HELP
from stageline.version import installed_version

# Each command's options beyond the stage selection (--stage, --target, --build-arg).
COMMAND_OPTIONS = {
    "plan": ("secret", "no_cache", "builder", "json"),
    "pull": ("no_cache", "builder", "report"),
    "build": ("secret", "no_cache", "push", "report", "metrics", "builder"),
    "push": ("report",),
}
COMMAND_HELP = {
    "plan": commands.plan.__doc__,
    "pull": commands.pull.__doc__,
    "build": commands.build.__doc__,
    "push": commands.push.__doc__,
    "dev": commands.dev.__doc__,
}


def add_option(parser: argparse.ArgumentParser, command: str, name: str) -> None:
    """Add the option ``name`` (a field of Options, or ``json``) to ``parser``."""
    flag = "--" + name.replace("_", "-")
    text = HELP.get(f"{command}.{name}", HELP.get(name, ""))
    if name in ("build_arg", "secret"):
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
    if arguments.command == "prune":
        return lambda: commands.prune(arguments.project_dir, arguments.apply, arguments.now)
    action: Callable[[commands.Options], None] = getattr(commands, arguments.command)
    return lambda: action(options)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit code (1 on a foreseeable error)."""
    arguments = make_parser().parse_args(argv)
    pushes = arguments.command == "push" or bool(getattr(arguments, "push", False))
    interrupted = PUSHED_TAGS_WHOLE if pushes else NOTHING_PUSHED
    if arguments.command == "prune":
        interrupted = PRUNE_STOPPED
    ending = run_guarded(command_for(arguments), interrupted)
    if ending.message:
        print(ending.message, file=sys.stderr)
    return ending.code


def run() -> None:
    """The console script's entry point."""
    sys.exit(main())
