"""Personal data: Spanish DNI, NIE and CIF, IBANs, payment cards, telephone numbers and
e-mail addresses.

Every identifier with a check digit is reported only when the check holds, validated by
python-stdnum (LGPL-2.1+, imported unmodified as a library: the licence lets an
Apache-2.0 program use it so). A number one digit off (a typo, an invoice number that
looks like a card) is not reported.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from stdnum import iban as stdnum_iban
from stdnum import luhn
from stdnum.es import cif as stdnum_cif
from stdnum.es import dni as stdnum_dni
from stdnum.es import nie as stdnum_nie

from sabio.review.findings import Severity
from sabio.review.secrets import Hit

_EDGE_L = r"(?<![A-Za-z0-9])"
_EDGE_R = r"(?![A-Za-z0-9])"
_DNI = re.compile(rf"{_EDGE_L}(\d{{8}})[ -]?([A-Za-z]){_EDGE_R}")
_NIE = re.compile(rf"{_EDGE_L}([XYZxyz])[ -]?(\d{{7}})[ -]?([A-Za-z]){_EDGE_R}")
_CIF = re.compile(rf"{_EDGE_L}([ABCDEFGHJNPQRSUVW])[ -]?(\d{{7}})[ -]?([0-9A-J]){_EDGE_R}")
_IBAN = re.compile(rf"{_EDGE_L}([A-Z]{{2}}\d{{2}}(?:[ ]?[A-Z0-9]){{11,30}})")
_CARD = re.compile(r"(?<![\d.,-])((?:\d[ -]?){12,18}\d)(?![\d.,]\d)")
_PHONE_ES = re.compile(
    r"(?<![\d+\w.,/=_])((?:(?:\+|00)34[ -]?)?[6789]\d{2}(?:[ -]?\d{2,3}){2,3})(?![\d\w/]|[.,]\d)"
)
_PHONE_INTL = re.compile(
    r"(?<![\d\w])(\+(?!34)[1-9]\d{0,2}[ .-]?(?:\(\d{1,4}\)[ .-]?)?(?:\d[ .-]?){6,13}\d)(?!\d)"
)
_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+-])([A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*\.[A-Za-z]{2,24})"
    r"(?![A-Za-z0-9-])"
)
_CARD_BRANDS = (
    ("American Express", re.compile(r"^3[47]\d{13}$")),
    ("Visa", re.compile(r"^4\d{12}(?:\d{3}){0,2}$")),
    ("Mastercard", re.compile(r"^(?:5[1-5]\d{14}|2(?:2[2-9]|[3-6]\d|7[01])\d{13}|2720\d{12})$")),
    ("Discover", re.compile(r"^6(?:011|5\d\d)\d{12,15}$")),
    ("JCB", re.compile(r"^35(?:2[89]|[3-8]\d)\d{12,15}$")),
    ("Diners Club", re.compile(r"^3(?:0[0-5]|[68]\d)\d{11,16}$")),
)


# Where numbers are: every identifier but an IBAN (whose letters may come first) lies in
# such a run, give or take its letters; the exact patterns are tried only there.
_NUMBER_RUN = re.compile(r"\d[\d .()/-]{5,60}\d")
_MARGIN = 4


def _number_regions(text: str) -> list[tuple[int, int]]:
    regions: list[tuple[int, int]] = []
    for match in _NUMBER_RUN.finditer(text):
        start, end = max(0, match.start() - _MARGIN), match.end() + _MARGIN
        if regions and start <= regions[-1][1]:
            regions[-1] = (regions[-1][0], end)
        else:
            regions.append((start, end))
    return regions


def _within(
    pattern: re.Pattern[str], text: str, regions: list[tuple[int, int]]
) -> Iterator[re.Match[str]]:
    for start, end in regions:
        yield from pattern.finditer(text, start, end)


def find_identifiers(text: str) -> Iterator[Hit]:
    regions = _number_regions(text)
    yield from _spanish_ids(text, regions)
    yield from _ibans(text)
    yield from _cards(text, regions)
    yield from _phones(text, regions)
    for match in _EMAIL.finditer(text):
        yield Hit("email", Severity.LOW, match.start(1), match.end(1), match.group(1))


def _spanish_ids(text: str, regions: list[tuple[int, int]]) -> Iterator[Hit]:
    for match in _within(_DNI, text, regions):
        if stdnum_dni.is_valid(match.group(1) + match.group(2).upper()):
            yield Hit("dni", Severity.MEDIUM, match.start(), match.end(), match.group(0))
    for match in _within(_NIE, text, regions):
        if stdnum_nie.is_valid("".join(match.groups()).upper()):
            yield Hit("nie", Severity.MEDIUM, match.start(), match.end(), match.group(0))
    for match in _within(_CIF, text, regions):
        if stdnum_cif.is_valid("".join(match.groups())):
            yield Hit("cif", Severity.LOW, match.start(), match.end(), match.group(0))


def _ibans(text: str) -> Iterator[Hit]:
    """The longest prefix of each candidate that is a valid IBAN (the pattern may run into
    the next word or number)."""
    for match in _IBAN.finditer(text):
        candidate = match.group(1)
        for end in range(len(candidate), 14, -1):
            value = candidate[:end].rstrip()
            if stdnum_iban.is_valid(value):
                start = match.start(1)
                yield Hit(
                    "iban",
                    Severity.MEDIUM,
                    start,
                    start + len(value),
                    value,
                    {"country": value[:2]},
                )
                break


def _cards(text: str, regions: list[tuple[int, int]]) -> Iterator[Hit]:
    for match in _within(_CARD, text, regions):
        raw = match.group(1)
        digits = re.sub(r"[ -]", "", raw)
        brand = next((name for name, p in _CARD_BRANDS if p.match(digits)), None)
        if brand is None or not _card_grouping(raw) or not luhn.is_valid(digits):
            continue
        yield Hit("card", Severity.HIGH, match.start(1), match.end(1), raw, {"brand": brand})


def _card_grouping(raw: str) -> bool:
    """Written as one run of digits, or in groups of 4 (Amex: 4-6-5; 4-6-4 for Diners)."""
    groups = re.split(r"[ -]", raw)
    if len(groups) == 1:
        return True
    sizes = [len(g) for g in groups]
    return sizes[:-1] == [4] * (len(sizes) - 1) or sizes in ([4, 6, 5], [4, 6, 4])


_PHONE_WORDS = re.compile(
    r"(?i)tel[eé]?f?|tfno|m[oó]vil|mobile|phone|fax|ll[aá]m|whats|contact|cell|sms"
)
_PREFIX_34 = re.compile(r"^(?:\+|00)34[ -]?")


def _spanish_phone(text: str, match: re.Match[str]) -> bool:
    """Nine digits grouped as people write a phone (3-3-3, 3-2-2-2), or after +34; nine
    digits in a row only next to a word that says it is a phone (an id, a tax number and
    a date range are also nine digits)."""
    raw = match.group(1)
    prefixed = _PREFIX_34.match(raw)
    national = raw[prefixed.end() :] if prefixed else raw
    groups = [len(g) for g in re.split(r"[ -]", national)]
    if sum(groups) != 9:
        return False
    if groups in ([3, 3, 3], [3, 2, 2, 2]):
        return True
    if groups == [9]:
        return bool(prefixed) or bool(
            _PHONE_WORDS.search(text, max(0, match.start() - 30), match.start())
        )
    return False


def _phones(text: str, regions: list[tuple[int, int]]) -> Iterator[Hit]:
    for pattern, national in ((_PHONE_ES, True), (_PHONE_INTL, False)):
        for match in _within(pattern, text, regions):
            digits = re.sub(r"\D", "", match.group(1))
            if national and not _spanish_phone(text, match):
                continue
            if not national and not 8 <= len(digits) <= 15:
                continue
            yield Hit("phone", Severity.LOW, match.start(1), match.end(1), match.group(1))
