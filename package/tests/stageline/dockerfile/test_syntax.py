"""``parse_text`` reads Dockerfiles as BuildKit's parser does: hand-written cases, daemon-free."""

from __future__ import annotations

import pytest

from stageline.dockerfile.syntax import (
    DockerfileSyntaxError,
    Heredoc,
    Instruction,
    parse_text,
)


def only(text: str) -> Instruction:
    """The single instruction of ``text``."""
    (instruction,) = parse_text(text).instructions
    return instruction


def values(text: str) -> list[tuple[str, tuple[str, ...]]]:
    """(cmd, value) of each instruction of ``text``."""
    return [(i.cmd, i.value) for i in parse_text(text).instructions]


def test_instruction_fields() -> None:
    """A simple FROM has every field of dockerfile.Command."""
    assert only("from python:3.12 as base\n") == Instruction(
        cmd="FROM",
        sub_cmd=None,
        json=False,
        original="from python:3.12 as base",
        start_line=1,
        end_line=1,
        flags=(),
        value=("python:3.12", "as", "base"),
        heredocs=(),
    )


def test_tab_between_from_and_as() -> None:
    """Regression: tabs separate words like spaces."""
    assert only("FROM\tpython:3.12\tAS\tbuild\n").value == ("python:3.12", "AS", "build")
    assert only("FROM python AS\t\tbuild \t\n").value == ("python", "AS", "build")


def test_utf8_bom() -> None:
    """Regression: a BOM before the first line is dropped, also before a directive."""
    assert only("\ufeffFROM alpine\n").cmd == "FROM"
    parsed = parse_text("\ufeff# escape=`\nFROM alpine `\n  AS x\n")
    assert parsed.escape == "`"
    assert parsed.instructions[0].value == ("alpine", "AS", "x")


def test_escape_directive_after_syntax() -> None:
    """Regression: ``# escape=`` on the line after ``# syntax=`` still applies."""
    parsed = parse_text("# syntax=docker/dockerfile:1\n# escape=`\nFROM alpine `\n  AS x\n")
    assert parsed.directives == {"syntax": "docker/dockerfile:1", "escape": "`"}
    assert parsed.instructions[0].value == ("alpine", "AS", "x")
    assert parsed.instructions[0].start_line == 3
    assert parsed.instructions[0].end_line == 4


def test_directive_names_are_case_insensitive_and_spaced() -> None:
    """Directive names are matched case-insensitively, with spaces around ``=``."""
    parsed = parse_text("  #  ESCAPE = `  \n#Syntax=x y\n#check=skip=all\nFROM a\n")
    assert parsed.directives == {"escape": "`", "syntax": "x y", "check": "skip=all"}


@pytest.mark.parametrize(
    "text",
    [
        "FROM a\n# escape=`\nRUN x `\n",  # after an instruction
        "# hello\n# escape=`\nFROM a\nRUN x `\n",  # after a comment
        "\n# escape=`\nFROM a\nRUN x `\n",  # after a blank line
        "# unknown=1\n# escape=`\nFROM a\nRUN x `\n",  # after an unknown directive
    ],
)
def test_directive_scanning_stops(text: str) -> None:
    """Directives count only in the leading run of directive lines."""
    parsed = parse_text(text)
    assert parsed.escape == "\\"
    assert parsed.instructions[-1].value == ("x `",)


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("# escape=`\n# escape=\\\nFROM a\n", 2, "only one escape parser directive can be used"),
        ("# syntax=a\n#SYNTAX=b\nFROM a\n", 2, "only one syntax parser directive can be used"),
        ("# check=a\n# check=b\nFROM a\n", 2, "only one check parser directive can be used"),
        ("# escape=x\nFROM a\n", 1, "invalid escape token 'x' does not match ` or \\"),
        ("", 1, "file with no instructions"),
        ("# just a comment\n\n   \n", 3, "file with no instructions"),
        ("FROM a\n\nRUN <<EOF\nbody\n", 3, "unterminated heredoc"),
        ('FROM a\nCMD ["a", 1]\n', 2, "arrays must be comprised of strings only"),
        ("FROM a\nRUN x \\\n  y\nENV KEY\n", 4, "ENV must have two arguments"),
        ("FROM a\nLABEL k\n", 2, "LABEL must have two arguments"),
        ("FROM a\nENV a=b c\n", 2, 'can\'t find = in "c"'),
    ],
)
def test_errors_and_their_lines(text: str, line: int, message: str) -> None:
    """BuildKit's parse errors, with the (1-based) line they are on."""
    with pytest.raises(DockerfileSyntaxError) as info:
        parse_text(text)
    assert info.value.line == line
    assert message in info.value.reason
    assert str(info.value).startswith(f"line {line}: ")


def test_backtick_escape() -> None:
    """With ``# escape=```, the backtick continues lines and the backslash is literal."""
    parsed = parse_text("# escape=`\nFROM win\nRUN dir C:\\ `\n  && echo\nCOPY a\\ b c\n")
    assert [i.value for i in parsed.instructions[1:]] == [
        ("dir C:\\   && echo",),
        ("a\\", "b", "c"),
    ]


def test_continuations() -> None:
    """Comment and blank lines inside a continuation are skipped; whitespace after ``\\``."""
    text = "RUN a \\\n  # note\n\n   \n  b \\ \t\n  c\nRUN d\n"
    first, second = parse_text(text).instructions
    assert (first.value, first.start_line, first.end_line) == (("a   b   c",), 1, 6)
    assert (second.value, second.start_line) == (("d",), 7)


def test_escaped_escape_is_not_a_continuation() -> None:
    """A doubled escape at the end of a line is literal text."""
    assert values("RUN echo a\\\\\nRUN b\n") == [("RUN", ("echo a\\\\",)), ("RUN", ("b",))]


def test_continuation_at_end_of_file() -> None:
    """A continuation at EOF ends the instruction; a lone one makes an empty instruction."""
    assert values("FROM a\nRUN x \\") == [("FROM", ("a",)), ("RUN", ("x",))]
    assert values("FROM a\n\\\n") == [("FROM", ("a",)), ("", ("",))]


def test_crlf() -> None:
    """Regression: CRLF line endings are removed, also before a continuation."""
    first, second = parse_text("FROM a\r\nRUN b \\\r\n  c\r\n").instructions
    assert first.original == "FROM a"
    assert second.value == ("b   c",)


def test_json_and_shell_forms() -> None:
    """RUN/CMD/ENTRYPOINT/SHELL take a JSON array or the rest of the line."""
    parsed = parse_text('CMD ["a", "b c"]\nRUN [ ]\nCMD [a]\nRUN ["x"] && y\nCMD [1e999]\n')
    got = [(i.json, i.value) for i in parsed.instructions]
    assert got == [
        (True, ("a", "b c")),
        (True, ()),
        (False, ("[a]",)),
        (False, ('["x"] && y',)),
        (False, ("[1e999]",)),
    ]


def test_list_forms() -> None:
    """COPY/ADD/VOLUME take a JSON array or whitespace-separated words."""
    assert values('COPY ["a b", "c"]\nVOLUME /a  /b\nADD\n') == [
        ("COPY", ("a b", "c")),
        ("VOLUME", ("/a", "/b")),
        ("ADD", ()),
    ]


def test_flags() -> None:
    """Leading ``--flags`` are split off (quotes removed); ``--`` ends them."""
    copy = only('COPY --from=build --chown="app user" -- --odd dst\n')
    assert copy.flags == ("--from=build", "--chown=app user")
    assert copy.value == ("--odd", "dst")
    run = only("RUN --mount=type=cache,target=/c echo --not-a-flag\n")
    assert run.flags == ("--mount=type=cache,target=/c",)
    assert run.value == ("echo --not-a-flag",)


def test_flags_are_latin1_decoded_as_buildkit_does() -> None:
    """BuildKit reads flags byte by byte, so non-ASCII text is Latin-1 decoded."""
    assert only("COPY --chown=ü a b\n").flags == ("--chown=Ã¼",)


def test_env_and_label_forms() -> None:
    """``k=v`` pairs (quotes kept) and the legacy ``k v`` form."""
    assert values('ENV A=1 B="x y"\nENV C legacy value\nLABEL "a b"=c d=\n') == [
        ("ENV", ("A", "1", "B", '"x y"')),
        ("ENV", ("C", "legacy value")),
        ("LABEL", ('"a b"', "c", "d", "")),
    ]


def test_arg_forms() -> None:
    """ARG keeps its words as written."""
    assert only("ARG A B=2 C=\"x y\" 'D'=\\ q\n").value == ("A", "B=2", 'C="x y"', "'D'=\\ q")
    assert only("ARG\n").value == ()


def test_healthcheck() -> None:
    """HEALTHCHECK: the type word, then its command."""
    assert values(
        'HEALTHCHECK NONE\nHEALTHCHECK --interval=5s CMD ["a"]\nHEALTHCHECK CMD a b\n'
    ) == [
        ("HEALTHCHECK", ("NONE",)),
        ("HEALTHCHECK", ("CMD", "a")),
        ("HEALTHCHECK", ("CMD", "a b")),
    ]


def test_onbuild() -> None:
    """ONBUILD reports the wrapped instruction's cmd, form and value; its own flags."""
    inner = only('onbuild copy --from=a ["x", "y"]\n')
    assert (inner.cmd, inner.sub_cmd, inner.json, inner.value) == (
        "ONBUILD",
        "COPY",
        True,
        ("x", "y"),
    )
    assert inner.flags == ()
    nested = only("ONBUILD ONBUILD RUN x\n")
    assert (nested.sub_cmd, nested.value) == ("ONBUILD", ("",))
    assert only("ONBUILD\n").sub_cmd is None


def test_unknown_and_other_instructions() -> None:
    """Unknown words are accepted with an empty value; string instructions keep the rest."""
    assert values(
        "FOO bar\nUSER a b\nWORKDIR /x y\nSTOPSIGNAL 9\nMAINTAINER me\nEXPOSE 80 443\n"
    ) == [
        ("FOO", ("",)),
        ("USER", ("a b",)),
        ("WORKDIR", ("/x y",)),
        ("STOPSIGNAL", ("9",)),
        ("MAINTAINER", ("me",)),
        ("EXPOSE", ("80", "443")),
    ]


def test_heredoc_body_starting_with_from_stays_in_run() -> None:
    """Regression: heredoc body lines are not instructions."""
    run, final = parse_text("RUN <<EOF\nFROM evil\nEOF\nFROM good\n").instructions
    assert run.heredocs == (Heredoc("EOF", 0, "FROM evil\n", expand=True, chomp=False),)
    assert (run.start_line, run.end_line) == (1, 3)
    assert run.original == "RUN <<EOF\nFROM evil\nEOF\n"
    assert final.value == ("good",)


def test_heredoc_variants() -> None:
    """``<<-`` (tabs before the terminator), quoted words, descriptors, several per line."""
    text = "COPY <<-A 3<<\"B\" <<'C' /x\n\ta\n\tA\nb $X\nB\nC\n"
    docs = only(text).heredocs
    assert docs == (
        Heredoc("A", 0, "\ta\n", expand=True, chomp=True),
        Heredoc("B", 3, "b $X\n", expand=False, chomp=False),
        Heredoc("C", 0, "", expand=False, chomp=False),
    )


def test_heredoc_crlf_body_keeps_line_endings() -> None:
    """Body lines keep their CRLF; the terminator matches without it."""
    assert only("RUN <<EOF\r\nx\r\nEOF\r\n").heredocs[0].content == "x\r\n"


@pytest.mark.parametrize(
    "text",
    [
        "CMD <<EOF\nx\nEOF\n",  # not an instruction that takes heredocs
        'RUN ["sh", "<<EOF"]\nx\nEOF\n',  # JSON form
        'RUN echo "<<EOF"\nx\nEOF\n',  # quoted
        "RUN a<<EOF\nx\nEOF\n",  # inside a word
    ],
)
def test_no_heredoc(text: str) -> None:
    """Heredocs only open on RUN/COPY/ADD in shell form, as their own word."""
    first, *rest = parse_text(text).instructions
    assert first.heredocs == ()
    assert [i.cmd for i in rest] == ["X", "EOF"]


def test_onbuild_heredoc_is_consumed() -> None:
    """An ONBUILD RUN heredoc body is skipped (reported without heredocs, as the oracle)."""
    onbuild, run = parse_text("ONBUILD RUN <<EOF\nx\nEOF\nRUN y\n").instructions
    assert (onbuild.end_line, onbuild.heredocs) == (3, ())
    assert run.value == ("y",)


# Where current BuildKit and the v0.12.5 inside PyPI dockerfile 3.4.0 differ: current wins.


def test_current_buildkit_heredoc_with_space() -> None:
    """``<< EOF`` opens a heredoc (BuildKit dockerfile/1.16)."""
    assert only("RUN cat << EOF\nFROM x\nEOF\n").heredocs[0].name == "EOF"


def test_current_buildkit_check_directive() -> None:
    """``# check=`` is a directive, so a later ``# escape=`` applies (dockerfile/1.8)."""
    assert parse_text("# check=skip=all\n# escape=`\nFROM a\n").escape == "`"


def test_current_buildkit_json_with_trailing_text_is_shell_form() -> None:
    """A JSON array followed by more text is shell form (dockerfile/1.9)."""
    assert only('CMD ["a"] b\n').value == ('["a"] b',)


def test_current_buildkit_flags_use_the_escape_directive() -> None:
    """The escape directive applies inside flags (dockerfile/1.15)."""
    assert only("# escape=`\nCOPY --chown=a`:b c d\n").flags == ("--chown=a:b",)


def test_line_too_long() -> None:
    """A line over 64 KiB fails, as BuildKit's scanner does."""
    with pytest.raises(DockerfileSyntaxError, match="greater than max allowed size"):
        parse_text("FROM a\nRUN " + "x" * 70000 + "\n")
