"""Signs of phishing and fraud in one mail message.

Each sign is deterministic and explained: a sender's name that shows another address or
a brand it is not, replies sent to another domain, links whose text names another site
than the one they open, domains that imitate a known one (look-alike characters, one or
two letters changed, a brand's name inside another domain), urgent wording about
payments, bank details or passwords (Spanish and English), and attachments that are
programs, hide one behind a document's name, or can run macros. Strong signs weigh 2,
weak ones 1; a message that adds up to :data:`SUSPICIOUS_AT` is reported as suspicious.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from email.errors import HeaderParseError
from email.header import decode_header, make_header
from email.message import Message
from email.utils import getaddresses
from html import unescape
from urllib.parse import urlsplit

from sabio.review.files import content_risk, name_risk, suffixes
from sabio.review.findings import Severity

SUSPICIOUS_AT = 2

# Brands most often imitated in Spain and elsewhere, with the domains they really use.
BRANDS: dict[str, tuple[str, ...]] = {
    "paypal": ("paypal.com", "paypal.es"),
    "bbva": ("bbva.es", "bbva.com", "bbva.mx"),
    "santander": ("santander.es", "bancosantander.es", "santander.com"),
    "caixabank": ("caixabank.es", "caixabank.com"),
    "bankinter": ("bankinter.com", "bankinter.es"),
    "sabadell": ("bancsabadell.com", "sabadell.com"),
    "ing": ("ing.es", "ing.com"),
    "unicaja": ("unicajabanco.es",),
    "correos": ("correos.es", "correos.com"),
    "hacienda": ("agenciatributaria.gob.es", "agenciatributaria.es"),
    "agenciatributaria": ("agenciatributaria.gob.es", "agenciatributaria.es"),
    "microsoft": ("microsoft.com", "office.com", "outlook.com", "live.com", "microsoftonline.com"),
    "office365": ("microsoft.com", "office.com", "office365.com"),
    "outlook": ("outlook.com", "microsoft.com", "live.com"),
    "apple": ("apple.com", "icloud.com"),
    "icloud": ("icloud.com", "apple.com"),
    "google": ("google.com", "gmail.com", "google.es"),
    "amazon": ("amazon.com", "amazon.es", "amazonses.com"),
    "netflix": ("netflix.com",),
    "dhl": ("dhl.com", "dhl.es"),
    "docusign": ("docusign.com", "docusign.net"),
    "dropbox": ("dropbox.com",),
    "endesa": ("endesa.com", "endesa.es"),
    "iberdrola": ("iberdrola.es", "iberdrola.com"),
}
_KNOWN = frozenset(d for domains in BRANDS.values() for d in domains)

# Look-alike characters mapped to the ASCII letter they imitate (Cyrillic, Greek, digits).
_CONFUSABLE = str.maketrans(
    "\u0430\u0435\u043e\u0440\u0441\u0445\u0443\u0456\u0458\u0455\u04bb\u0501\u0261\u04cf\u0578\u03bd"
    "\u03bf\u03b1\u03c1\u03c4\u03b9\u03ba01",
    "aeopcxyijshdglnvoaptikol",
)
_SECOND_LEVEL = frozenset("co com org net gob gov ac edu nom".split())
_DOMAIN_IN_TEXT = re.compile(
    r"(?i)(?:https?://)?((?:[a-z0-9\u00a1-\uffff-]+\.)+[a-z\u00a1-\uffff]{2,24})(?![a-z0-9.-])"
)
_ARCHIVE = frozenset(".zip .rar .7z .gz .tgz .cab .ace .arj .htm .html .shtml".split())


@dataclass(frozen=True, slots=True)
class Sign:
    """One sign in a message. ``needle`` is text of the message to point at (an address,
    a link's text, a word) when the finding is placed in the document."""

    kind: str
    severity: Severity
    weight: int
    needle: str
    details: dict[str, str] = field(default_factory=dict)


def registrable(domain: str) -> str:
    """``mail.bbva.com.mx`` -> ``bbva.com.mx``; ``login.paypal.com`` -> ``paypal.com``
    (a short rule, not the public suffix list: enough to compare two domains)."""
    labels = domain.lower().strip(".").split(".")
    if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVEL:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


def sender_domain(message: Message) -> str:
    address = _addresses(message, "From")
    return registrable(address[0][1].rpartition("@")[2]) if address and "@" in address[0][1] else ""


def mail_signs(
    message: Message, body: str, known: Iterable[str] = (), sender: str | None = None
) -> list[Sign]:
    """Every sign in ``message``; ``body`` is its text as read (the loader's), ``known``
    the registrable domains seen as senders in the same mailbox (look-alikes of them
    count)."""
    known_domains = _KNOWN | frozenset(known)
    signs = [*_sender_signs(message, known_domains)]
    sender = sender_domain(message) if sender is None else sender
    signs.extend(_link_signs(message, known_domains, sender))
    signs.extend(_wording_signs(body))
    signs.extend(_attachment_signs(message))
    return signs


def verdict(signs: list[Sign]) -> int:
    """The message's score: the weights of its signs, each kind counted once."""
    return sum(max(s.weight for s in signs if s.kind == kind) for kind in {s.kind for s in signs})


# --- the sender -------------------------------------------------------------------------


def _addresses(message: Message, name: str) -> list[tuple[str, str]]:
    """(display name, address) of a header; names' encoded words decoded (the messages
    are parsed with the fast compat32 policy, which leaves them as written)."""
    try:
        values = [decoded(str(v)) for v in message.get_all(name, [])]
    except (ValueError, TypeError, IndexError, AttributeError):
        return []
    return [(n.strip(), a.strip().lower()) for n, a in getaddresses(values) if a]


def decoded(text: str) -> str:
    """A header's encoded words (RFC 2047) as text."""
    if "=?" not in text:
        return text
    try:
        return str(make_header(decode_header(text)))
    except (LookupError, UnicodeError, ValueError, HeaderParseError):
        return text


def _sender_signs(message: Message, known: frozenset[str]) -> Iterator[Sign]:
    senders = _addresses(message, "From")
    if not senders or "@" not in senders[0][1]:
        return
    name, address = senders[0]
    domain = address.rpartition("@")[2]
    actual = registrable(domain)
    shown = _domain_shown(name)
    if shown and registrable(shown) != actual:
        yield Sign(
            "display_name_mismatch", Severity.HIGH, 2, address, {"shown": shown, "actual": address}
        )
    elif (brand := _brand_named(name)) and actual not in BRANDS[brand]:
        yield Sign(
            "display_name_mismatch", Severity.HIGH, 2, address, {"shown": name, "actual": address}
        )
    replies = _addresses(message, "Reply-To")
    if replies and "@" in replies[0][1]:
        reply_domain = registrable(replies[0][1].rpartition("@")[2])
        if reply_domain != actual:
            yield Sign(
                "reply_to_mismatch",
                Severity.MEDIUM,
                1,
                address,
                {"reply_to": replies[0][1], "actual": actual},
            )
    yield from _spoofed(message, actual, address)
    yield from _lookalike(domain, known, address)


_AUTH_FAILED = re.compile(r"(?i)\b(?:dmarc|spf)=(?:fail|softfail)\b")


def _spoofed(message: Message, actual: str, address: str) -> Iterator[Sign]:
    """The receiving server saw SPF or DMARC fail, or a brand's address was sent by a
    server of another domain (its Return-Path)."""
    results = " ".join(str(v) for v in message.get_all("Authentication-Results", []))
    if _AUTH_FAILED.search(results):
        yield Sign(
            "sender_spoofed",
            Severity.HIGH,
            2,
            address,
            {"actual": address, "sent_by": "SPF/DMARC fail"},
        )
        return
    returns = _addresses(message, "Return-Path")
    if not returns or "@" not in returns[0][1] or actual not in _KNOWN:
        return
    sent_by = registrable(returns[0][1].rpartition("@")[2])
    if sent_by != actual:
        yield Sign(
            "sender_spoofed", Severity.HIGH, 2, address, {"actual": address, "sent_by": sent_by}
        )


def _domain_shown(name: str) -> str:
    """A domain the display name shows ("paypal.com", "service@paypal.com")."""
    match = _DOMAIN_IN_TEXT.search(name.rpartition("@")[2] if "@" in name else name)
    if match is None:
        return ""
    candidate = match.group(1).lower()
    return candidate if "." in candidate and not candidate.replace(".", "").isdigit() else ""


def _brand_named(text: str) -> str | None:
    words = set(re.findall(r"[a-z0-9]+", _skeleton(text)))
    return next((brand for brand in BRANDS if len(brand) > 3 and brand in words), None)


# --- domains -----------------------------------------------------------------------------


def _skeleton(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text.lower())
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch))
    return folded.translate(_CONFUSABLE).replace("rn", "m").replace("vv", "w")


def _decode_idna(domain: str) -> str:
    try:
        return domain.encode("ascii").decode("idna") if "xn--" in domain else domain
    except UnicodeError:
        return domain


def _lookalike(domain: str, known: frozenset[str], needle: str) -> Iterator[Sign]:
    shown = _decode_idna(domain.lower())
    actual = registrable(shown)
    if actual in known:
        return
    skeleton = registrable(_skeleton(shown))
    if skeleton != actual and skeleton in known:
        yield Sign(
            "lookalike_domain",
            Severity.HIGH,
            2,
            needle,
            {"domain": shown, "imitates": skeleton, "how": "confusable"},
        )
        return
    name = actual.split(".")[0]
    for other in sorted(known):
        other_name = other.split(".")[0]
        if len(other_name) >= 5 and name != other_name and _is_typo(name, other_name):
            yield Sign(
                "lookalike_domain",
                Severity.HIGH,
                2,
                needle,
                {"domain": shown, "imitates": other, "how": "typo"},
            )
            return
    labels = re.split(r"[.-]", shown)
    brand = next((b for b in BRANDS if len(b) > 3 and b in labels), None)
    if brand is not None:
        yield Sign(
            "lookalike_domain",
            Severity.HIGH,
            2,
            needle,
            {"domain": shown, "imitates": BRANDS[brand][0], "how": "brand"},
        )


@functools.lru_cache(maxsize=65_536)
def _is_typo(name: str, other: str) -> bool:
    """``name`` is ``other`` with one letter changed (two for names of 8 or more)."""
    if abs(len(name) - len(other)) > 2 or len(set(name) ^ set(other)) > 4:
        return False
    return _distance(name, other) <= (1 if len(other) < 8 else 2)


def _distance(a: str, b: str) -> int:
    """Damerau-Levenshtein (optimal string alignment) distance, stopping early past 2."""
    if abs(len(a) - len(b)) > 2:
        return 3
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            cost = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cost = min(cost, previous2[j - 2] + 1)
            current.append(cost)
        previous2, previous = previous, current
    return previous[-1]


# --- links -------------------------------------------------------------------------------


_ANCHOR = re.compile(
    r"""(?is)<a\s[^>]{0,2000}?href\s*=\s*["']?([^"'\s>]{1,2000})[^>]{0,2000}>(.{0,1000}?)</a\s*>"""
)
_TAG = re.compile(r"<[^>]{0,2000}>")


def links_of(message: Message) -> list[tuple[str, str]]:
    """(href, text) of every link in the message's HTML parts."""
    links: list[tuple[str, str]] = []
    for part in message.walk():
        if part.get_content_type() != "text/html" or part.get_filename():
            continue
        html = _part_text(part)
        if html:
            for match in _ANCHOR.finditer(html[:2_000_000]):
                text = " ".join(unescape(_TAG.sub(" ", match.group(2))).split())
                links.append((unescape(match.group(1)), text))
    return links


def _part_text(part: Message) -> str:
    from sabio.loaders.mail import part_text

    return part_text(part)


def _host(url: str) -> str:
    try:
        return (urlsplit(url.strip()).hostname or "").lower()
    except ValueError:
        return ""


def _link_signs(message: Message, known: frozenset[str], sender: str) -> Iterator[Sign]:
    """Links whose text names another site than they open. A mailing's links to its own
    sender's site through a tracking server weigh 1 (not a brand's site); any other
    mismatch weighs 2."""
    seen: set[str] = set()
    for href, text in links_of(message):
        target = _host(href)
        if not target or not href.lower().startswith(("http://", "https://")):
            continue
        shown_match = _DOMAIN_IN_TEXT.fullmatch(text.strip().rstrip("/")) or _DOMAIN_IN_TEXT.match(
            text.strip()
        )
        shown = _host("http://" + shown_match.group(1)) if shown_match else ""
        if (
            shown
            and "." in shown
            and registrable(shown) != registrable(target)
            and target not in seen
        ):
            seen.add(target)
            # a mailing's tracking link to its sender's own site, unless that site is a
            # brand's: their look is what a forged sender copies
            own = registrable(shown) == sender and registrable(shown) not in _KNOWN
            yield Sign(
                "link_mismatch",
                Severity.MEDIUM if own else Severity.HIGH,
                1 if own else 2,
                text,
                {"shown": shown, "actual": target},
            )
        elif re.fullmatch(r"[\d.]+", target) and target not in seen:
            seen.add(target)
            yield Sign(
                "link_mismatch",
                Severity.HIGH,
                2,
                text or href,
                {"shown": text or href, "actual": target},
            )
        if target not in seen:
            for sign in _lookalike(target, known, text or target):
                seen.add(target)
                yield sign


# --- wording -----------------------------------------------------------------------------

_URGENT = re.compile(
    r"(?i)\b(urgente?|urgentemente|inmediat[ao]|inmediatamente|hoy mismo|cuanto antes|"
    r"(?:en|within) (?:las )?(?:24|48|72) (?:horas|hours)|último aviso|ultimo aviso|"
    r"urgent(?:ly)?|immediately|as soon as possible|asap|final notice|today|right away|"
    r"será (?:suspendid|bloquead|cancelad)\w*|will be (?:suspended|closed|locked|deleted))\b"
)
_PAYMENT = re.compile(
    r"(?i)\b(transferencia|pago pendiente|realizar el pago|factura (?:pendiente|vencida)|"
    r"nuevos? (?:datos|número|numero|cuenta)s? (?:bancari\w+|de cuenta)|cambio de (?:cuenta|"
    r"iban|datos bancarios)|"
    r"hemos cambiado (?:de|nuestra) (?:banco|cuenta)|wire transfer|bank transfer|"
    r"payment (?:is )?(?:overdue|due|pending)|"
    r"outstanding invoice|new bank (?:details|account)|changed? (?:of |our )?bank (?:details|"
    r"account)|"
    r"updated? (?:our |the )?(?:bank|payment) details|gift cards?|tarjetas? regalo)\b"
)
_CREDENTIALS = re.compile(
    r"(?i)\b(verifi(?:que|ca|car) (?:su|tu) (?:cuenta|identidad|contraseña)|confirm[ae]r? (?:su|"
    r"tu)s? (?:datos|contraseña|cuenta)|"
    r"(?:su|tu) cuenta (?:ha sido|será|está) (?:suspendida|bloqueada|limitada)|"
    r"actividad (?:inusual|sospechosa)|"
    r"inici[ae] sesión|actualic?[ae] (?:su|tus?) (?:datos|información)|"
    r"verify your (?:account|identity|password)|confirm your (?:account|password|details|identity)|"
    r"your account (?:has been|will be|is) (?:suspended|locked|limited|disabled)|"
    r"unusual (?:activity|sign-in)|"
    r"log ?in to (?:verify|confirm|restore)|update your (?:payment|billing|account) (?:details|"
    r"information)|"
    r"password (?:expires|has expired)|contraseña (?:caduca|ha caducado))\b"
)


def _wording_signs(body: str) -> Iterator[Sign]:
    text = body[:200_000]
    urgent = _URGENT.search(text)
    for topic, pattern in (("payment", _PAYMENT), ("credentials", _CREDENTIALS)):
        match = pattern.search(text)
        if match is None:
            continue
        strong = topic == "credentials" or bool(
            re.search(r"(?i)cuenta|account|bank|banc|iban", match.group(0))
        )
        if urgent or strong:
            words = ", ".join(dict.fromkeys(m.group(0) for m in (match, urgent) if m))
            yield Sign(
                "urgent_request",
                Severity.MEDIUM,
                1,
                match.group(0),
                {"topic": topic, "words": words},
            )
            return


# --- attachments -------------------------------------------------------------------------


def _attachment_signs(message: Message) -> Iterator[Sign]:
    for part in message.walk():
        name = part.get_filename()
        if not name:
            continue
        name = " ".join(str(name).split())
        why = _attachment_risk(name, part)
        if why is None:
            continue
        weight = 1 if why == "archive" else 2
        severity = Severity.MEDIUM if weight == 1 else Severity.HIGH
        yield Sign("dangerous_attachment", severity, weight, name, {"name": name, "why": why})


def _attachment_risk(name: str, part: Message) -> str | None:
    """The name's risk (:func:`.files.name_risk`), else what the bytes hold that the name
    does not say (macros, a renamed macro file, a program named as a document)."""
    why = name_risk(name)
    if why in ("double_extension", "executable"):
        return why
    try:
        data = part.get_payload(decode=True)
    except (ValueError, TypeError, AttributeError):
        data = None
    if isinstance(data, bytes) and (found := content_risk(name, data)):
        return found
    if why:
        return why
    found_suffixes = suffixes(name)
    return "archive" if found_suffixes and found_suffixes[-1] in _ARCHIVE else None
