"""Whether a string passed to a call looks like a shell command or Python source: what turns
a call of an unknown callable into a gadget call (critical) rather than an unexplained one
(high). Heuristic by design; it only ever raises severity."""

from __future__ import annotations

import itertools
import re
from typing import Any

__all__ = ["command_like", "method_names", "strings"]

_PROGRAMS = (
    r"sh|bash|zsh|dash|ksh|csh|fish|busybox|cmd(?:\.exe)?|powershell(?:\.exe)?|pwsh|"
    r"curl|wget|nc|ncat|netcat|socat|telnet|ssh|scp|rsync|ftp|tftp|"
    r"python[0-9.]*|perl|ruby|php|node|lua|java|"
    r"rm|mv|cp|dd|chmod|chown|touch|mkdir|mkfifo|ln|tee|cat|echo|printf|base64|xxd|"
    r"id|whoami|uname|hostname|env|sudo|su|kill|pkill|crontab|nohup|"
    r"ls|ping|nslookup|dig|ifconfig|certutil|bitsadmin|mshta|rundll32|regsvr32|"
    r"wmic|schtasks|systemctl|apt-get|yum|pip[0-9.]*|npm|git"
)
_COMMAND = re.compile(
    rf"""(?ix)
    ^\s*(?:[\w./-]*/)?(?:{_PROGRAMS})(?:\s|$)      # a program name, bare or with a path
    | (?:;|&&|\|\||\||`|\$\(|>\s*/|<\s*/)\s*\S     # shell operators followed by more
    | /(?:bin|usr/bin|usr/local/bin|tmp|dev/tcp|etc/passwd|etc/shadow)\b
    | \b(?:import\s+\w|__import__|exec\s*\(|eval\s*\(|compile\s*\(|os\.|subprocess\b|
        socket\.|getattr\s*\(|globals\s*\(|__builtins__|__subclasses__|lambda\b)
    | \b(?:https?|ftp|file)://
    """
)


def command_like(text: str) -> bool:
    """Whether ``text`` reads as a shell command line or Python code."""
    return bool(_COMMAND.search(text[:4096]))


def strings(value: Any, limit: int = 256) -> list[str]:
    """The strings inside a call's arguments (tuples, lists, dict values): the first
    ``limit``, at most 4 levels down (shared values make a small stream a huge tree)."""
    out: list[str] = []
    _strings(value, 0, out, limit)
    return out


def _strings(value: Any, depth: int, out: list[str], limit: int) -> None:
    if depth > 4 or len(out) >= limit:
        return
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, bytes):
        out.append(value.decode("latin-1"))
    elif isinstance(value, tuple | list | dict):
        for v in itertools.islice(value.values() if isinstance(value, dict) else value, 32):
            _strings(v, depth + 1, out, limit)


def method_names(value: Any) -> list[str]:
    """The method names a dispatching method takes as its first argument: a name, a list of
    names, or a dict of names (or lists of names) by column; every one, however many."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list | tuple):
        out: list[str] = []
        for v in value:
            if isinstance(v, str):
                out.append(v)
            elif isinstance(v, list | tuple):
                out += [x for x in v if isinstance(x, str)]
        return out
    return []
