"""Credentials in text: private keys, cloud and service API keys, tokens, passwords
written next to their label, addresses with a password in them.

Each rule is a pattern of a known key format (the formats the providers document, as
gitleaks and detect-secrets list them) or a label followed by a value. A value that is a
placeholder (``<password>``, ``********``, ``${DB_PASS}``, ``changeme``) is not reported.
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
    service: str
    pattern: re.Pattern[str]
    kind: str = "api_key"


_KEY_RULES = (
    _KeyRule("AWS", re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA)[0-9A-Z]{16}\b")),
    _KeyRule(
        "AWS",
        re.compile(
            r"(?i)aws_?secret_?(?:access_?)?key[\"']?\s*[:=]\s*[\"']?([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])"
        ),
    ),
    _KeyRule("GitHub", re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36}\b")),
    _KeyRule("GitHub", re.compile(r"\bgithub_pat_[A-Za-z0-9_]{60,90}\b")),
    _KeyRule("GitLab", re.compile(r"\bglpat-[A-Za-z0-9_-]{20}\b")),
    _KeyRule("Slack", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,72}\b")),
    _KeyRule("Stripe", re.compile(r"\b[sr]k_live_[A-Za-z0-9]{24,99}\b")),
    _KeyRule("Google", re.compile(r"\bAIza[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])")),
    _KeyRule(
        "OpenAI", re.compile(r"\bsk-(?:proj-|svcacct-)?[A-Za-z0-9_-]{40,160}(?![A-Za-z0-9_-])")
    ),
    _KeyRule("Anthropic", re.compile(r"\bsk-ant-[A-Za-z0-9_-]{80,120}(?![A-Za-z0-9_-])")),
    _KeyRule("Hugging Face", re.compile(r"\bhf_[A-Za-z0-9]{34}\b")),
    _KeyRule(
        "SendGrid", re.compile(r"\bSG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])")
    ),
    _KeyRule("Twilio", re.compile(r"\bSK[0-9a-f]{32}\b")),
    _KeyRule("Telegram", re.compile(r"\b\d{8,10}:AA[A-Za-z0-9_-]{33}(?![A-Za-z0-9_-])")),
    _KeyRule(
        "JWT",
        re.compile(
            r"\beyJ[A-Za-z0-9_-]{10,2000}\.eyJ[A-Za-z0-9_-]{10,4000}\.[A-Za-z0-9_-]{10,1000}"
        ),
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
_PASSWORD = re.compile(
    rf"(?i)(?<![A-Za-z0-9])([A-Z0-9_]{{0,30}}(?:{_LABELS}))[\"']?[ \t]*(?:[:=]|=>|\|)[ \t]*"
    r"[\"']?([^\s\"'<>|,;]{4,128})"
)
_CONNECTION = re.compile(
    r"\b([a-z][a-z0-9+.-]{1,20})://([^\s:/@<>\"']{1,64}):([^\s/@<>\"']{3,128})@[A-Za-z0-9.-]+"
)
_PLACEHOLDER = re.compile(
    r"(?i)^(?:\*+|x+|\.+|-+|_+|#+|\?+|<.*>|\[.*\]|\{.*\}|\$\{?.*\}?|%.*%|none|null|true|false"
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
    yield from _private_keys(text)
    for rule in _KEY_RULES:
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
    yield from _connection_strings(text)
    yield from _passwords(text)


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


def _passwords(text: str) -> Iterator[Hit]:
    for match in _PASSWORD.finditer(text):
        value = match.group(2).rstrip(".")
        if _is_placeholder(value) or value.lower() in _PROSE or len(value) < 4:
            continue
        label = match.group(1)
        if label.lower() == "pin" and not value.isdigit():
            continue
        if "://" in value:  # a URL after "token:" is not the token
            continue
        yield Hit(
            "password",
            Severity.HIGH,
            match.start(2),
            match.start(2) + len(value),
            value,
            {"label": label},
        )


def _is_placeholder(value: str) -> bool:
    return bool(_PLACEHOLDER.match(value)) or len(set(value)) <= 2
