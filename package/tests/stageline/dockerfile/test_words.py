"""``expand_word`` and ``split_words`` behave as BuildKit's ``shell.Lex`` (cases from lex.go)."""

from __future__ import annotations

import pytest

from stageline.dockerfile.words import ExpansionError, expand_word, split_words

ENV = {
    "NAME": "web",
    "EMPTY": "",
    "PATHV": "/usr/local/bin/tool.tar.gz",
    "SPACED": "a  b",
    "VERSION": "3.12.1",
}


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        # plain text and quote removal
        ("python:3.12-slim", "python:3.12-slim"),
        ("'single $NAME'", "single $NAME"),
        ('"double $NAME"', "double web"),
        ("a'b'\"c\"d", "abcd"),
        ("'it''s'", "its"),
        ('"it\'s"', "it's"),
        ("hello there", "hello there"),
        # the escape character
        ("\\$NAME", "$NAME"),
        ("a\\ b", "a b"),
        ("\\'x\\'", "'x'"),
        ("trailing\\", "trailing"),
        ('"\\$NAME"', "$NAME"),
        ('"\\"q\\""', '"q"'),
        ('"a\\b"', "a\\b"),
        ('"a\\\\b"', "a\\b"),
        ("'a\\b'", "a\\b"),
        # simple references
        ("$NAME", "web"),
        ("${NAME}", "web"),
        ("x${NAME}y", "xweby"),
        ("$NAME.tar", "web.tar"),
        ("$NAMEx", ""),
        ("$UNSET", ""),
        ("${UNSET}", ""),
        ("$", "$"),
        ("a$", "a$"),
        ("$-x", "x"),
        ("$1abc", "abc"),
        ("$12", ""),
        ("${SPACED}", "a  b"),
        # defaults and alternatives
        ("${UNSET:-dflt}", "dflt"),
        ("${EMPTY:-dflt}", "dflt"),
        ("${NAME:-dflt}", "web"),
        ("${UNSET-dflt}", "dflt"),
        ("${EMPTY-dflt}", ""),
        ("${NAME:+alt}", "alt"),
        ("${EMPTY:+alt}", ""),
        ("${EMPTY+alt}", "alt"),
        ("${UNSET+alt}", ""),
        ("${UNSET:-$NAME}", "web"),
        ("${UNSET:-${NAME:-x}-y}", "web-y"),
        ("${UNSET:-'a b'}", "a b"),
        ("${NAME:?needed}", "web"),
        ("${EMPTY?needed}", ""),
        # pattern removal and replacement
        ("${PATHV#*/}", "usr/local/bin/tool.tar.gz"),
        ("${PATHV##*/}", "tool.tar.gz"),
        ("${PATHV%.*}", "/usr/local/bin/tool.tar"),
        ("${PATHV%%.*}", "/usr/local/bin/tool"),
        ("${VERSION%.?}", "3.12"),
        ("${VERSION#nomatch}", "3.12.1"),
        ("${UNSET#x}", ""),
        ("${PATHV/o/0}", "/usr/l0cal/bin/tool.tar.gz"),
        ("${PATHV//o/0}", "/usr/l0cal/bin/t00l.tar.gz"),
        ("${VERSION//./-}", "3-12-1"),
        ("${VERSION/#3/4}", "3.12.1"),
        ("${NAME//*/x}", "x"),
        ("${NAME//\\*/x}", "web"),
        ("${NAME/e/[$]}", "w[$]b"),
        # a leading BOM is skipped by Go's text scanner
        ("\ufeffweb", "web"),
    ],
)
def test_expand_word(word: str, expected: str) -> None:
    """Each word expands as BuildKit's ProcessWord does."""
    assert expand_word(word, ENV) == expected


def test_backtick_escape() -> None:
    """With ``# escape=``` the backtick escapes and the backslash is literal."""
    assert expand_word("`$NAME", ENV, "`") == "$NAME"
    assert expand_word("C:\\dir\\$NAME", ENV, "`") == "C:\\dir\\web"
    assert expand_word('"`"x"', ENV, "`") == '"x'


@pytest.mark.parametrize(
    ("word", "message"),
    [
        ("${UNSET:?}", "UNSET: is not allowed to be unset"),
        ("${UNSET?}", "UNSET: is not allowed to be unset"),
        ("${EMPTY:?}", "EMPTY: is not allowed to be empty"),
        ("${UNSET:?set it}", "UNSET: set it"),
        ("${", "syntax error: missing '}'"),
        ("${NAME", "unsupported modifier"),
        ("${NAME:-x", "syntax error: missing '}'"),
        ("${}", "bad substitution"),
        ("${:x}", "bad substitution"),
        ("${{x}", "bad substitution"),
        ("${NAME:#x}", "unsupported modifier (:#) in substitution"),
        ("${NAME:%x}", "unsupported modifier (:%) in substitution"),
        ("${NAME:=x}", "unsupported modifier (:=) in substitution"),
        ("${NAME!}", "unsupported modifier (!) in substitution"),
        ("${NAME/x}", "missing '/' in ${}"),
        ("${NAME%\\x}", "invalid escape"),
        ("'open", "matching single-quote"),
        ('"open', "matching double-quote"),
        ('"open\\', "matching double-quote"),
    ],
)
def test_expansion_errors(word: str, message: str) -> None:
    """Bad substitutions and ``?`` on unset variables raise, naming the word."""
    with pytest.raises(ExpansionError, match="failed to process") as info:
        expand_word(word, ENV)
    assert message in str(info.value)


def test_split_words() -> None:
    """ProcessWords splits after expansion; quoted text stays one word."""
    assert split_words('a $SPACED "b  c" ${UNSET:-d e}', ENV) == ["a", "a", "b", "b  c", "d", "e"]
    assert split_words("  lead   trail  ", ENV) == ["lead", "trail"]
    assert split_words("''", ENV) == []


def test_split_words_raw_modes() -> None:
    """The switches the Dockerfile parser uses to find heredocs keep quotes and escapes."""
    line = "RUN 3<<'EOF' \\x <<  \"A B\" $UNSET"
    words = split_words(line, {}, raw_quotes=True, raw_escapes=True, keep_unset=True)
    assert words == ["RUN", "3<<'EOF'", "\\x", '<<  "A B"', "$UNSET"]
    assert split_words("${U:-x}", {}, keep_unset=True) == ["${U:-x}"]
    assert split_words("${U/a/b}", {}, keep_unset=True) == ["${U/a/b}"]
