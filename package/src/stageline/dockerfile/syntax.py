"""Dockerfile text -> instructions, as BuildKit's parser (``frontend/dockerfile/parser``) reads it.

Pure Python, so it runs wherever the tasks run (glibc and musl Linux, macOS, Windows,
x86_64 and arm64). ``tests/stageline/dockerfile`` checks it against PyPI's
``dockerfile`` (BuildKit's own Go parser) where that installs.

The rules are those of current BuildKit (``parser.go``, ``line_parsers.go``,
``directives.go``, ``split_command.go``). Each :class:`Instruction` carries the fields
of ``dockerfile.Command`` with the values that package gives, except that ``cmd`` and
``sub_cmd`` are upper case and "" stands for its ``None``. Where the BuildKit inside
``dockerfile`` 3.4.0 (v0.12.5) and current BuildKit differ, this follows current
BuildKit: the ``check`` directive, ``<< EOF`` (whitespace before the heredoc word),
the escape directive applying to flags, and JSON arrays followed by more text being
shell form.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from stageline.dockerfile.words import ExpansionError, split_words
from stageline.errors import DockerfileError

# Go's unicode.IsSpace, and the regexps BuildKit splits and matches with.
_SPACES = (
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_SPLIT = re.compile(r"[\t\v\f\r ]+")
_DIRECTIVE = re.compile(r"([a-zA-Z][a-zA-Z0-9]*)[\t\n\f\r ]*=[\t\n\f\r ]*(.+?)[\t\n\f\r ]*")
_HEREDOC = re.compile(r"([0-9]*)<<(-?)[\t\n\f\r ]*([^<]*)")
_DIRECTIVE_NAMES = frozenset({"syntax", "escape", "check"})
_HEREDOC_CMDS = frozenset({"add", "copy", "run"})
_MAX_LINE_BYTES = 64 * 1024
_UINT_MAX = 2**64 - 1


class DockerfileSyntaxError(DockerfileError):
    """The Dockerfile cannot be parsed; ``line`` is where (1-based), as Docker reports it."""

    def __init__(self, line: int, message: str) -> None:
        """Record where and why."""
        super().__init__(f"line {line}: {message}")
        self.line = line
        self.reason = message


@dataclass(frozen=True)
class Heredoc:
    """One here-document of an instruction (``<<EOF`` ... ``EOF``).

    ``content`` is the body as written (line endings kept, tabs not yet removed for
    ``<<-``); ``expand`` is false when the word was quoted; ``chomp`` is ``<<-``.
    """

    name: str
    file_descriptor: int
    content: str
    expand: bool
    chomp: bool


@dataclass(frozen=True)
class Instruction:
    """One instruction, with the fields of ``dockerfile.Command`` (BuildKit's parser node).

    ``value`` is what BuildKit's line parser gives: the words of FROM, EXPOSE, COPY,
    ADD, VOLUME, ARG (quotes kept); ``key, value`` pairs of ENV and LABEL; one string
    for the shell form of RUN, CMD, ENTRYPOINT, SHELL; the array of the JSON form
    (``json`` true); ``("CMD", ...)`` or ``("NONE",)`` for HEALTHCHECK; ``("",)`` for
    unknown instructions. For ONBUILD, ``sub_cmd``, ``json`` and ``value`` are those of
    the wrapped instruction, and ``heredocs`` is empty (as in ``dockerfile.Command``).
    ``original`` is the joined line, followed by each heredoc's body and name.
    """

    cmd: str  # upper case, e.g. "FROM"
    sub_cmd: str | None  # the instruction ONBUILD wraps, upper case
    json: bool  # exec (JSON array) form
    original: str
    start_line: int
    end_line: int
    flags: tuple[str, ...]  # e.g. ("--from=build",)
    value: tuple[str, ...]
    heredocs: tuple[Heredoc, ...]


@dataclass(frozen=True)
class ParsedDockerfile:
    """A whole Dockerfile: its parser directives and its instructions in order."""

    directives: dict[str, str]  # lower-case names: "syntax", "escape", "check"
    escape: str
    instructions: tuple[Instruction, ...]


def parse_text(text: str) -> ParsedDockerfile:
    """Return the directives and instructions of Dockerfile ``text``.

    Raises :class:`DockerfileSyntaxError` where BuildKit's parser fails.
    """
    return _Reader(text).parse()


class _ParseError(Exception):
    """An error of a line parser; the reader adds the line number."""


class _NotStringArray(_ParseError):
    """A JSON array with an element that is not a string."""

    def __init__(self) -> None:
        """Use BuildKit's message."""
        super().__init__("when using JSON array syntax, arrays must be comprised of strings only")


@dataclass
class _Node:
    """What BuildKit's ``newNodeFromLine`` makes of one logical line."""

    cmd: str
    flags: list[str]
    values: list[str]
    json: bool = False
    child: _Node | None = None


# -- lines ---------------------------------------------------------------------------------


def _lines(text: str) -> tuple[list[str], bool]:
    """Split ``text`` after each ``\\n``, as BuildKit's scanner; say if a line was too long."""
    lines: list[str] = []
    start = 0
    while start < len(text):
        end = text.find("\n", start)
        line = text[start:] if end < 0 else text[start : end + 1]
        size = len(line.encode("utf-8", "surrogatepass"))
        if size > _MAX_LINE_BYTES or (end < 0 and size >= _MAX_LINE_BYTES):
            return lines, True
        lines.append(line)
        start += len(line)
    return lines, False


def _trim_left(s: str) -> str:
    """Strip Go's unicode whitespace on the left."""
    return s.lstrip(_SPACES)


def _trim_newline(s: str) -> str:
    """Strip trailing ``\\r`` and ``\\n`` characters."""
    return s.rstrip("\r\n")


def _is_comment(s: str) -> bool:
    """Whether the line is a comment (``#`` after optional whitespace)."""
    return _trim_left(s).startswith("#")


def _trim_continuation(line: str, escape: str) -> tuple[str, bool]:
    """Remove a trailing line-continuation escape; return the line and whether it ends there."""
    body = line.rstrip(" \t")
    if not body.endswith(escape):
        return line, True
    before = body[:-1]
    if before and before[-1] == escape:
        return line, True
    return before, False


# -- directives ----------------------------------------------------------------------------


@dataclass
class _Directives:
    """The parser directives at the top of the file, and the escape character."""

    escape: str = "\\"
    found: dict[str, str] = field(default_factory=dict)
    done: bool = False

    def scan(self, token: str) -> None:
        """Take ``token`` (one line, left-stripped) as a possible directive."""
        if self.done:
            return
        rest = token.removeprefix("#")
        match = _DIRECTIVE.fullmatch(_trim_left(rest)) if rest != token else None
        name = match.group(1).lower() if match else ""
        if match is None or name not in _DIRECTIVE_NAMES:
            self.done = True
            return
        if name in self.found:
            raise _ParseError(f"only one {name} parser directive can be used")
        value = match.group(2)
        if name == "escape":
            if value not in ("`", "\\"):
                raise _ParseError(f"invalid escape token '{value}' does not match ` or \\")
            self.escape = value
        self.found[name] = value


# -- line parsers --------------------------------------------------------------------------

# What unicode.IsSpace says of a single byte, for the parsers that walk bytes.
_BYTE_SPACES = "\t\n\v\f\r \x85\xa0"
_Parsed = tuple[list[str], bool, _Node | None]


def _to_bytes(s: str) -> str:
    """Return a Latin-1 view of the UTF-8 bytes of ``s`` (one character per byte)."""
    return s.encode("utf-8", "surrogatepass").decode("latin-1")


def _from_bytes(s: str) -> str:
    """Turn a Latin-1 view of UTF-8 bytes back into text."""
    return s.encode("latin-1").decode("utf-8", "replace")


def _go_lower(s: str) -> str:
    """Lower-case as Go's ``strings.ToLower`` (simple case mapping)."""
    return s.replace("\u0130", "i").lower()


def _go_quote(s: str) -> str:
    """Quote ``s`` roughly as Go's ``%q``."""
    return json.dumps(s, ensure_ascii=False)


def _node(line: str, escape: str) -> _Node:
    """Parse one logical line into a node, as BuildKit's ``newNodeFromLine``."""
    cmd, flags, args = _split_fields(line, escape)
    parser = _PARSERS.get(_go_lower(cmd), _parse_ignore)
    values, is_json, child = parser(args, escape)
    return _Node(cmd, flags, values, is_json, child)


def _split_fields(line: str, escape: str) -> tuple[str, list[str], str]:
    """Return the instruction word, the flags and the arguments of ``line``."""
    parts = _SPLIT.split(line.strip(_SPACES), maxsplit=1)
    if len(parts) < 2:
        return parts[0], [], ""
    scanner = _FlagScanner(_to_bytes(parts[1]), escape)
    rest = scanner.run()
    return parts[0], scanner.words, _from_bytes(rest).strip(_SPACES)


class _FlagScanner:
    """BuildKit's ``extractBuilderFlags``: leading ``--name=value`` words, quotes removed.

    It walks bytes, so non-ASCII flag text comes out Latin-1 decoded, as in BuildKit.
    """

    def __init__(self, line: str, escape: str) -> None:
        """Prepare to scan ``line`` (a Latin-1 view of its bytes)."""
        self.line = line
        self.escape = escape
        self.words: list[str] = []
        self.buf: list[str] = []
        self.quote = ""
        self.blank_ok = False
        self.pos = 0

    def run(self) -> str:
        """Collect the flags into ``words``; return the rest of the line."""
        line = self.line
        while True:
            while self.pos < len(line) and line[self.pos] in _BYTE_SPACES:
                self.pos += 1
            if self.pos == len(line):
                return ""
            if not line.startswith("--", self.pos):
                return line[self.pos :]
            if self._word():
                return line[self.pos :]
            if self.pos >= len(line):
                return ""

    def _word(self) -> bool:
        """Read one flag word; return True when it was ``--`` followed by whitespace."""
        line = self.line
        while self.pos < len(line):
            ch = line[self.pos]
            if self.quote:
                self._quoted(ch)
                continue
            if ch in _BYTE_SPACES:
                word = "".join(self.buf)
                if word == "--":
                    return True
                self._keep(word)
                self.pos += 1
                return False
            if ch in "'\"":
                self.quote, self.blank_ok = ch, True
                self.pos += 1
                continue
            self._char(ch)
        word = "".join(self.buf)
        if word != "--":
            self._keep(word)
        return False

    def _quoted(self, ch: str) -> None:
        """Take one character inside quotes."""
        if ch == self.quote:
            self.quote = ""
            self.pos += 1
            return
        if ch == self.escape and self.pos + 1 == len(self.line):
            self.quote = ""
            self.pos += 1
            return
        self._char(ch)

    def _char(self, ch: str) -> None:
        """Take one character of a word; the escape character takes the next one literally."""
        if ch == self.escape:
            self.pos += 1
            if self.pos == len(self.line):
                return
            ch = self.line[self.pos]
        self.buf.append(ch)
        self.pos += 1

    def _keep(self, word: str) -> None:
        """End the current word, keeping it if it is not empty (or was quoted)."""
        if self.blank_ok or word:
            self.words.append(word)
        self.buf = []
        self.blank_ok = False


def _parse_words(rest: str, escape: str) -> list[str]:
    """Split on whitespace outside quotes, keeping quotes and escapes (``parseWords``)."""
    words: list[str] = []
    buf: list[str] = []
    quote = ""
    blank_ok = in_word = False
    pos = 0
    while pos < len(rest):
        ch = rest[pos]
        pos += 1
        if not quote and ch in _SPACES:
            if in_word and (blank_ok or buf):
                words.append("".join(buf))
            buf, blank_ok, in_word = [], False, False
            continue
        in_word = True
        if ch == quote:
            quote = ""
        elif not quote and ch in "'\"":
            quote, blank_ok = ch, True
        elif ch == escape and quote != "'":
            if pos == len(rest):
                quote = ""
                continue
            buf.append(ch)
            ch = rest[pos]
            pos += 1
        buf.append(ch)
    if in_word and (blank_ok or buf):
        words.append("".join(buf))
    return words


def _parse_json(rest: str) -> list[str] | None:
    """Return the strings of a JSON array, None if ``rest`` is not one (``parseJSON``)."""
    rest = _trim_left(rest)
    if not rest.startswith("["):
        return None
    try:
        data = json.loads(rest, parse_constant=_reject_number, parse_float=_go_number)
    except (ValueError, RecursionError):
        return None
    if _has_big_int(data):
        return None
    if not all(isinstance(item, str) for item in data):
        raise _NotStringArray
    return [_SURROGATE.sub("\ufffd", item) for item in data]


_SURROGATE = re.compile("[\ud800-\udfff]")


def _reject_number(text: str) -> float:
    """Refuse ``NaN`` and ``Infinity``, which Go's JSON decoder does not know."""
    raise ValueError(text)


def _go_number(text: str) -> float:
    """Parse a JSON number as Go's float64; one that overflows is an error."""
    value = float(text)
    if math.isinf(value):
        raise ValueError(text)
    return value


def _has_big_int(data: object) -> bool:
    """Whether a decoded JSON value holds an integer too big for a float64."""
    if isinstance(data, list):
        return any(_has_big_int(item) for item in data)
    if isinstance(data, dict):
        return any(_has_big_int(item) for item in data.values())
    if isinstance(data, int) and not isinstance(data, bool):
        try:
            float(data)
        except OverflowError:
            return True
    return False


def _parse_ignore(rest: str, escape: str) -> _Parsed:
    """Unknown instruction: one empty value."""
    return [""], False, None


def _parse_sub_command(rest: str, escape: str) -> _Parsed:
    """ONBUILD: the rest is an instruction of its own."""
    if not rest:
        return [], False, None
    return [""], False, _node(rest, escape)


def _parse_name_or_name_val(rest: str, escape: str) -> _Parsed:
    """ARG: the words, quotes kept."""
    return _parse_words(rest, escape), False, None


def _parse_whitespace_delimited(rest: str, escape: str) -> _Parsed:
    """FROM, EXPOSE: the whitespace-separated words."""
    return (_SPLIT.split(rest) if rest else []), False, None


def _parse_string(rest: str, escape: str) -> _Parsed:
    """USER, WORKDIR, STOPSIGNAL, MAINTAINER: the whole rest."""
    return ([rest] if rest else []), False, None


def _parse_maybe_json(rest: str, escape: str) -> _Parsed:
    """RUN, CMD, ENTRYPOINT, SHELL: a JSON array or the whole rest."""
    if not rest:
        return [], False, None
    items = _parse_json(rest)
    return ([rest], False, None) if items is None else (items, True, None)


def _parse_maybe_json_to_list(rest: str, escape: str) -> _Parsed:
    """COPY, ADD, VOLUME: a JSON array or the whitespace-separated words."""
    items = _parse_json(rest)
    if items is None:
        return _parse_whitespace_delimited(rest, escape)
    return items, True, None


def _parse_health(rest: str, escape: str) -> _Parsed:
    """HEALTHCHECK: the type word (``CMD``, ``NONE``), then a JSON array or the rest."""
    data = _to_bytes(rest)
    sep = 0
    while sep < len(data) and data[sep] not in _BYTE_SPACES:
        sep += 1
    start = sep
    while start < len(data) and data[start] in _BYTE_SPACES:
        start += 1
    if sep == 0:
        return [], False, None
    values, is_json, _ = _parse_maybe_json(_from_bytes(data[start:]), escape)
    return [_from_bytes(data[:sep]), *values], is_json, None


def _name_val_parser(key: str) -> Callable[[str, str], _Parsed]:
    """Return the ENV/LABEL parser: ``k=v ...`` pairs, or the legacy ``k v`` form."""

    def parse(rest: str, escape: str) -> _Parsed:
        """Parse the arguments of ``key``."""
        words = _parse_words(rest, escape)
        if not words:
            return [], False, None
        if "=" not in words[0]:
            parts = _SPLIT.split(rest, maxsplit=1)
            if len(parts) < 2:
                raise _ParseError(f"{key} must have two arguments")
            return parts, False, None
        values: list[str] = []
        for word in words:
            name, eq, value = word.partition("=")
            if not eq:
                raise _ParseError(
                    f"Syntax error - can't find = in {_go_quote(word)}. "
                    "Must be of the form: name=value"
                )
            values += [name, value]
        return values, False, None

    return parse


_PARSERS: dict[str, Callable[[str, str], _Parsed]] = {
    "add": _parse_maybe_json_to_list,
    "arg": _parse_name_or_name_val,
    "cmd": _parse_maybe_json,
    "copy": _parse_maybe_json_to_list,
    "entrypoint": _parse_maybe_json,
    "env": _name_val_parser("ENV"),
    "expose": _parse_whitespace_delimited,
    "from": _parse_whitespace_delimited,
    "healthcheck": _parse_health,
    "label": _name_val_parser("LABEL"),
    "maintainer": _parse_string,
    "onbuild": _parse_sub_command,
    "run": _parse_maybe_json,
    "shell": _parse_maybe_json,
    "stopsignal": _parse_string,
    "user": _parse_string,
    "volume": _parse_maybe_json_to_list,
    "workdir": _parse_string,
}


# -- heredocs ------------------------------------------------------------------------------


def _can_contain_heredoc(node: _Node) -> bool:
    """Whether BuildKit looks for heredocs on this instruction (RUN, COPY, ADD; not JSON)."""
    target = node.child if _go_lower(node.cmd) == "onbuild" and node.child else node
    return _go_lower(target.cmd) in _HEREDOC_CMDS and not target.json


def _heredoc_words(line: str) -> list[Heredoc]:
    """Return the heredocs that ``line`` opens (bodies still empty), in order."""
    try:
        words = split_words(line, {}, raw_quotes=True, raw_escapes=True, keep_unset=True)
    except ExpansionError:
        return []
    docs = (_heredoc_word(word) for word in words)
    return [doc for doc in docs if doc is not None]


def _heredoc_word(word: str) -> Heredoc | None:
    """Return the heredoc a word such as ``3<<-"EOF"`` opens, or None (``ParseHeredoc``)."""
    match = _HEREDOC.fullmatch(word)
    if match is None or not match.group(3):
        return None
    fd, chomp, rest = match.groups()
    try:
        words = split_words(rest, {}, keep_unset=True)
        if len(words) != 1:
            return None
        raw = split_words(rest, {}, raw_quotes=True, keep_unset=True)
    except ExpansionError as exc:
        raise _ParseError(str(exc)) from None
    if len(raw) != 1:
        raise _ParseError(f"internal lexing of heredoc produced inconsistent results: {rest}")
    expand = _quotes(words[0]) == _quotes(raw[0])
    descriptor = min(int(fd), _UINT_MAX) if fd else 0
    return Heredoc(words[0], descriptor, "", expand, chomp == "-")


def _quotes(word: str) -> int:
    """Count the quote characters in ``word``."""
    return word.count("'") + word.count('"')


# -- the reader ----------------------------------------------------------------------------


class _Reader:
    """One pass over the lines of a Dockerfile, as BuildKit's ``parser.Parse``."""

    def __init__(self, text: str) -> None:
        """Prepare to read ``text``."""
        self.lines, self.too_long = _lines(text)
        self.pos = 0  # lines read so far: the 1-based number of the last one
        self.directives = _Directives()
        self.instructions: list[Instruction] = []

    def parse(self) -> ParsedDockerfile:
        """Read every instruction; raise DockerfileSyntaxError as BuildKit fails."""
        for raw in self._scan():
            self._statement(raw)
        if not self.instructions:
            raise DockerfileSyntaxError(max(self.pos, 1), "file with no instructions")
        if self.too_long:
            size = _MAX_LINE_BYTES - 1
            raise DockerfileSyntaxError(
                self.pos + 1, f"dockerfile line greater than max allowed size of {size}"
            )
        found = dict(self.directives.found)
        return ParsedDockerfile(found, self.directives.escape, tuple(self.instructions))

    def _scan(self) -> Iterator[str]:
        """Yield the lines not read yet, one at a time (shared by all the loops)."""
        while self.pos < len(self.lines):
            self.pos += 1
            yield self.lines[self.pos - 1]

    def _statement(self, raw: str) -> None:
        """Read the instruction that starts with line ``raw``, if it is one."""
        if self.pos == 1:
            raw = raw.removeprefix("\ufeff")
        token = _trim_left(_trim_newline(raw))
        try:
            self.directives.scan(token)
        except _ParseError as exc:
            raise DockerfileSyntaxError(self.pos, str(exc)) from None
        if _is_comment(token):
            token = ""
        start = self.pos
        token, at_end = _trim_continuation(token, self.directives.escape)
        if at_end and not token:
            return
        line = self._join(token, at_end)
        try:
            node = _node(line, self.directives.escape)
            heredocs = self._heredocs(node, line)
        except _ParseError as exc:
            raise DockerfileSyntaxError(start, str(exc)) from None
        self.instructions.append(_instruction(node, line, heredocs, start, self.pos))

    def _join(self, line: str, at_end: bool) -> str:
        """Append the continuation lines (skipping comments and blank lines) to ``line``."""
        parts = [line]
        escape = self.directives.escape
        for raw in self._scan() if not at_end else ():
            token = _trim_newline(raw)
            if _is_comment(raw) or not _trim_left(token):
                continue
            token, at_end = _trim_continuation(token, escape)
            parts.append(token)
            if at_end:
                break
        return "".join(parts)

    def _heredocs(self, node: _Node, line: str) -> list[Heredoc]:
        """Read the bodies of the heredocs that ``line`` opens."""
        if not _can_contain_heredoc(node) or "<<" not in line:
            return []
        return [self._body(doc) for doc in _heredoc_words(line)]

    def _body(self, doc: Heredoc) -> Heredoc:
        """Read the lines of one heredoc, up to its terminator."""
        body: list[str] = []
        for raw in self._scan():
            candidate = _trim_newline(raw)
            if doc.chomp:
                candidate = candidate.lstrip("\t")
            if candidate == doc.name:
                return Heredoc(doc.name, doc.file_descriptor, "".join(body), doc.expand, doc.chomp)
            body.append(raw)
        raise _ParseError("unterminated heredoc")


def _instruction(
    node: _Node, line: str, heredocs: list[Heredoc], start: int, end: int
) -> Instruction:
    """Return the instruction of ``node`` as ``dockerfile.Command`` reports it."""
    target = node.child or node
    if node.child is not None:
        heredocs = []
    original = line
    if heredocs:
        original += "\n" + "".join(doc.content + doc.name + "\n" for doc in heredocs)
    return Instruction(
        cmd=node.cmd.upper(),
        sub_cmd=(node.child.cmd.upper() or None) if node.child else None,
        json=target.json,
        original=original,
        start_line=start,
        end_line=end,
        flags=tuple(node.flags),
        value=tuple(target.values),
        heredocs=tuple(heredocs),
    )
