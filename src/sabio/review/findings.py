"""What a detector reports: a :class:`Finding`, its severity, its masked evidence and its
explanation in English or Spanish.

A finding never holds the text it found. ``evidence`` is masked when the finding is made
(:func:`mask`: the first characters and ``****``), and ``fingerprint`` is a digest of the
found value (for dismissing one finding, or counting how many documents share a secret)
that cannot be turned back into it. Every output (the CLI, JSON, the API) prints these
and nothing else, so a review never spreads what it finds.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"

    @property
    def rank(self) -> int:
        return {"high": 0, "medium": 1, "low": 2}[self.value]


class Category(StrEnum):
    SECRET = "secret"
    PERSONAL = "personal"
    PHISHING = "phishing"
    ACTIVITY = "activity"
    FILE = "file"


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing found in one place. ``start``/``end`` are character offsets in the
    document's text (its sections joined as :mod:`sabio.chunking` joins them, so the
    source panel can highlight them); ``line`` is 1-based in that text; ``page`` the
    document's page, when it has pages. Mail-level signs (a forged sender) point at the
    message's header block."""

    category: Category
    kind: str
    severity: Severity
    evidence: str
    fingerprint: str
    start: int = 0
    end: int = 0
    line: int = 0
    page: int | None = None
    document: str = ""
    details: dict[str, str] = field(default_factory=dict)

    def explanation(self, language: str = "en") -> str:
        return explain(self.kind, language, **self.details)

    def as_json(self, language: str = "en") -> dict[str, Any]:
        data = asdict(self)
        data["explanation"] = self.explanation(language)
        return data


def mask(value: str, keep: int = 4) -> str:
    """The first ``keep`` characters (fewer for short values: never more than a quarter)
    and ``****``: enough to recognise it, not enough to use it."""
    shown = min(keep, len(value) // 4)
    return value[:shown] + "****"


def mask_in_place(value: str, keep: int = 4) -> str:
    """``value`` masked as :func:`mask` masks it, at its own length (``*`` for every
    character shown no more, but spaces and line breaks): for text whose offsets must stay
    true (a stored passage, a source panel's highlight)."""
    shown = min(keep, len(value) // 4)
    return value[:shown] + "".join(c if c.isspace() else "*" for c in value[shown:])


def fingerprint(value: str) -> str:
    """A short digest of a found value: the same secret in two documents has the same one."""
    return hashlib.blake2b(value.encode("utf-8"), digest_size=8).hexdigest()


# kind -> (English, Spanish). {placeholders} come from the finding's details.
MESSAGES: dict[str, tuple[str, str]] = {
    "private_key": (
        "A private key. Whoever reads this document can impersonate its owner: revoke the "
        "key, make a new one and keep it out of documents.",
        "Una clave privada. Quien lea este documento puede suplantar a su dueño: revoca la "
        "clave, crea otra y no la guardes en documentos.",
    ),
    "api_key": (
        "An access key for {service}. Revoke it in {service} and make a new one; keep keys "
        "in a password manager, not in documents or mails.",
        "Una clave de acceso de {service}. Revócala en {service} y crea otra; guarda las "
        "claves en un gestor de contraseñas, no en documentos ni correos.",
    ),
    "token": (
        "A signed access token ({service}). It may still open a session: let it expire or "
        "revoke it.",
        "Un token de acceso firmado ({service}). Puede seguir abriendo una sesión: deja "
        "que caduque o revócalo.",
    ),
    "password": (
        "A password written next to its label ({label}). Change it, and keep passwords in "
        "a password manager.",
        "Una contraseña escrita junto a su etiqueta ({label}). Cámbiala y guarda las "
        "contraseñas en un gestor de contraseñas.",
    ),
    "connection_string": (
        "An address with a user name and password in it ({scheme}://). Change that "
        "password and share the address without it.",
        "Una dirección con usuario y contraseña dentro ({scheme}://). Cambia esa "
        "contraseña y comparte la dirección sin ella.",
    ),
    "dni": (
        "A Spanish DNI (valid check letter): personal data of an identified person.",
        "Un DNI (letra de control válida): dato personal de una persona identificada.",
    ),
    "nie": (
        "A Spanish NIE (valid check letter): personal data of an identified foreign resident.",
        "Un NIE (letra de control válida): dato personal de un residente extranjero.",
    ),
    "cif": (
        "A Spanish company tax number (CIF/NIF, valid check digit).",
        "Un CIF/NIF de empresa (dígito de control válido).",
    ),
    "iban": (
        "A bank account (IBAN, valid check digits, {country}).",
        "Una cuenta bancaria (IBAN, dígitos de control válidos, {country}).",
    ),
    "card": (
        "A payment card number ({brand}, passes the Luhn check). Card numbers must not be "
        "kept in documents (PCI DSS).",
        "Un número de tarjeta ({brand}, supera la comprobación de Luhn). Los números de "
        "tarjeta no deben guardarse en documentos (PCI DSS).",
    ),
    "phone": (
        "A telephone number: personal data when it belongs to a person.",
        "Un número de teléfono: dato personal si es de una persona.",
    ),
    "email": (
        "An e-mail address: personal data when it belongs to a person.",
        "Una dirección de correo: dato personal si es de una persona.",
    ),
    "health": (
        "Health data ({what}): a special category of personal data (GDPR art. 9). Keep "
        "it only where it must be, with access limited to those who need it.",
        "Datos de salud ({what}): una categoría especial de datos personales (RGPD art. 9). "
        "Guárdalos solo donde deban estar y con acceso limitado a quien los necesite.",
    ),
    "display_name_mismatch": (
        "The sender's name shows {shown} but the mail comes from {actual}: a common "
        "way to pose as someone else.",
        "El nombre del remitente muestra {shown} pero el correo viene de {actual}: una "
        "forma habitual de hacerse pasar por otro.",
    ),
    "reply_to_mismatch": (
        "Replies go to {reply_to}, not to the sender's domain {actual}: answers would "
        "reach someone else.",
        "Las respuestas van a {reply_to}, no al dominio del remitente {actual}: quien "
        "responda escribirá a otra persona.",
    ),
    "sender_spoofed": (
        "The mail says it comes from {actual} but was sent by another server ({sent_by}): "
        "the sender is probably forged.",
        "El correo dice venir de {actual} pero lo envió otro servidor ({sent_by}): el "
        "remitente probablemente es falso.",
    ),
    "link_mismatch": (
        "A link shows {shown} but leads to {actual}.",
        "Un enlace muestra {shown} pero lleva a {actual}.",
    ),
    "lookalike_domain": (
        "The domain {domain} imitates {imitates} ({how}).",
        "El dominio {domain} imita a {imitates} ({how}).",
    ),
    "urgent_request": (
        "Urgent wording about {topic} ({words}): check with the sender by another "
        "channel before you pay, change bank details or give a password.",
        "Lenguaje urgente sobre {topic} ({words}): confirma con el remitente por otra vía "
        "antes de pagar, cambiar datos bancarios o dar una contraseña.",
    ),
    "dangerous_attachment": (
        "The attachment {name} {why}: do not open it.",
        "El adjunto {name} {why}: no lo abras.",
    ),
    "dangerous_file": (
        "The file {name} {why}: do not open it unless you know where it comes from.",
        "El archivo {name} {why}: no lo abras si no sabes de dónde viene.",
    ),
    "failed_login_burst": (
        "{count} failed logins from {source} in {minutes} min (users: {users}): someone is "
        "guessing passwords. Block that address and check those accounts.",
        "{count} inicios de sesión fallidos desde {source} en {minutes} min (usuarios: "
        "{users}): alguien prueba contraseñas. Bloquea esa dirección y revisa esas cuentas.",
    ),
    "login_after_burst": (
        "{user} logged in from {source} during or right after {count} failed attempts: "
        "the password may have been guessed. Change it and check what that session did.",
        "{user} entró desde {source} durante o justo después de {count} intentos fallidos: "
        "puede que hayan adivinado la contraseña. Cámbiala y revisa qué hizo esa sesión.",
    ),
    "login_new_place": (
        "{user} logged in from {source}, a place not seen for {user} in the {count} logins "
        "before: if it was not them, change the password and end that session.",
        "{user} entró desde {source}, un lugar que no aparece en sus {count} accesos "
        "anteriores: si no fue esa persona, cambia la contraseña y cierra esa sesión.",
    ),
    "login_new_country": (
        "{user} logged in from {source}, in {country}, a country not seen for {user} in the "
        "{count} logins before ({countries}): if it was not them, change the password and end "
        "that session.",
        "{user} entró desde {source}, en {country}, un país que no aparece en sus {count} "
        "accesos anteriores ({countries}): si no fue esa persona, cambia la contraseña y "
        "cierra esa sesión.",
    ),
    "login_odd_hour": (
        "{user} logged in at {hour}:00 from {source}, at night, unlike their {count} other "
        "logins: check that it was them.",
        "{user} entró a las {hour}:00 desde {source}, de noche, a diferencia de sus otros "
        "{count} accesos: comprueba que fue esa persona.",
    ),
    "scan": (
        "{source} probed {count} different {what}: a scan looking for weak spots.",
        "{source} probó {count} {what} distintos: un escaneo en busca de puntos débiles.",
    ),
    "suspicious_mail": (
        "This mail shows {count} signs of phishing or fraud: {signs}.",
        "Este correo muestra {count} señales de phishing o fraude: {signs}.",
    ),
}

# Words used inside explanations, per language.
WORDS: dict[str, tuple[str, str]] = {
    "payment": ("a payment or bank details", "un pago o datos bancarios"),
    "credentials": ("your password or account", "tu contraseña o tu cuenta"),
    "double_extension": (
        "hides a program behind a document's name",
        "esconde un programa tras el nombre de un documento",
    ),
    "executable": ("is a program", "es un programa"),
    "macro": (
        "is an Office file that can run macros",
        "es un archivo de Office que puede ejecutar macros",
    ),
    "disguised_macro": (
        "holds macros under the name of a format that has none (a macro file renamed)",
        "contiene macros con el nombre de un formato que no las tiene (un archivo con "
        "macros renombrado)",
    ),
    "disguised_executable": (
        "is a program named as a document",
        "es un programa con nombre de documento",
    ),
    "archive": (
        "is an archive that hides what it holds",
        "es un archivo comprimido que oculta su contenido",
    ),
    "record": ("a medical record or sick note", "un informe médico o una baja"),
    "diagnosis": ("a diagnosis", "un diagnóstico"),
    "medication": ("a medication", "un medicamento"),
    "confusable": ("look-alike characters", "caracteres que se parecen"),
    "paths": ("paths", "rutas"),
    "ports": ("ports", "puertos"),
    "typo": ("one or two letters changed", "una o dos letras cambiadas"),
}


def word(name: str, language: str) -> str:
    en, es = WORDS.get(name, (name, name))
    return es if language == "es" else en


def explain(kind: str, language: str = "en", **details: str) -> str:
    en, es = MESSAGES[kind]
    text = es if language == "es" else en
    values = {k: word(v, language) if v in WORDS else v for k, v in details.items()}
    return text.format_map(_Missing(values))


class _Missing(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "?"
