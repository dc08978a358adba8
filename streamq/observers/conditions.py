"""The condition language of observers: a tokenizer, a recursive-descent parser and an evaluator.

Grammar (`!` binds tighter than `&&`, which binds tighter than `||`, as in the original):

```
condition := or END
or        := and ( "||" and )*
and       := not ( "&&" not )*
not       := "!" not | primary
primary   := "(" or ")"
           | PATH OP value                    comparison on event.data at PATH
           | FUNC "(" arg ( "," arg )* ")"    has_field, field_changed, field_changed_to/from
OP        := "==" | "!=" | ">" | "<" | ">=" | "<="
value     := STRING | WORD                    'quoted' is a string; a bare word is a JSON
                                              number, true, false or null, else a string
PATH      := NAME ( "." SEGMENT )*            customer.tier, items.0.sku
```

Strings are single- or double-quoted; a backslash escapes the next character. Conditions are
compiled once into a tree of closures (never Python `eval`). Evaluation errors (a missing
field, ordering a string) raise `ConditionError`; the executors skip the observer and report it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any, Final, NamedTuple, NoReturn

import msgspec

from ..errors import ConditionError, ConditionSyntaxError
from ..model.event import MISSING, Event, EventKind, lookup, semantic_eq

__all__ = ["MAX_CONDITION_BYTES", "MAX_DEPTH", "Condition", "compile_condition"]

#: Longest condition accepted, in bytes of UTF-8 (the original's limit).
MAX_CONDITION_BYTES: Final = 4096
#: Deepest nesting of parentheses and `!` accepted (the original's limit).
MAX_DEPTH: Final = 64

_Eval = Callable[[Event], bool]

_WORD_CHARS: Final = re.compile(r"[A-Za-z0-9_.+\-]+")
_PATH: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*")
_ARG_PATH: Final = re.compile(r"[^.\s]+(?:\.[^.\s]+)*")
_NUMBER: Final = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_FUNCTIONS: Final = {
    "has_field": 1,
    "field_changed": 1,
    "field_changed_to": 2,
    "field_changed_from": 2,
}
_TWO_CHAR: Final = {"&&": "AND", "||": "OR", "==": "OP", "!=": "OP", ">=": "OP", "<=": "OP"}
_ONE_CHAR: Final = {"(": "LPAREN", ")": "RPAREN", ",": "COMMA", "!": "NOT", ">": "OP", "<": "OP"}
_HINTS: Final = {"&": "'&&'", "|": "'||'", "=": "'=='"}


class _Token(NamedTuple):
    kind: str  # LPAREN RPAREN COMMA AND OR NOT OP STRING WORD END
    text: str  # the operator, the word, or the string's decoded content
    pos: int


class Condition:
    """A compiled condition.

    Attributes:
        source: The condition text.
        warnings: Notes found while compiling (a bare word taken as a string), for the loader
            to log once.
    """

    __slots__ = ("_fn", "source", "warnings")

    def __init__(self, source: str, fn: _Eval, warnings: tuple[str, ...]) -> None:
        self.source = source
        self.warnings = warnings
        self._fn = fn

    def evaluate(self, event: Event) -> bool:
        """Evaluate against `event`.

        Raises:
            ConditionError: when a compared field is missing, a value has the wrong type, or
                change tracking is needed but unavailable.
        """
        return self._fn(event)

    def __repr__(self) -> str:
        return f"Condition({self.source!r})"


@functools.lru_cache(maxsize=1024)
def compile_condition(source: str) -> Condition:
    """Parse and compile a condition (cached: the same text compiles once).

    Raises:
        ConditionSyntaxError: with the 0-based position of the problem.
    """
    if len(source.encode()) > MAX_CONDITION_BYTES:
        raise ConditionSyntaxError(
            f"condition longer than {MAX_CONDITION_BYTES} bytes",
            position=MAX_CONDITION_BYTES,
            condition=source[:80] + "...",
        )
    parser = _Parser(source, _tokenize(source))
    fn = parser.parse()
    return Condition(source, fn, tuple(parser.warnings))


def _tokenize(src: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if c.isspace():
            i += 1
        elif src[i : i + 2] in _TWO_CHAR:
            tokens.append(_Token(_TWO_CHAR[src[i : i + 2]], src[i : i + 2], i))
            i += 2
        elif c in _ONE_CHAR:
            tokens.append(_Token(_ONE_CHAR[c], c, i))
            i += 1
        elif c in "'\"":
            text, end = _read_string(src, i)
            tokens.append(_Token("STRING", text, i))
            i = end
        elif m := _WORD_CHARS.match(src, i):
            tokens.append(_Token("WORD", m.group(), i))
            i = m.end()
        else:
            hint = f" (did you mean {_HINTS[c]}?)" if c in _HINTS else ""
            raise ConditionSyntaxError(
                f"unexpected character {c!r}{hint}", position=i, condition=src
            )
    tokens.append(_Token("END", "", n))
    return tokens


def _read_string(src: str, start: int) -> tuple[str, int]:
    quote, i, out = src[start], start + 1, []
    while i < len(src):
        c = src[i]
        if c == "\\" and i + 1 < len(src):
            out.append(src[i + 1])
            i += 2
        elif c == quote:
            return "".join(out), i + 1
        else:
            out.append(c)
            i += 1
    raise ConditionSyntaxError("unterminated string", position=start, condition=src)


def _describe(token: _Token) -> str:
    if token.kind == "END":
        return "end of condition"
    if token.kind == "STRING":
        return f"string {token.text!r}"
    return repr(token.text)


class _Parser:
    def __init__(self, src: str, tokens: list[_Token]) -> None:
        self.src = src
        self.tokens = tokens
        self.i = 0
        self.depth = 0
        self.warnings: list[str] = []

    # -- token plumbing -----------------------------------------------------------------------

    def peek(self) -> _Token:
        return self.tokens[self.i]

    def take(self) -> _Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def expect(self, kind: str, what: str) -> _Token:
        token = self.take()
        if token.kind != kind:
            self.fail(f"expected {what}, found {_describe(token)}", token)
        return token

    def fail(self, message: str, token: _Token) -> NoReturn:
        raise ConditionSyntaxError(message, position=token.pos, condition=self.src)

    def nest(self, token: _Token) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            self.fail(f"nesting deeper than {MAX_DEPTH}", token)

    # -- grammar ------------------------------------------------------------------------------

    def parse(self) -> _Eval:
        if self.peek().kind == "END":
            self.fail("empty condition", self.peek())
        fn = self.parse_or()
        token = self.peek()
        if token.kind != "END":
            self.fail(f"unexpected {_describe(token)}", token)
        return fn

    def parse_or(self) -> _Eval:
        parts = [self.parse_and()]
        while self.peek().kind == "OR":
            self.take()
            parts.append(self.parse_and())
        if len(parts) == 1:
            return parts[0]
        return lambda e: any(p(e) for p in parts)  # short-circuits

    def parse_and(self) -> _Eval:
        parts = [self.parse_not()]
        while self.peek().kind == "AND":
            self.take()
            parts.append(self.parse_not())
        if len(parts) == 1:
            return parts[0]
        return lambda e: all(p(e) for p in parts)  # short-circuits

    def parse_not(self) -> _Eval:
        token = self.peek()
        if token.kind != "NOT":
            return self.parse_primary()
        self.take()
        self.nest(token)
        inner = self.parse_not()
        self.depth -= 1
        return lambda e: not inner(e)

    def parse_primary(self) -> _Eval:
        token = self.take()
        if token.kind == "LPAREN":
            self.nest(token)
            inner = self.parse_or()
            self.expect("RPAREN", "')'")
            self.depth -= 1
            return inner
        if token.kind != "WORD":
            self.fail(f"expected a comparison, a function or '(', found {_describe(token)}", token)
        if self.peek().kind == "LPAREN":
            return self.parse_call(token)
        return self.parse_comparison(token)

    def parse_comparison(self, field: _Token) -> _Eval:
        if not _PATH.fullmatch(field.text):
            self.fail(f"{field.text!r} is not a field path (like status or customer.tier)", field)
        op = self.take()
        if op.kind != "OP":
            self.fail(f"expected a comparison operator after {field.text!r}, found "
                      f"{_describe(op)}", op)  # fmt: skip
        value = self.take()
        if value.kind == "STRING":
            literal: Any = value.text
        elif value.kind == "WORD":
            literal = self.bare_literal(value)
        else:
            self.fail(f"expected a value after {op.text!r}, found {_describe(value)}", value)
        if op.text not in ("==", "!=") and not _is_number(literal):
            self.fail(
                f"{op.text} compares numbers, got {_type_name(literal)} {value.text!r}", value
            )
        text = self.src[field.pos : self.peek().pos].strip()
        return _comparison(field.text, op.text, literal, text)

    def bare_literal(self, token: _Token) -> Any:
        word = token.text
        if word in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[word]
        if _NUMBER.fullmatch(word):
            return msgspec.json.decode(word)
        self.warnings.append(
            f"bare word {word!r} at position {token.pos} is compared as the string {word!r}; "
            f"quote it ('{word}') to say so"
        )
        return word

    def parse_call(self, name: _Token) -> _Eval:
        arity = _FUNCTIONS.get(name.text)
        if arity is None:
            known = ", ".join(_FUNCTIONS)
            self.fail(f"unknown function {name.text!r} (known: {known})", name)
        self.take()  # "("
        args: list[_Token] = []
        while True:
            arg = self.take()
            if arg.kind not in ("STRING", "WORD"):
                self.fail(f"expected an argument of {name.text}, found {_describe(arg)}", arg)
            args.append(arg)
            sep = self.take()
            if sep.kind == "RPAREN":
                break
            if sep.kind != "COMMA":
                self.fail(f"expected ',' or ')', found {_describe(sep)}", sep)
        if len(args) != arity:
            self.fail(
                f"{name.text} takes {arity} argument{'s' if arity > 1 else ''}, got {len(args)}",
                name,
            )
        path = args[0].text
        if not _ARG_PATH.fullmatch(path):
            self.fail(f"{path!r} is not a field path", args[0])
        if arity == 1:
            return _unary_function(name.text, path)
        value = args[1]
        # As in the original, a quoted value is read as JSON first ('100' is the number 100,
        # 'shipped' stays a string); a bare one follows the comparison rules.
        literal = (
            _json_or_string(value.text) if value.kind == "STRING" else self.bare_literal(value)
        )
        return _binary_function(name.text, path, literal)


def _json_or_string(text: str) -> Any:
    try:
        return msgspec.json.decode(text)
    except msgspec.DecodeError:
        return text


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _comparison(path: str, op: str, literal: Any, text: str) -> _Eval:
    def field(event: Event) -> Any:
        value = lookup(event.data, path)
        if value is MISSING:
            raise ConditionError(f"{text}: field {path!r} is not in the event data")
        return value

    if op == "==":
        return lambda e: semantic_eq(field(e), literal)
    if op == "!=":
        return lambda e: not semantic_eq(field(e), literal)
    compare: Callable[[Any, Any], bool] = {
        ">": lambda a, b: a > b,
        "<": lambda a, b: a < b,
        ">=": lambda a, b: a >= b,
        "<=": lambda a, b: a <= b,
    }[op]

    def ordered(event: Event) -> bool:
        value = field(event)
        if not _is_number(value):
            raise ConditionError(
                f"{text}: {op} needs a number, but {path!r} is a {_type_name(value)}"
            )
        return compare(value, literal)  # int with int stays exact; Python mixes int/float safely

    return ordered


def _needs_changes(event: Event, name: str, path: str) -> bool:
    """Whether change tracking is available; raises when an UPDATE lacks it (the original's
    #845): silently answering false would hide a misconfigured producer."""
    if event.changes is not None:
        return True
    if event.event_type is EventKind.UPDATE:
        raise ConditionError(
            f"{name}({path!r}): the UPDATE event carries no changes (no pre-image recorded)"
        )
    return False


def _unary_function(name: str, path: str) -> _Eval:
    if name == "has_field":
        return lambda e: lookup(e.data, path) is not MISSING
    return lambda e: _needs_changes(e, name, path) and e.field_changed(path)


def _binary_function(name: str, path: str, literal: Any) -> _Eval:
    if name == "field_changed_to":
        return lambda e: _needs_changes(e, name, path) and e.field_changed_to(path, literal)
    return lambda e: _needs_changes(e, name, path) and e.field_changed_from(path, literal)
