"""Lucene's regular-expression parser (org.apache.lucene.util.automaton.RegExp, the parse*
methods of Lucene 9/10, with every optional syntax flag on as Elasticsearch's query_string and
regexp queries have by default), ported to read an expression exactly as Elasticsearch does and
give back an equivalent Python expression for ``re.fullmatch(..., re.DOTALL)``.

It follows the Java code step by step, including what makes it unlike RE2: ``^`` and ``$`` are
ordinary characters, a ``|`` or ``)`` where an expression should start is a literal character,
``[a-]`` is a range ending at ``]``, ``"..."`` is a literal string, and ``@ # ~ & <`` are
operators. The optional operators (complement, intersection, empty language, any string,
automata, intervals) raise :class:`Unsupported`: the exports must never produce them.
"""

from __future__ import annotations

import re


class LuceneSyntaxError(ValueError):
    """What Lucene's parser throws (IllegalArgumentException): the query is rejected."""


class Unsupported(ValueError):
    """An optional Lucene operator: a reserved character the export left unescaped."""


_PRE = {
    "d": "[0-9]",
    "D": "[^0-9]",
    "s": "[ \\t\\n\\r]",
    "S": "[^ \\t\\n\\r]",
    "w": "[a-zA-Z_0-9]",
    "W": "[^a-zA-Z_0-9]",
}
_PRE_IN_CLASS = {"d": "0-9", "s": " \\t\\n\\r", "w": "a-zA-Z_0-9"}


def _char(c: str) -> str:
    return re.escape(c)


class _Parser:
    def __init__(self, s: str) -> None:
        self.s, self.pos = s, 0

    def more(self) -> bool:
        return self.pos < len(self.s)

    def peek(self, chars: str) -> bool:
        return self.more() and self.s[self.pos] in chars

    def match(self, c: str) -> bool:
        if self.more() and self.s[self.pos] == c:
            self.pos += 1
            return True
        return False

    def next(self) -> str:
        if not self.more():
            raise LuceneSyntaxError("unexpected end-of-string")
        self.pos += 1
        return self.s[self.pos - 1]

    def union(self) -> str:
        e = self.inter()
        if self.match("|"):
            return f"(?:{e}|{self.union()})"
        return e

    def inter(self) -> str:
        e = self.concat()
        if self.match("&"):
            raise Unsupported(f"intersection '&' at {self.pos - 1}")
        return e

    def concat(self) -> str:
        e = self.repeat()
        if self.more() and not self.peek(")|") and not self.peek("&"):
            e += self.concat()
        return e

    def repeat(self) -> str:
        e = self.compl()
        while self.peek("?*+{"):
            if self.match("?"):
                e = f"(?:{e})?"
            elif self.match("*"):
                e = f"(?:{e})*"
            elif self.match("+"):
                e = f"(?:{e})+"
            elif self.match("{"):
                start = self.pos
                while self.peek("0123456789"):
                    self.next()
                if start == self.pos:
                    raise LuceneSyntaxError(f"integer expected at position {self.pos}")
                n = self.s[start : self.pos]
                m = n
                if self.match(","):
                    start = self.pos
                    while self.peek("0123456789"):
                        self.next()
                    m = self.s[start : self.pos]
                    m = "," + m
                else:
                    m = ""
                if not self.match("}"):
                    raise LuceneSyntaxError(f"expected '}}' at position {self.pos}")
                e = f"(?:{e}){{{n}{m}}}"
        return e

    def compl(self) -> str:
        if self.match("~"):
            raise Unsupported(f"complement '~' at {self.pos - 1}")
        return self.char_class_exp()

    def char_class_exp(self) -> str:
        if self.match("["):
            negate = self.match("^")
            items = self.char_classes()
            if not self.match("]"):
                raise LuceneSyntaxError(f"expected ']' at position {self.pos}")
            return f"[{'^' if negate else ''}{items}]"
        return self.simple()

    def char_classes(self) -> str:
        out = self.char_class()
        while self.more() and not self.peek("]"):
            out += self.char_class()
        return out

    def char_class(self) -> str:
        pre = self.predefined()
        if pre is not None:
            if pre.startswith("\\"):
                return "\\\\"
            if pre not in _PRE_IN_CLASS:
                raise Unsupported(f"negated class \\{pre} inside a class")
            return _PRE_IN_CLASS[pre]
        c = self.char_exp()
        if self.match("-"):
            d = self.char_exp()
            if ord(c) > ord(d):
                raise LuceneSyntaxError(f"invalid range: from ({c!r}) cannot be > to ({d!r})")
            return f"{_char(c)}-{_char(d)}"
        return _char(c)

    def predefined(self) -> str | None:
        """A predefined class letter, an escaped backslash, or None (nothing consumed)."""
        if self.match("\\"):
            if self.peek("dDwWsS"):
                return self.next()
            if self.peek("\\"):
                return "\\" + self.next()
            if self.peek("abcefghijklmnopqrtuvxyzABCEFGHIJKLMNOPQRTUVXYZ"):
                raise LuceneSyntaxError(f"invalid character class \\{self.next()}")
            self.pos -= 1  # parseCharExp reads the escape again
        return None

    def simple(self) -> str:
        if self.match("."):
            return "."
        if self.match("#"):
            raise Unsupported(f"empty language '#' at {self.pos - 1}")
        if self.match("@"):
            raise Unsupported(f"any string '@' at {self.pos - 1}")
        if self.match('"'):
            start = self.pos
            while self.more() and not self.peek('"'):
                self.next()
            if not self.match('"'):
                raise LuceneSyntaxError(f"expected '\"' at position {self.pos}")
            return re.escape(self.s[start : self.pos - 1])
        if self.match("("):
            if self.match(")"):
                return "(?:)"
            e = self.union()
            if not self.match(")"):
                raise LuceneSyntaxError(f"expected ')' at position {self.pos}")
            return f"(?:{e})"
        if self.match("<"):
            raise Unsupported(f"automaton or interval '<' at {self.pos - 1}")
        pre = self.predefined()
        if pre is not None:
            return _PRE[pre] if pre in _PRE else re.escape(pre[-1])
        return _char(self.char_exp())

    def char_exp(self) -> str:
        self.match("\\")
        return self.next()


def to_python(lucene: str) -> str:
    """The Python expression (for ``re.fullmatch`` with DOTALL) that matches what ``lucene``
    matches in Elasticsearch; :class:`LuceneSyntaxError` where Lucene rejects it."""
    if not lucene:
        return ""
    p = _Parser(lucene)
    out = p.union()
    if p.more():
        raise LuceneSyntaxError(f"end-of-string expected at position {p.pos}")
    return out
