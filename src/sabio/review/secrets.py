"""Credentials in text: private keys, cloud and service API keys, tokens, passwords
written next to their label, addresses with a password in them.

Each rule is a pattern of a known key format (the formats the providers document, as
gitleaks and detect-secrets list them) or a label followed by a value. A value that is a
placeholder (``<password>``, ``********``, ``${DB_PASS}``, ``changeme``) is not reported, nor
a value masked as Sabio masks one (``Tr0u****``: a secret dropped from the index).
Every pattern is linear: no nested repetition.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from sabio.review.findings import Severity


@dataclass(frozen=True, slots=True)
class Hit:
    """What a detector found: its kind, where (offsets in the text) and the raw value,
    which the caller masks at once."""

    kind: str
    severity: Severity
    start: int
    end: int
    value: str
    details: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _KeyRule:
    """``hints``: text that every match holds, in lower case; a document without any of
    them is not searched with this pattern (most documents hold no key at all)."""

    service: str
    pattern: re.Pattern[str]
    hints: tuple[str, ...]
    kind: str = "api_key"


_KEY_RULES = (
    _KeyRule(
        "AWS",
        re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA)[0-9A-Z]{16}\b"),
        ("akia", "asia", "agpa", "aida", "aroa"),
    ),
    _KeyRule(
        "AWS",
        re.compile(
            r"(?i)aws_?secret_?(?:access_?)?key[\"']?\s*[:=]\s*[\"']?([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])"
        ),
        ("aws",),
    ),
    _KeyRule(
        "GitHub",
        re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36}\b"),
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"),
    ),
    _KeyRule("GitHub", re.compile(r"\bgithub_pat_[A-Za-z0-9_]{60,90}\b"), ("github_pat_",)),
    _KeyRule("GitLab", re.compile(r"\bglpat-[A-Za-z0-9_-]{20}\b"), ("glpat-",)),
    _KeyRule("Slack", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,72}\b"), ("xox",)),
    _KeyRule("Stripe", re.compile(r"\b[sr]k_live_[A-Za-z0-9]{24,99}\b"), ("k_live_",)),
    _KeyRule("Google", re.compile(r"\bAIza[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])"), ("aiza",)),
    _KeyRule(
        "OpenAI",
        re.compile(r"\bsk-(?:proj-|svcacct-)?[A-Za-z0-9_-]{40,160}(?![A-Za-z0-9_-])"),
        ("sk-",),
    ),
    _KeyRule(
        "Anthropic", re.compile(r"\bsk-ant-[A-Za-z0-9_-]{80,120}(?![A-Za-z0-9_-])"), ("sk-ant-",)
    ),
    _KeyRule("Hugging Face", re.compile(r"\bhf_[A-Za-z0-9]{34}\b"), ("hf_",)),
    _KeyRule(
        "SendGrid",
        re.compile(r"\bSG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])"),
        ("sg.",),
    ),
    _KeyRule("Twilio", re.compile(r"\bSK[0-9a-f]{32}\b"), ("sk",)),
    _KeyRule("Telegram", re.compile(r"\b\d{8,10}:AA[A-Za-z0-9_-]{33}(?![A-Za-z0-9_-])"), (":aa",)),
    _KeyRule(
        "JWT",
        re.compile(
            r"\beyJ[A-Za-z0-9_-]{10,2000}\.eyJ[A-Za-z0-9_-]{10,4000}\.[A-Za-z0-9_-]{10,1000}"
        ),
        ("eyj",),
        kind="token",
    ),
)

_PRIVATE_KEY = re.compile(
    r"-----BEGIN ((?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY(?: BLOCK)?)-----"
)
_KEY_END = re.compile(r"-----END [A-Z ]{0,40}PRIVATE KEY(?: BLOCK)?-----")

# A label (password, contraseña, DB_PASSWORD, "pass", "pwd"...) then ":" or "=" and a value.
_LABELS = (
    r"passwords?|passwd|pwd|pass|passphrase|contraseñas?|contrasena|clave(?: de acceso)?"
    r"|secret|client_secret|api[_ -]?key|access[_ -]?token|auth[_ -]?token|pin"
)
_SEPARATOR = re.compile(r"[:=]")
_LABEL_BEFORE = re.compile(rf"(?i)(?:{_LABELS})[\"']?[ \t]*$")
# Every label holds one of these.
# Written in lower, title or upper case: an alternation of literals is searched about 8
# times faster than the same words under (?i), the review's slowest pattern before.
_LABEL_HINT = re.compile(
    "|".join(
        cased
        for word in ("pass", "pwd", "contrase", "clave", "secret", "key", "token", "pin")
        for cased in (word, word.capitalize(), word.upper())
    )
)
_VALUE = re.compile(r"[\"']?[ \t]*(?:[:=]|=>)[ \t]*[\"']?([^\s\"'<>|,;]{4,128})")
_LABEL_CELL = re.compile(rf"(?i)[A-Z0-9_ ]{{0,30}}(?:{_LABELS})s?")
_TABLE_ROW = " | "
_LABEL_PREFIX = re.compile(r"[A-Za-z0-9_]{1,30}_$")
_CONNECTION = re.compile(
    r"\b([a-z][a-z0-9+.-]{1,20})://([^\s:/@<>\"']{1,64}):([^\s/@<>\"']{3,128})@[A-Za-z0-9.-]+"
)
_PLACEHOLDER = re.compile(
    r"(?i)^(?:\*+|[^*\s]{1,4}\*{4,}|x+|\.+|-+|_+|#+|\?+|<.*>|\[.*\]|\{.*\}|\$\{?.*\}?|%.*%|none|null|true|false"
    r"|changeme|change_me|example|password|contraseña|secret|your_?\w*|tu_?\w*|required"
    r"|incorrect[ao]?|invalid[ao]?|reset|forgotten|olvidada|\d{1,3})$"
)
# Words that follow a label in prose ("password: see the manager") rather than a value.
_PROSE = frozenset(
    "see ask use the your this that with from sent will must have been is are was here "
    "ver usa usar pide pregunta la el tu su de del en por para que es fue será aquí "
    "policy política reset cambio change expired caducada caduca manager gestor".split()
)


def find_secrets(text: str) -> Iterator[Hit]:
    lowered = text.lower()
    if "private key" in lowered:
        yield from _private_keys(text)
    for rule in _KEY_RULES:
        if not any(hint in lowered for hint in rule.hints):
            continue
        for match in rule.pattern.finditer(text):
            group = 1 if rule.pattern.groups else 0
            yield Hit(
                rule.kind,
                Severity.HIGH,
                match.start(group),
                match.end(group),
                match.group(group),
                {"service": rule.service},
            )
    if "://" in text:
        yield from _connection_strings(text)
    yield from _passwords(text)
    if _TABLE_ROW in text:
        yield from _table_passwords(text)


def _private_keys(text: str) -> Iterator[Hit]:
    for match in _PRIVATE_KEY.finditer(text):
        end = _KEY_END.search(text, match.end(), match.end() + 20_000)
        stop = end.end() if end else match.end()
        yield Hit(
            "private_key",
            Severity.HIGH,
            match.start(),
            stop,
            text[match.end() : stop].strip() or match.group(0),
            {"service": match.group(1).title()},
        )


def _connection_strings(text: str) -> Iterator[Hit]:
    for match in _CONNECTION.finditer(text):
        if _is_placeholder(match.group(3)):
            continue
        yield Hit(
            "connection_string",
            Severity.HIGH,
            match.start(3),
            match.end(3),
            match.group(3),
            {"scheme": match.group(1)},
        )


def _labels(text: str) -> Iterator[tuple[int, int]]:
    """(start, end) of each label before a separator ("DB_PASSWORD" in "DB_PASSWORD=…"):
    the letters every label holds are found first, and a label looked for only before
    a separator that follows them closely (a pattern tried at every character was the
    review's slowest part)."""
    last = -1
    for hint in _LABEL_HINT.finditer(text):
        separator = _SEPARATOR.search(text, hint.end(), hint.end() + 32)
        if separator is None or separator.start() <= last:
            continue
        at = separator.start()
        last = at
        window = text[max(0, at - 32) : at]
        found = _LABEL_BEFORE.search(window)
        if found is not None:
            start = at - len(window) + found.start()
            yield start, start + len(found.group(0).rstrip("\"' \t"))


def _passwords(text: str) -> Iterator[Hit]:
    for label_start, label_end in _labels(text):
        label = _whole_label(text, label_start, label_end)
        match = _VALUE.match(text, label_end)
        if label is None or match is None:
            continue
        value = match.group(1).rstrip(".")
        if _is_placeholder(value) or value.lower() in _PROSE or len(value) < 4:
            continue
        if label.lower() == "pin" and not value.isdigit():
            continue
        if "://" in value:  # a URL after "token:" is not the token
            continue
        yield Hit(
            "password",
            Severity.HIGH,
            match.start(1),
            match.start(1) + len(value),
            value,
            {"label": label},
        )


def _table_passwords(text: str) -> Iterator[Hit]:
    """Passwords in a table (the loaders write a row as ``cell | cell``): every cell
    under a header cell that is a label ("Contraseña", "password"), and the second cell
    of a two-cell row whose first cell is one ("Password | S3cret")."""
    header: list[str] | None = None
    offset = 0
    for line in text.split("\n"):
        start, offset = offset, offset + len(line) + 1
        if _TABLE_ROW not in line:
            header = None
            continue
        cells = _cells(line, start)
        if header is None:
            header = [value for value, _ in cells]
            if len(cells) == 2 and _LABEL_CELL.fullmatch(cells[0][0]):
                yield from _cell_password(cells[1], cells[0][0])
            continue
        for i, label in enumerate(header):
            if i < len(cells) and _LABEL_CELL.fullmatch(label):
                yield from _cell_password(cells[i], label)
        if len(cells) == 2 and _LABEL_CELL.fullmatch(cells[0][0]):
            yield from _cell_password(cells[1], cells[0][0])


def _cells(line: str, start: int) -> list[tuple[str, int]]:
    """(stripped value, where it starts) of each cell of a row."""
    cells = []
    position = 0
    for raw in line.split(_TABLE_ROW):
        lead = len(raw) - len(raw.lstrip())
        cells.append((raw.strip(), start + position + lead))
        position += len(raw) + len(_TABLE_ROW)
    return cells


def _cell_password(cell: tuple[str, int], label: str) -> Iterator[Hit]:
    value, start = cell
    if len(value) < 4 or " " in value or _is_placeholder(value) or value.lower() in _PROSE:
        return
    yield Hit("password", Severity.HIGH, start, start + len(value), value, {"label": label})


def _whole_label(text: str, start: int, end: int) -> str | None:
    """The label a found word ends (``DB_PASSWORD`` for "PASSWORD"); None when the word is
    the end of another ("bypass", "spin")."""
    prefix = _LABEL_PREFIX.search(text, max(0, start - 31), start)
    if prefix is not None and prefix.end() == start:
        start = prefix.start()
    if start > 0 and text[start - 1].isalnum():
        return None
    return text[start:end]


def _is_placeholder(value: str) -> bool:
    return bool(_PLACEHOLDER.match(value)) or len(set(value)) <= 2
