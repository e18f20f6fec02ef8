"""Precision and recall of `sabio review`'s detectors, and its time per 1,000 documents.

**Planted sets.** Real documents (every file under ``shared/data/documents`` the loaders
read: PDFs, Office files, CSV, JSON, HTML, mails) get realistic values planted in their
text, each inside a sentence of the kind a person writes ("El IBAN para la devolución es
…", "AWS_SECRET_ACCESS_KEY=…"): identifiers with valid check digits (random DNI, NIE,
CIF, Spanish IBANs, Visa/Mastercard/Amex numbers), phones, e-mails, health terms
(records, diagnoses, medications in Spanish and English), and secrets in the
formats the providers document (random AWS, GitHub, Stripe, Google, Slack, OpenAI keys,
JWTs, private keys, passwords after a label, URLs with a password). **Near misses** are
planted too and count as false positives when reported: the same identifiers with one
check digit wrong, placeholder passwords (``********``, ``<password>``, ``${DB_PASS}``),
prose after a label ("password: see the manager"), words that sound medical and are not
("el cáncer de la corrupción", "baterías de litio"). A finding that the document already
had before planting is left out (it is neither planted nor a near miss; the clean
corpus's own findings are counted per kind below, to be read). detect-secrets 1.5.0 with
its default plugins is run over the same planted secrets for comparison.

**Phishing.** The real mails are labelled below, each with its reason; then real
ordinary messages are turned into phishing (one technique each: a brand's name over
another address, a link whose text shows one site and opens another, a look-alike
sender domain, a program or macro attachment behind a document's name, a bank-change or
password request with urgency and a Reply-To elsewhere), and into hard negatives (the
same messages with honest links, an ordinary invoice, a mailing list's Reply-To).

**Logs.** Fifty generated days of an SSH server's auth log: ordinary logins from an
office network with a few mistyped passwords, and 0-2 brute-force attacks each, fast or
slow; a burst must be found for each attacking address and for no other. Fifty
fortnights of 5-20 users' logins from their own networks in their own hours (some work
nights), with 0-3 planted logins each from a new place, at night for a day worker, or both.

**Files.** The corpus's real Word, Excel and PDF files as they are, each Word and Excel
one with a VBA project added (as ``.docm``/``.xlsm``, and renamed ``.docx``/``.xlsx``),
each PDF behind a program's header (``.pdf``, ``.pdf.exe``).

Run: ``python bench/review.py [--seed 1] [--docs 10000]``.
"""

from __future__ import annotations

import argparse
import random
import string
import sys
import time
from collections import Counter, defaultdict
from email.message import EmailMessage, Message
from pathlib import Path

from stdnum import iban as stdnum_iban
from stdnum import luhn
from stdnum.es import ccc as stdnum_ccc
from stdnum.es import cif as stdnum_cif
from stdnum.es import dni as stdnum_dni
from stdnum.es import nie as stdnum_nie

from sabio.chunking import document_text
from sabio.errors import LoadError
from sabio.loaders import Blob, is_supported, load_document
from sabio.review.scan import MAIL_EXTENSIONS, messages_of, review_mail, review_text

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "documents"
MAILS = DATA / "email"

# (file or "file#n" for the n-th message of an mbox, is phishing/fraud, why)
PHISHING_LABELS: list[tuple[str, bool, str]] = [
    (
        "spamscope/mail_test_17.eml",
        True,
        "BBVA 'transferencia interbancaria' sent by an OVH server, replies to another domain",
    ),
    (
        "spamscope/mail_malformed_3.eml",
        True,
        "spam whose link shows one company's site and opens a .tk domain; replies to gmail",
    ),
    ("spamscope/mail_test_2.eml", False, "a regional weather bulletin"),
    (
        "spamscope/mail_test_5.eml",
        False,
        "a shop's newsletter; links to its own site through its mailing service",
    ),
    (
        "spamscope/mail_test_6.eml",
        False,
        "a Russian business network's notification (spam, not phishing)",
    ),
    (
        "spamscope/mail_test_8.eml",
        False,
        "advertising spam for a flight simulator, honest links to its own domain",
    ),
    ("spamscope/mail_test_10.eml", False, "IBM internal campaign notice"),
    (
        "spamscope/mail_test_12.eml",
        False,
        "Chinese invoice-selling spam with a phone number, no link or forged sender",
    ),
    ("spamscope/mail_test_13.eml", False, "a webinar invitation from its own domain"),
    ("spamscope/mail_malformed_1.eml", False, "'Sent from my iPhone' with an image"),
    ("spamscope/mail_malformed_2.eml", False, "a delivery failure notice"),
    ("tika/testThunderbirdEml.eml", False, "a JUnit test message"),
    ("tika/testLotusEml.eml", False, "a Lotus Notes message"),
    ("tika/testRFC822-big.eml", False, "an Outlook migration notice"),
    (
        "mikel_mail/error_emails_bad_date_header.eml",
        False,
        "grant-scam spam; no forged sender, link or request for data",
    ),
    (
        "mikel_mail/error_emails_content_transfer_encoding_with_8bits.eml",
        False,
        "a retailer's newsletter",
    ),
    ("mikel_mail/error_emails_encoding_madness.eml", False, "an eBay bid notice from a CRM"),
    ("mikel_mail/attachment_emails_attachment_pdf.eml", False, "a test mail with a PDF"),
    (
        "mikel_mail/mime_emails_raw_email_with_nested_attachment.eml",
        False,
        "a test mail with attachments",
    ),
    ("mikel_mail/multipart_report_emails_multi_address_bounce1.eml", False, "a bounce"),
    (
        "mikel_mail/error_emails_content_transfer_encoding_x_uuencode.eml",
        False,
        "a PGP comment mail",
    ),
    ("mikel_mail/multi_charset_japanese_iso_2022.eml", False, "a Japanese test mail"),
    ("mikel_mail/rfc6532_utf8_headers.eml", False, "UTF-8 headers test"),
    ("mbox/perceval_mbox_multipart.mbox", False, "Eclipse mailing list (Reply-To the list)"),
    ("mbox/tika_complex_hadoop_list.mbox", False, "Hadoop mailing list (Reply-To the list)"),
    ("mbox/perceval_pipermail_2015_november.mbox", False, "a pipermail archive"),
    ("mbox/perceval_mbox_unknown_encoding.mbox", False, "a mailing list"),
    ("mbox/tika_testMBOX_complex.mbox", False, "a mailing list"),
]


# --- generators of values with valid check digits ------------------------------------------


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(string.digits) for _ in range(n))


def _dni(rng: random.Random) -> str:
    number = _digits(rng, 8)
    return number + stdnum_dni.calc_check_digit(number)


def _nie(rng: random.Random) -> str:
    body = rng.choice("XYZ") + _digits(rng, 7)
    return body + stdnum_nie.calc_check_digit(body)


def _cif(rng: random.Random) -> str:
    letter = rng.choice("ABEH")  # companies whose check is a digit
    body = letter + _digits(rng, 7)
    return body + stdnum_cif.calc_check_digits(body)[0]


def _iban(rng: random.Random) -> str:
    """A Spanish IBAN: bank, branch, the two national check digits (CCC), account."""
    bank, account = _digits(rng, 8), _digits(rng, 10)
    bban = bank + stdnum_ccc.calc_check_digits(bank + "00" + account) + account
    value = "ES" + stdnum_iban.calc_check_digits("ES00" + bban) + bban
    return " ".join(value[i : i + 4] for i in range(0, 24, 4)) if rng.random() < 0.6 else value


def _card(rng: random.Random) -> str:
    prefix, length = rng.choice([("4", 16), ("51", 16), ("55", 16), ("2221", 16), ("37", 15)])
    body = prefix + _digits(rng, length - len(prefix) - 1)
    number = body + luhn.calc_check_digit(body)
    if rng.random() < 0.5:
        return number
    if length == 15:
        return f"{number[:4]} {number[4:10]} {number[10:]}"
    return " ".join(number[i : i + 4] for i in range(0, 16, 4))


def _phone(rng: random.Random) -> str:
    n = rng.choice("6789") + _digits(rng, 8)
    style = rng.randrange(4)
    if style == 0:
        return f"+34 {n[:3]} {n[3:6]} {n[6:]}"
    if style == 1:
        return f"{n[:3]} {n[3:5]} {n[5:7]} {n[7:]}"
    return n if style == 2 else f"{n[:3]}-{n[3:6]}-{n[6:]}"


def _email(rng: random.Random) -> str:
    user = rng.choice(["ana.garcia", "jlopez", "m.fernandez82", "pedro_ruiz", "lucia.martin"])
    domain = rng.choice(["gmail.com", "empresa.es", "correo.org", "hotmail.es"])
    return f"{user}{rng.randrange(100)}@{domain}"


def _token(rng: random.Random, n: int, alphabet: str = string.ascii_letters + string.digits) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _password(rng: random.Random) -> str:
    words = ["Verano", "Madrid", "Faro", "Luna", "Gato", "Sol", "Tigre", "Roble"]
    return (
        rng.choice(words)
        + _digits(rng, rng.randrange(2, 5))
        + rng.choice("!#$%&*.-_")
        + _token(rng, 3)
    )


def _private_key(rng: random.Random) -> str:
    kind = rng.choice(["RSA ", "OPENSSH ", "EC ", ""])
    body = "\n".join(_token(rng, 64, string.ascii_letters + string.digits + "+/") for _ in range(6))
    return f"-----BEGIN {kind}PRIVATE KEY-----\n{body}\n-----END {kind}PRIVATE KEY-----"


def _jwt(rng: random.Random) -> str:
    alphabet = string.ascii_letters + string.digits + "-_"
    return f"eyJhbGciOiJIUzI1NiJ9.eyJ{_token(rng, 40, alphabet)}.{_token(rng, 43, alphabet)}"


# kind -> (value maker, sentences it is written in)
POSITIVES = {
    "dni": (_dni, ["DNI del titular: {v}.", "con DNI {v} y domicilio en Madrid", "NIF {v}"]),
    "nie": (_nie, ["NIE: {v}", "el trabajador, con NIE {v}, declara"]),
    "cif": (_cif, ["Proveedor: Talleres Ruiz S.L., CIF {v}", "C.I.F. {v}"]),
    "iban": (_iban, ["El IBAN para la devolución es {v}.", "Account (IBAN): {v}", "cuenta {v}"]),
    "card": (_card, ["Tarjeta: {v} caduca 04/29", "card number {v}, CVV on the back", "VISA {v}"]),
    "phone": (_phone, ["Llámame al {v} cuando puedas.", "Tel. {v}", "móvil: {v}"]),
    "email": (_email, ["Escribe a {v} para confirmar.", "contact: {v}"]),
    "health": (
        lambda r: r.choice(
            [
                "historia clínica",
                "baja médica",
                "parte de baja",
                "informe médico",
                "sick note",
                "diagnosed with",
                "diabetes mellitus",
                "trastorno bipolar",
                "esclerosis múltiple",
                "epilepsy",
                "sertralina",
                "levotiroxina",
                "metformin",
                "lorazepam",
            ]
        ),
        [
            "Adjunto la {v} de Marta para la mutua.",
            "Motivo de la ausencia: {v}.",
            "Tratamiento actual: {v} 50 mg cada 24 h",
            "Employee note: {v}, see attached",
        ],
    ),
    "api_key": (
        lambda r: rng_choice_key(r),
        ["AWS_ACCESS_KEY_ID={v}", "la clave de la API es {v}", "export TOKEN={v}", "key: {v}"],
    ),
    "token": (_jwt, ["Authorization: Bearer {v}", "el token de sesión: {v}"]),
    "private_key": (_private_key, ["Te paso la clave del servidor:\n{v}\n", "{v}"]),
    "password": (
        _password,
        [
            "contraseña: {v}",
            "Password = {v}",
            "DB_PASSWORD={v}",
            "usuario: admin / clave: {v}",
            "pwd: {v}",
            "Servicio | Usuario | Contraseña\nVPN | ana | {v}",
        ],
    ),
    "connection_string": (
        lambda r: _password(r).replace("#", "x").replace("%", "x"),
        ["DATABASE_URL=postgres://app:{v}@db.interna:5432/app", "ftp://backup:{v}@10.0.0.5/"],
    ),
}


def rng_choice_key(rng: random.Random) -> str:
    alnum = string.ascii_letters + string.digits
    return rng.choice(
        [
            lambda: "AKIA" + _token(rng, 16, string.ascii_uppercase + string.digits),
            lambda: "ghp_" + _token(rng, 36, alnum),
            lambda: "sk_live_" + _token(rng, 24, alnum),
            lambda: "AIza" + _token(rng, 35, alnum + "-_"),
            lambda: (
                "xoxb-" + _digits(rng, 12) + "-" + _digits(rng, 12) + "-" + _token(rng, 24, alnum)
            ),
            lambda: "sk-proj-" + _token(rng, 48, alnum + "-_"),
            lambda: "glpat-" + _token(rng, 20, alnum),
        ]
    )()


def _off_by_one(value: str, rng: random.Random) -> str:
    """The same identifier with its last check digit or letter changed."""
    last = value[-1]
    pool = string.digits if last.isdigit() else string.ascii_uppercase
    return value[:-1] + rng.choice([c for c in pool if c != last])


NEAR_MISSES = [
    ("dni", lambda r: _off_by_one(_dni(r), r), "DNI del titular: {v}."),
    ("nie", lambda r: _off_by_one(_nie(r), r), "NIE: {v}"),
    ("cif", lambda r: _off_by_one(_cif(r), r), "CIF {v}"),
    ("iban", lambda r: _off_by_one(_iban(r).replace(" ", ""), r), "El IBAN es {v}."),
    ("card", lambda r: _off_by_one(_card(r).replace(" ", ""), r), "Tarjeta: {v}"),
    ("card", lambda r: "1" + _digits(r, 15), "Pedido n.º {v}"),
    (
        "password",
        lambda r: r.choice(["********", "<password>", "${DB_PASS}", "xxxxxx", "changeme"]),
        "password: {v}",
    ),
    (
        "password",
        lambda r: r.choice(["see the manager", "ask IT", "la de siempre", "olvidada"]),
        "contraseña: {v}",
    ),
    (
        "password",
        lambda r: r.choice(["Notas", "Observaciones", "Caduca"]),
        "Usuario | Contraseña | {v}",
    ),
    (
        "health",
        lambda r: r.choice(
            [
                "el cáncer de la corrupción",
                "baterías de litio",
                "el delito ha prescrito",
                "informe de alta del cliente",
                "la receta del pastel",
                "a healthy diet",
                "una epidemia de bulos",
            ]
        ),
        "Según la prensa, {v}.",
    ),
    (
        "phone",
        lambda r: f"{r.randrange(100, 999)}.{r.randrange(100, 999)}.{r.randrange(100, 999)},00",
        "Total: {v} EUR",
    ),
]


# --- the planted sets -------------------------------------------------------------------------


def real_texts() -> list[tuple[str, str]]:
    texts = []
    for path in sorted(p for p in DATA.rglob("*") if p.is_file() and is_supported(p.name)):
        try:
            doc = load_document(Blob.from_path(path))
        except LoadError:
            continue
        texts.append((str(path.relative_to(DATA)), document_text(doc.sections)[:200_000]))
    return texts


def _plant(text: str, sentence: str, rng: random.Random) -> tuple[str, int]:
    """``sentence`` put in at a paragraph or line break of ``text``; where it starts."""
    breaks = [i for i, ch in enumerate(text[:50_000]) if ch == "\n"] or [len(text)]
    at = rng.choice(breaks)
    return text[:at] + "\n" + sentence + "\n" + text[at:], at + 1


def planted_sets(
    texts: list[tuple[str, str]], rng: random.Random, per_kind: int
) -> dict[str, list[int]]:
    """kind -> [true positives, false negatives, false positives] over the planted set."""
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    cases: list[tuple[str, str, str, bool]] = []  # kind, value, template, positive
    for kind, (make, templates) in POSITIVES.items():
        cases += [(kind, make(rng), rng.choice(templates), True) for _ in range(per_kind)]
    for kind, make, template in NEAR_MISSES:
        cases += [(kind, make(rng), template, False) for _ in range(per_kind // 2)]
    for kind, value, template, positive in cases:
        name, base = rng.choice(texts)
        before = {(f.kind, f.fingerprint) for f in review_text(base)}
        sentence = template.format(v=value)
        text, at = _plant(base, sentence, rng)
        start = at + sentence.index(value)
        span = (start, start + len(value))
        findings = [f for f in review_text(text, name) if (f.kind, f.fingerprint) not in before]
        hit = [f for f in findings if f.start < span[1] and span[0] < f.end]
        if positive:
            right = [f for f in hit if f.kind == kind]
            counts[kind][0 if right else 1] += 1
            for wrong in [f for f in hit if f.kind != kind and f.kind != "email"]:
                counts[wrong.kind][2] += 1
        else:
            for wrong in hit:
                counts[wrong.kind][2] += 1
    return counts


def detect_secrets_recall(rng: random.Random, per_kind: int) -> dict[str, float]:
    try:
        from detect_secrets.core.scan import scan_line
        from detect_secrets.settings import default_settings
    except ImportError:
        return {}
    recall: dict[str, float] = {}
    with default_settings():
        for kind in ("api_key", "token", "private_key", "password", "connection_string"):
            make, templates = POSITIVES[kind]
            found = 0
            for _ in range(per_kind):
                value = make(rng)
                lines = rng.choice(templates).format(v=value).splitlines()
                secrets = [s.secret_value or "" for line in lines for s in scan_line(line)]
                found += any(
                    s and (s in value or value in s or s in value.split("\n")[1:2]) for s in secrets
                )
            recall[kind] = found / per_kind
    return recall


# --- phishing --------------------------------------------------------------------------------


def _labelled_mails() -> list[tuple[str, list[Message], bool, str]]:
    mails = []
    for name, label, why in PHISHING_LABELS:
        path = MAILS / name
        if path.is_file():
            mails.append((name, messages_of(path.read_bytes(), path.suffix.lower()), label, why))
    return mails


def _ordinary_messages() -> list[Message]:
    """Real messages labelled ordinary, each as one message."""
    return [m for _, messages, label, _ in _labelled_mails() if not label for m in messages]


def _as_plain(message: Message, sender: str, subject: str, body: str) -> EmailMessage:
    """A real message's text and To, with a new sender, subject and body."""
    from sabio.loaders.mail import split_message

    original = split_message(message)[0].text.split("\n\n", 1)[-1][:1500]
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = " ".join(str(message.get("To", "ana@empresa.es")).split())
    mail["Subject"] = subject
    mail.set_content(body + "\n\n" + original)
    return mail


def _lookalike_of(domain: str, rng: random.Random) -> str:
    """A domain that imitates ``domain``: a Cyrillic letter, a digit for a letter, or two
    letters swapped."""
    name, _, tld = domain.partition(".")
    confusable = [
        (a, b)
        for a, b in (
            ("a", "\u0430"),
            ("o", "\u043e"),
            ("e", "\u0435"),
            ("l", "1"),
            ("o", "0"),
            ("i", "1"),
        )
        if a in name
    ]
    if confusable and rng.random() < 0.7:
        a, b = rng.choice(confusable)
        i = rng.choice([k for k, ch in enumerate(name) if ch == a])
        return name[:i] + b + name[i + 1 :] + "." + tld
    i = rng.randrange(len(name) - 1)
    swapped = name[:i] + name[i + 1] + name[i] + name[i + 2 :]
    return (swapped if swapped != name else name + "s") + "." + tld


def _phishing_variants(base: Message, rng: random.Random) -> list[tuple[str, EmailMessage, bool]]:
    brand, domain = rng.choice(
        [
            ("PayPal", "paypal.com"),
            ("BBVA", "bbva.es"),
            ("Correos", "correos.es"),
            ("Microsoft 365", "microsoft.com"),
            ("CaixaBank", "caixabank.es"),
        ]
    )
    fake = rng.choice(
        ["secure-alerts.ru", "mail-notify.top", "clientes-online.xyz", "support-center.info"]
    )
    out: list[tuple[str, EmailMessage, bool]] = []
    m = _as_plain(
        base,
        f'"{brand}" <avisos@{fake}>',
        f"{brand}: aviso importante",
        "Revise el documento adjunto.",
    )
    out.append(("brand name over another address", m, True))
    m = _as_plain(
        base,
        f"{brand} <no-reply@{domain}>",
        "Factura disponible",
        "Puede ver su factura en el enlace.",
    )
    m.add_alternative(
        f'<p>Vea su factura en <a href="https://{fake}/f?id={rng.randrange(10**6)}">https://www.{domain}/facturas</a></p>',
        subtype="html",
    )
    out.append(("link text shows the brand, opens another site", m, True))
    look = _lookalike_of(domain, rng)
    m = _as_plain(
        base,
        f"{brand} <seguridad@{look}>",
        "Actividad inusual",
        "Hemos detectado actividad inusual. Verifique su cuenta.",
    )
    out.append(("look-alike sender domain", m, True))
    m = _as_plain(
        base,
        f"Ana Ruiz <ana.ruiz@{rng.choice(['gmail.com', 'empresa.es'])}>",
        "Documentos",
        "Te envío la factura.",
    )
    m.add_attachment(
        b"MZ\x90\x00" + bytes(64),
        maintype="application",
        subtype="octet-stream",
        filename=rng.choice(
            ["factura.pdf.exe", "Factura_0423.docm", "albaran.pdf   .scr", "pedido.xlsm"]
        ),
    )
    out.append(("program or macro attachment behind a document's name", m, True))
    wording = rng.choice(
        [
            (
                "Cambio de cuenta",
                "Hemos cambiado de banco. Por favor, realice la transferencia urgente hoy mismo "
                "a nuestros nuevos datos bancarios.",
            ),
            (
                "Change of bank details",
                "Please note our new bank details. The outstanding invoice must be paid today "
                "by wire transfer.",
            ),
            (
                "Your account",
                "Your account will be suspended within 24 hours. Verify your account now.",
            ),
        ]
    )
    m = _as_plain(base, "Dirección Financiera <direccion@empresa.es>", wording[0], wording[1])
    m["Reply-To"] = f"finanzas@{fake}"
    out.append(("urgent bank change or password request, replies elsewhere", m, True))
    # hard negatives: the same real text with honest links, an ordinary invoice, a list
    m = _as_plain(
        base, f"{brand} <no-reply@{domain}>", "Novedades", "Consulte las novedades en nuestra web."
    )
    m.add_alternative(
        f'<p>Novedades en <a href="https://www.{domain}/novedades">www.{domain}</a></p>',
        subtype="html",
    )
    out.append(("honest link to the sender's own site", m, False))
    m = _as_plain(
        base,
        "Luis Pérez <luis@proveedor.es>",
        "Factura de noviembre",
        "Adjunto la factura de noviembre; el pago por transferencia vence el día 30, como siempre.",
    )
    m.add_attachment(
        b"%PDF-1.4", maintype="application", subtype="pdf", filename="factura-noviembre.pdf"
    )
    out.append(("ordinary invoice with a PDF", m, False))
    m = _as_plain(
        base,
        "Marta Gil <marta@universidad.es>",
        "[lista] reunión",
        "Recordad la reunión del jueves.",
    )
    m["Reply-To"] = "lista@listas.rediris.es"
    out.append(("mailing list with its Reply-To", m, False))
    return out


def phishing_scores(rng: random.Random) -> tuple[dict[str, list[int]], list[str]]:
    """(set -> [tp, fn, fp, tn]) for the real labelled mails and the planted ones; and the
    real mails that were misjudged, with their reason."""
    scores: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    wrong: list[str] = []
    labelled = _labelled_mails()
    senders = Counter(d for _, messages, _, _ in labelled for m in messages if (d := _sender(m)))
    for name, messages, label, why in labelled:
        for n, message in enumerate(messages):
            said = _suspicious(message, senders)
            _count(scores["real"], label, said)
            if said != label:
                wrong.append(f"{name}#{n} labelled {label} ({why})")
    for base in _ordinary_messages():
        for technique, message, label in _phishing_variants(base, rng):
            said = _suspicious(message, senders)
            _count(scores["planted"], label, said)
            _count(scores[f"  {technique}"], label, said)
    return scores, wrong


def _sender(message: Message) -> str:
    from sabio.review.phishing import sender_domain

    return sender_domain(message)


def _suspicious(message: Message, senders: Counter[str]) -> bool:
    from sabio.loaders.mail import split_message

    text = split_message(message)[0].text
    return any(f.kind == "suspicious_mail" for f in review_mail([message], text, "m", senders))


def _count(score: list[int], label: bool, said: bool) -> None:
    score[(0 if said else 1) if label else (2 if said else 3)] += 1


def _ratio(a: int, b: int) -> float:
    return a / b if b else float("nan")


# --- logs ------------------------------------------------------------------------------------


def _syslog_time(seconds: int) -> str:
    day, rest = divmod(seconds, 86_400)
    return f"Dec {day + 1:2d} {rest // 3600:02d}:{rest // 60 % 60:02d}:{rest % 60:02d}"


def log_scores(rng: random.Random, logs: int = 50) -> list[int]:
    """[tp, fn, fp] of failed_login_burst over ``logs`` auth logs, each a day of ordinary
    logins (and a person's few mistyped passwords) with 0-2 attacks: 6-200 failures
    from one address, fast or slow (up to 90 s apart), against a few user names, one
    attack in three then logging in."""
    from sabio.review.findings import Category

    tp = fn = fp = 0
    for _ in range(logs):
        lines: list[tuple[int, str]] = []
        for i in range(rng.randrange(50, 300)):
            t = rng.randrange(86_400)
            ip = f"10.0.{rng.randrange(4)}.{rng.randrange(2, 60)}"
            lines.append(
                (
                    t,
                    f"sshd[{i}]: Accepted publickey for u{rng.randrange(30)} from {ip} port 22",
                )
            )
            if rng.random() < 0.1:  # a typo before a login
                for k in range(rng.randrange(1, 4)):
                    lines.append(
                        (
                            t - 20 * (k + 1),
                            f"sshd[{i}]: Failed password for u{rng.randrange(30)} from {ip}",
                        )
                    )
        attackers = {f"203.0.113.{rng.randrange(1, 250)}" for _ in range(rng.randrange(3))}
        for ip in attackers:
            start, gap = rng.randrange(80_000), rng.choice([1, 2, 5, 20, 90])
            for k in range(rng.randrange(6, 200)):
                user = rng.choice(["root", "admin", "oracle", "test", "ubuntu"])
                lines.append(
                    (
                        start + k * gap,
                        f"sshd[9{k}]: Failed password for invalid user {user} from {ip} port {k}",
                    )
                )
        text = "\n".join(f"{_syslog_time(t)} host {line}" for t, line in sorted(lines))
        found = {
            f.evidence
            for f in review_text(text, "auth.log")
            if f.kind == "failed_login_burst" and f.category is Category.ACTIVITY
        }
        tp += len(found & attackers)
        fn += len(attackers - found)
        fp += len(found - attackers)
    return [tp, fn, fp]


def login_scores(rng: random.Random, logs: int = 50) -> dict[str, list[int]]:
    """kind -> [tp, fn, fp] of login_new_place and login_odd_hour over ``logs`` auth logs:
    each a fortnight of 5-20 users' logins from their own office or home networks (any
    address in them), in their working hours (some users work nights, every night), and
    0-3 planted logins per log, each from an address outside every network of the log
    (a new place) or at night for a day worker (an odd hour), or both."""
    scores = {"login_new_place": [0, 0, 0], "login_odd_hour": [0, 0, 0]}
    for _ in range(logs):
        lines: list[tuple[int, str, str]] = []  # time, user, address
        users = [f"u{n}" for n in range(rng.randrange(5, 21))]
        habits = {
            u: (
                [f"10.{rng.randrange(250)}.{rng.randrange(250)}" for _ in range(rng.randint(1, 2))],
                rng.choice([range(8, 19), range(8, 19), range(8, 19), range(0, 5)]),
            )
            for u in users
        }
        for user, (networks, hours) in habits.items():
            for day in range(14):
                for _ in range(rng.randrange(1, 4)):
                    t = day * 86_400 + rng.choice(hours) * 3600 + rng.randrange(3600)
                    lines.append((t, user, f"{rng.choice(networks)}.{rng.randrange(2, 250)}"))
        planted = {"login_new_place": set(), "login_odd_hour": set()}
        day_workers = [u for u, (_, hours) in habits.items() if 8 in hours]
        for k in range(rng.randrange(4) if day_workers else 0):
            user = rng.choice(day_workers)
            networks, _ = habits[user]
            how = rng.choice(["place", "hour", "both"])
            hour = rng.randrange(0, 6) if how != "place" else rng.randrange(9, 18)
            address = (
                f"198.51.{100 + k}.{rng.randrange(2, 250)}"
                if how != "hour"
                else (f"{networks[0]}.{rng.randrange(2, 250)}")
            )
            t = 14 * 86_400 + hour * 3600 + rng.randrange(3600)
            lines.append((t, user, address))
            if how != "hour":
                planted["login_new_place"].add((user, address))
            if how != "place":
                planted["login_odd_hour"].add((user, address))
        text = "\n".join(
            f"{_syslog_time(t)} host sshd[{i}]: Accepted password for {u} from {a} port 22 ssh2"
            for i, (t, u, a) in enumerate(sorted(lines))
        )
        found: dict[str, set[tuple[str, str]]] = defaultdict(set)
        for f in review_text(text, "auth.log"):
            if f.kind in scores:
                found[f.kind].add((f.details["user"], f.evidence))
        for kind, score in scores.items():
            score[0] += len(found[kind] & planted[kind])
            score[1] += len(planted[kind] - found[kind])
            score[2] += len(found[kind] - planted[kind])
    return scores


# --- files ----------------------------------------------------------------------------------


def file_scores() -> list[int]:
    """[tp, fn, fp, tn] of dangerous_file over the corpus's real Office files, PDFs and
    spreadsheets as they are (negatives, with a program under its own name), and each
    Office Open XML one turned into a macro file (a VBA project added: as ``.docm``/
    ``.xlsm``, and renamed back to ``.docx``/``.xlsx``), and each PDF renamed over a
    program (``.pdf`` holding an ``MZ`` header; ``.pdf.exe``)."""
    import tempfile
    import zipfile

    from sabio.review.scan import review_paths

    originals = sorted(
        p for d in ("docx", "xlsx", "pdf") for p in (DATA / d).rglob("*") if p.is_file()
    )
    program = b"MZ\x90\x00" + bytes(512)
    vba = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + "_VBA_PROJECT".encode("utf-16-le")
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        labels: dict[str, bool] = {"setup.exe": False}
        (root / "setup.exe").write_bytes(program)
        for i, path in enumerate(originals):
            plain = root / f"{i}{path.suffix}"
            plain.write_bytes(path.read_bytes())
            labels[plain.name] = False
            if path.suffix in (".docx", ".xlsx"):
                macro = ".docm" if path.suffix == ".docx" else ".xlsm"
                try:
                    with zipfile.ZipFile(path) as src:
                        parts = [(item, src.read(item.filename)) for item in src.infolist()]
                except (zipfile.BadZipFile, OSError, ValueError):
                    continue  # a broken file of the corpus: no macro file made of it
                for name in (f"{i}m{macro}", f"{i}r{path.suffix}"):
                    with zipfile.ZipFile(root / name, "w") as dst:
                        for item, data in parts:
                            dst.writestr(item, data)
                        part = "word" if macro == ".docm" else "xl"
                        dst.writestr(f"{part}/vbaProject.bin", vba)
                    labels[name] = True
            elif path.suffix == ".pdf":
                for name in (f"{i}p.pdf", f"{i}x.pdf.exe"):
                    (root / name).write_bytes(program + path.read_bytes()[:1000])
                    labels[name] = True
        found = {
            Path(f.document).name
            for f in review_paths([root]).findings
            if f.kind == "dangerous_file"
        }
    tp = sum(1 for n, bad in labels.items() if bad and n in found)
    fp = sum(1 for n, bad in labels.items() if not bad and n in found)
    positives = sum(labels.values())
    return [tp, positives - tp, fp, len(labels) - positives - fp]


# --- time ------------------------------------------------------------------------------------


def timing(texts: list[tuple[str, str]], docs: int) -> tuple[float, float]:
    """Seconds to review ``docs`` documents of the corpus's own mix (its files cycled, a
    quarter of them mails: each mail's text and its phishing signs), and seconds for as
    many mails alone (the worst case, a mailbox)."""
    from sabio.loaders.mail import split_message

    messages = {
        name: messages_of((DATA / name).read_bytes(), Path(name).suffix.lower())
        for name, _ in texts
        if Path(name).suffix.lower() in MAIL_EXTENSIONS
    }
    started = time.perf_counter()
    for i in range(docs):
        name, text = texts[i % len(texts)]
        review_text(text, name)
        if name in messages:
            review_mail(messages[name], text, name)
    mixed = time.perf_counter() - started
    prepared = [(m, split_message(m)[0].text) for ms in messages.values() for m in ms]
    started = time.perf_counter()
    for i in range(docs):
        message, text = prepared[i % len(prepared)]
        review_text(text)
        review_mail([message], text, "m")
    return mixed, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--per-kind", type=int, default=200)
    parser.add_argument("--docs", type=int, default=10_000)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    texts = real_texts()
    mails = sum(1 for n, _ in texts if Path(n).suffix in MAIL_EXTENSIONS)
    print(f"{len(texts)} real documents ({mails} mail files) from {DATA}")
    clean = Counter(f.kind for _, t in texts for f in review_text(t))
    print("findings in the clean corpus (to be read, not labelled):", dict(clean))
    print(f"\nplanted, {args.per_kind} per kind (+{args.per_kind // 2} per near miss)")
    print(f"{'detector':<18} {'recall':>7} {'precision':>9}   tp  fn  fp")
    for kind, (tp, fn, fp) in sorted(planted_sets(texts, rng, args.per_kind).items()):
        print(
            f"{kind:<18} {_ratio(tp, tp + fn):7.3f} {_ratio(tp, tp + fp):9.3f}"
            f" {tp:4d} {fn:3d} {fp:3d}"
        )
    ds = detect_secrets_recall(random.Random(args.seed), args.per_kind)
    if ds:
        print(
            "detect-secrets 1.5.0 (default plugins) recall on the same secrets:",
            {k: round(v, 3) for k, v in ds.items()},
        )
    scores, wrong = phishing_scores(random.Random(args.seed))
    print("\nphishing (suspicious_mail), per message")
    for name, (tp, fn, fp, tn) in scores.items():
        print(
            f"{name:<60} recall {_ratio(tp, tp + fn):.3f} precision {_ratio(tp, tp + fp):.3f}"
            f"  (tp {tp} fn {fn} fp {fp} tn {tn})"
        )
    for line in wrong:
        print("  misjudged:", line)
    tp, fn, fp = log_scores(random.Random(args.seed))
    print(
        f"\nauth logs, failed_login_burst per attacking address: recall {_ratio(tp, tp + fn):.3f}"
        f" precision {_ratio(tp, tp + fp):.3f} (tp {tp} fn {fn} fp {fp})"
    )
    for kind, (tp, fn, fp) in login_scores(random.Random(args.seed)).items():
        print(
            f"auth logs, {kind} per planted login: recall {_ratio(tp, tp + fn):.3f}"
            f" precision {_ratio(tp, tp + fp):.3f} (tp {tp} fn {fn} fp {fp})"
        )
    tp, fn, fp, tn = file_scores()
    print(
        f"\nfiles, dangerous_file: recall {_ratio(tp, tp + fn):.3f}"
        f" precision {_ratio(tp, tp + fp):.3f} (tp {tp} fn {fn} fp {fp} tn {tn})"
    )
    from sabio.review.health import find_health

    started = time.perf_counter()
    for _, text in texts:
        review_text(text)
    whole = time.perf_counter() - started
    started = time.perf_counter()
    for _, text in texts:
        list(find_health(text))
    print(
        f"\nhealth terms' share of review_text over the corpus:"
        f" {(time.perf_counter() - started) / whole:.2f}"
    )
    mixed, mails_only = timing(texts, args.docs)
    print(
        f"\n{args.docs} documents of the corpus's mix: {mixed:.1f} s"
        f" ({1000 * mixed / args.docs:.2f} s per 1,000); {args.docs} mail messages alone:"
        f" {mails_only:.1f} s ({1000 * mails_only / args.docs:.2f} s per 1,000); one core"
    )


if __name__ == "__main__":
    sys.exit(main())
