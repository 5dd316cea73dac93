"""Variable expansion in one word, as BuildKit's shell lexer (``frontend/dockerfile/shell``).

Used for what decides the stage graph and build args: ``FROM`` base names and
``--platform``, ``COPY/ADD --from``, ``RUN --mount`` options and ``ARG`` defaults.

The rules follow ``shell.Lex`` of current BuildKit: single quotes are literal, double
quotes allow ``$`` expansion and escaping of ``"``, ``$`` and the escape character, the
escape character (``\\`` or a backtick) escapes any character outside quotes, and
``${...}`` supports ``:-  -  :+  +  :?  ?  #  ##  %  %%  /  //``. Unset variables
expand to "". :func:`split_words` is the word-splitting variant (``ProcessWords``)
that the Dockerfile parser uses to find here-documents.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from stageline.errors import DockerfileError

_SPECIAL_PARAMS = frozenset("@*#?-$!0")
_REGEX_SPECIALS = frozenset("[]{}.+()|^$")
_MODIFIERS = frozenset("+-?#%")
# Go's unicode.IsSpace.
_GO_SPACES = frozenset(
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_HEREDOC_SPACE = frozenset("\t\r ")
_EXPAND_REF = re.compile(r"\$(?:(\w+)|\{(\w+)\})")


class ExpansionError(DockerfileError):
    """A word cannot be expanded (bad substitution, ``${VAR:?message}`` unset...)."""


def expand_word(word: str, env: Mapping[str, str], escape: str = "\\") -> str:
    """Return ``word`` with quotes removed and ``$VAR``/``${VAR...}`` expanded from ``env``.

    Behaves as BuildKit's ``shell.Lex.ProcessWord``; unset variables expand to "".
    """
    result, _ = _Lexer(word, env, _Options(escape)).run()
    return result


def split_words(
    text: str,
    env: Mapping[str, str],
    escape: str = "\\",
    *,
    raw_quotes: bool = False,
    raw_escapes: bool = False,
    keep_unset: bool = False,
) -> list[str]:
    """Return ``text`` expanded and split into words, as ``shell.Lex.ProcessWords`` does.

    ``raw_quotes``/``raw_escapes`` keep quotes and escape characters in the words;
    ``keep_unset`` leaves references to unset variables as written (``SkipUnsetEnv``).
    """
    options = _Options(escape, raw_quotes, raw_escapes, keep_unset)
    _, words = _Lexer(text, env, options).run()
    return words


@dataclass(frozen=True)
class _Options:
    """The switches of a ``shell.Lex``."""

    escape: str
    raw_quotes: bool = False
    raw_escapes: bool = False
    keep_unset: bool = False


class _Scanner:
    """Go's ``text/scanner`` as the lexer uses it: one character at a time."""

    def __init__(self, text: str) -> None:
        """Start at the beginning of ``text`` (a leading BOM is skipped, as Go's does)."""
        self.text = text
        self.pos = 1 if text.startswith("\ufeff") else 0

    def peek(self) -> str:
        """Return the next character, or "" at the end."""
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def next(self) -> str:
        """Consume and return the next character, or "" at the end."""
        ch = self.peek()
        if ch:
            self.pos += 1
        return ch


@dataclass
class _Words:
    """Word splitting state of one ``processStopOn`` call (the buffer is shared, as in Go)."""

    buf: list[str]
    words: list[str] = field(default_factory=list)
    in_word: bool = False

    def add_char(self, ch: str) -> None:
        """Add an unquoted character: whitespace ends the current word."""
        if ch in _GO_SPACES:
            if self.in_word and self.buf:
                self.words.append("".join(self.buf))
                self.buf.clear()
                self.in_word = False
        else:
            self.add_raw(ch)

    def add_raw(self, text: str) -> None:
        """Add text that belongs to the current word whatever it holds."""
        if text:
            self.buf.append(text)
        self.in_word = True

    def add_string(self, text: str) -> None:
        """Add expanded text, which is split on whitespace."""
        for ch in text:
            self.add_char(ch)

    def finish(self) -> list[str]:
        """Return the words, the last one included."""
        if self.buf:
            self.words.append("".join(self.buf))
            self.buf.clear()
            self.in_word = False
        return self.words


class _Lexer:
    """One run of BuildKit's ``shellWord`` over a word."""

    def __init__(self, text: str, env: Mapping[str, str], options: _Options) -> None:
        """Prepare to lex ``text`` with ``env`` and ``options``."""
        self.source = text
        self.env = env
        self.opts = options
        self.esc = options.escape
        self.raw_escapes = options.raw_escapes
        self.scanner = _Scanner(text)
        self.shared_buf: list[str] = []

    def run(self) -> tuple[str, list[str]]:
        """Return the expanded word and its split words; raise ExpansionError."""
        try:
            return self.until("", self.opts.raw_escapes)
        except ExpansionError as exc:
            raise ExpansionError(f"failed to process {_go_quote(self.source)}: {exc}") from None

    def until(self, stop: str, raw_escapes: bool) -> tuple[str, list[str]]:
        """Process up to ``stop`` (consumed; "" means the end) as ``processStopOn``."""
        saved, self.raw_escapes = self.raw_escapes, raw_escapes
        try:
            return self._until(stop)
        finally:
            self.raw_escapes = saved

    def _until(self, stop: str) -> tuple[str, list[str]]:
        """Body of :meth:`until`."""
        result: list[str] = []
        self.shared_buf.clear()
        words = _Words(self.shared_buf)
        sc = self.scanner
        while (ch := sc.peek()) != "":
            if stop and ch == stop:
                sc.next()
                return "".join(result), words.finish()
            if ch in "$<'\"":
                text = self._special(ch)
                result.append(text)
                if ch == "$":
                    words.add_string(text)
                else:
                    words.add_raw(text)
                continue
            sc.next()
            if ch == self.esc:
                if self.raw_escapes:
                    words.add_raw(ch)
                    result.append(ch)
                ch = sc.next()
                if ch == "":
                    break
                words.add_raw(ch)
            else:
                words.add_char(ch)
            result.append(ch)
        if stop:
            raise ExpansionError(f"unexpected end of statement while looking for matching {stop}")
        return "".join(result), words.finish()

    def _special(self, ch: str) -> str:
        """Dispatch a character with special processing."""
        if ch == "$":
            return self.dollar()
        if ch == "<":
            return self._heredoc_marker()
        if ch == "'":
            return self._single_quote()
        return self._double_quote()

    def _heredoc_marker(self) -> str:
        """Return ``<``, or ``<<`` with the whitespace after it (kept in the same word)."""
        sc = self.scanner
        sc.next()
        if sc.peek() != "<":
            return "<"
        sc.next()
        spaces = []
        while sc.peek() in _HEREDOC_SPACE:
            spaces.append(sc.next())
        return "<<" + "".join(spaces)

    def _single_quote(self) -> str:
        """Return a single-quoted string: everything up to the next ``'`` is literal."""
        sc = self.scanner
        quote = sc.next()
        out = [quote] if self.opts.raw_quotes else []
        while True:
            ch = sc.next()
            if ch == "":
                raise ExpansionError(
                    "unexpected end of statement while looking for matching single-quote"
                )
            if ch == "'":
                if self.opts.raw_quotes:
                    out.append(ch)
                return "".join(out)
            out.append(ch)

    def _double_quote(self) -> str:
        """Return a double-quoted string, with ``$`` expanded and ``"$`` and escapes escaped."""
        sc = self.scanner
        quote = sc.next()
        out = [quote] if self.opts.raw_quotes else []
        while True:
            peek = sc.peek()
            if peek == "":
                raise ExpansionError(
                    "unexpected end of statement while looking for matching double-quote"
                )
            if peek == '"':
                sc.next()
                if self.opts.raw_quotes:
                    out.append(peek)
                return "".join(out)
            if peek == "$":
                out.append(self.dollar())
                continue
            ch = sc.next()
            if ch == self.esc:
                if self.raw_escapes:
                    out.append(ch)
                if sc.peek() == "":
                    continue
                if sc.peek() in ('"', "$", self.esc):
                    ch = sc.next()
            out.append(ch)

    def lookup(self, name: str) -> tuple[str, bool]:
        """Return the value of ``name`` and whether it is set."""
        if name in self.env:
            return self.env[name], True
        return "", False

    def dollar(self) -> str:
        """Expand ``$NAME`` or ``${...}`` (the ``$`` is next)."""
        sc = self.scanner
        sc.next()
        if sc.peek() != "{":
            name = self.name()
            if not name:
                return "$"
            value, found = self.lookup(name)
            if not found and self.opts.keep_unset:
                return "$" + name
            return value
        sc.next()
        peek = sc.peek()
        if peek == "":
            raise ExpansionError("syntax error: missing '}'")
        if peek in ("{", "}", ":"):
            raise ExpansionError("syntax error: bad substitution")
        return self._braced(self.name())

    def _braced(self, name: str) -> str:
        """Expand the rest of ``${name...}`` after the name."""
        ch = self.scanner.next()
        if ch == "}":
            value, found = self.lookup(name)
            if not found and self.opts.keep_unset:
                return "${" + name + "}"
            return value
        if ch == ":":
            modifier = self.scanner.next()
            return self._modified(name, modifier, ":" + _go_char(modifier), null_is_unset=True)
        if ch in _MODIFIERS:
            return self._modified(name, ch, ch, null_is_unset=False)
        if ch == "/":
            return self._replace(name)
        raise ExpansionError(f"unsupported modifier ({_go_char(ch)}) in substitution")

    def _modified(self, name: str, ch: str, chs: str, null_is_unset: bool) -> str:
        """Expand ``${name<chs>word}`` for the ``-``, ``+``, ``?``, ``#`` and ``%`` modifiers."""
        pattern_mode = ch in ("#", "%")
        if null_is_unset and pattern_mode:
            raise ExpansionError(f"unsupported modifier ({chs}) in substitution")
        word = self._until_brace("}", pattern_mode, "syntax error: missing '}'")
        value, found = self.lookup(name)
        if self.opts.keep_unset and not found:
            return "${" + name + chs + word + "}"
        empty = not found or (null_is_unset and value == "")
        if ch == "-":
            return word if empty else value
        if ch == "+":
            return "" if empty else word
        if ch == "?":
            return _check_set(name, value, found, null_is_unset, word)
        if pattern_mode:
            greedy = word[:1] == ch
            pattern = word[1:] if greedy else word
            if ch == "%":
                return _trim_suffix(pattern, value, greedy)
            return _trim_prefix(pattern, value, greedy)
        raise ExpansionError(f"unsupported modifier ({chs}) in substitution")

    def _until_brace(self, stop: str, raw_escapes: bool, missing: str) -> str:
        """Process up to ``stop``; at the end of the text report ``missing``."""
        try:
            word, _ = self.until(stop, raw_escapes)
        except ExpansionError:
            if self.scanner.peek() == "":
                raise ExpansionError(missing) from None
            raise
        return word

    def _replace(self, name: str) -> str:
        """Expand ``${name/pattern/replacement}`` and ``${name//pattern/replacement}``."""
        replace_all = self.scanner.peek() == "/"
        if replace_all:
            self.scanner.next()
        pattern = self._until_brace("/", True, "syntax error: missing '/' in ${}")
        replacement = self._until_brace("}", True, "syntax error: missing '}'")
        value, found = self.lookup(name)
        if self.opts.keep_unset and not found:
            return "${" + name + "/" + pattern + "/" + replacement + "}"
        regex = _pattern_regex(pattern, greedy=True, anchored=False)
        if replace_all:
            return _replace_all(regex, value, replacement)
        match = regex.search(value)
        if match is None:
            return value
        return value[: match.start()] + replacement + value[match.end() :]

    def name(self) -> str:
        """Read a variable name: letters, digits, ``_``; or digits; or one special parameter."""
        sc = self.scanner
        chars: list[str] = []
        while (ch := sc.peek()) != "":
            if not chars and ch.isdecimal():
                while sc.peek() != "" and sc.peek().isdecimal():
                    chars.append(sc.next())
                return "".join(chars)
            if not chars and ch in _SPECIAL_PARAMS:
                return sc.next()
            if not (ch.isalpha() or ch.isdecimal() or ch == "_"):
                break
            chars.append(sc.next())
        return "".join(chars)


def _check_set(name: str, value: str, found: bool, null_is_unset: bool, word: str) -> str:
    """Return ``value`` for ``${name?word}``/``${name:?word}``, or raise with the message."""
    if not found:
        raise ExpansionError(f"{name}: {word or 'is not allowed to be unset'}")
    if null_is_unset and value == "":
        raise ExpansionError(f"{name}: {word or 'is not allowed to be empty'}")
    return value


def _go_char(ch: str) -> str:
    """Return ``ch`` as Go's ``string(rune)`` prints it (EOF is U+FFFD)."""
    return ch or "\ufffd"


def _go_quote(text: str) -> str:
    """Return ``text`` quoted roughly as Go's ``%q`` does."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped.replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r") + '"'


def _pattern_regex(pattern: str, greedy: bool, anchored: bool) -> re.Pattern[str]:
    """Return the regex of a shell pattern (``*``, ``?``, ``\\`` escapes; no brackets)."""
    sc = _Scanner(pattern)
    out = ["^"] if anchored else []
    while (tok := sc.next()) != "":
        if tok == "*":
            out.append(".*" if greedy else ".*?")
            continue
        if tok == "?":
            out.append(".")
            continue
        if tok == "\\":
            if sc.peek() in ("}", "/") and sc.peek():
                continue
            tok = sc.next()
            if tok not in ("*", "?", "\\") or not tok:
                reason = f"invalid escape '\\{_go_char(tok)}'"
                raise ExpansionError(f"invalid pattern ({pattern}) in substitution: {reason}")
            out.append("\\")
        elif tok in _REGEX_SPECIALS:
            out.append("\\")
        out.append(tok)
    return re.compile("".join(out))


def _trim_prefix(pattern: str, value: str, greedy: bool) -> str:
    """Return ``value`` without the shortest (or longest) prefix matching ``pattern``."""
    match = _pattern_regex(pattern, greedy, anchored=True).search(value)
    return value if match is None else value[match.end() :]


def _reverse_pattern(pattern: str) -> str:
    """Reverse a pattern, keeping each ``\\x`` escape in order."""
    out = list(pattern)
    last = len(pattern) - 1
    i = 0
    while i <= last:
        if pattern[i] == "\\" and i != last:
            out[last - i - 1] = "\\"
            out[last - i] = pattern[i + 1]
            i += 2
        else:
            out[last - i] = pattern[i]
            i += 1
    return "".join(out)


def _trim_suffix(pattern: str, value: str, greedy: bool) -> str:
    """Return ``value`` without the shortest (or longest) suffix matching ``pattern``."""
    return _trim_prefix(_reverse_pattern(pattern), value[::-1], greedy)[::-1]


def _replace_all(regex: re.Pattern[str], value: str, template: str) -> str:
    """Replace every match, as Go's ``ReplaceAllString`` (no empty match right after one)."""
    out: list[str] = []
    last_end = 0
    search = 0
    while search <= len(value):
        match = regex.search(value, search)
        if match is None:
            break
        out.append(value[last_end : match.start()])
        if match.end() > last_end or match.start() == 0:
            out.append(_go_expand(template, match))
        last_end = match.end()
        search = max(search + 1, match.end())
    out.append(value[last_end:])
    return "".join(out)


def _go_expand(template: str, match: re.Match[str]) -> str:
    """Expand ``$n``/``${n}`` group references in a replacement, as Go's ``Regexp.Expand``."""
    out: list[str] = []
    pos = 0
    while (dollar := template.find("$", pos)) >= 0:
        out.append(template[pos:dollar])
        if template.startswith("$$", dollar):
            out.append("$")
            pos = dollar + 2
            continue
        ref = _EXPAND_REF.match(template, dollar)
        if ref is None:
            out.append("$")
            pos = dollar + 1
            continue
        name = ref.group(1) or ref.group(2)
        if name.isascii() and name.isdigit() and int(name) <= match.re.groups:
            out.append(match.group(int(name)) or "")
        pos = ref.end()
    out.append(template[pos:])
    return "".join(out)
