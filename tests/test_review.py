"""The security review (sabio.review) over real loaders, real mails and a real store:
each detector's true positives, its near misses (a wrong check digit, a placeholder) and
the masking of every output."""

from __future__ import annotations

import json
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from fake_servers import closed_port
from typer.testing import CliRunner

from sabio.chunking import document_text
from sabio.cli import app
from sabio.loaders import Blob, load_document
from sabio.review import review_paths, review_text
from sabio.review.findings import mask
from sabio.review.phishing import registrable

MAILS = Path(__file__).resolve().parents[2] / "shared" / "data" / "documents" / "email"
AWS_KEY = "AKIA" + "IOSFODNN7Q2XK4BZ"
GITHUB = "ghp_" + "x7Kq2LmN9pR4sT6vW8yZ1aB3cD5eF7gH9jK0"
PASSWORD = "Tr0ub4dor&3x-9"


def kinds(text: str) -> list[str]:
    return [f.kind for f in review_text(text)]


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("DNI: 12345678Z", "dni"),
        ("NIE X-1234567-L del cliente", "nie"),
        ("CIF B12345674, Madrid", "cif"),
        ("cuenta ES91 2100 0418 4502 0005 1332.", "iban"),
        ("IBAN DE89370400440532013000", "iban"),
        ("tarjeta 4111 1111 1111 1111 caduca", "card"),
        ("llámame al +34 612 345 678", "phone"),
        ("Llámame al 612345678", "phone"),
        ("escribe a ana.garcia@ejemplo.es", "email"),
        (f"AWS_ACCESS_KEY_ID={AWS_KEY}", "api_key"),
        (f"token {GITHUB}", "api_key"),
        (f"contraseña: {PASSWORD}", "password"),
        ("DATABASE_URL=postgres://app:S3cr3t-Pw@db.local/app", "connection_string"),
        (
            "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk\n"
            "-----END OPENSSH PRIVATE KEY-----",
            "private_key",
        ),
    ],
)
def test_each_detector_finds_its_kind(text: str, kind: str) -> None:
    assert kind in kinds(text)


@pytest.mark.parametrize(
    "text",
    [
        "DNI: 12345678A",  # wrong check letter
        "NIE X1234567M",
        "CIF B12345675",
        "cuenta ES92 2100 0418 4502 0005 1332",  # check digits off by one
        "tarjeta 4111 1111 1111 1112",  # fails Luhn
        "factura 1234 5678 9012 3456",  # not a card brand's prefix... nor Luhn
        "password: ********",
        "contraseña: <tu contraseña>",
        "password: ${DB_PASSWORD}",
        "Password: see the manager",
        "total 612.345.678,00 EUR",  # an amount, not a phone
        "pedido 612345678 del cliente",  # nine digits, no word for a phone
        "norma IEC 60065-2002",  # a standard's number and year
    ],
)
def test_near_misses_are_not_reported(text: str) -> None:
    assert kinds(text) == []


def test_a_key_behind_a_label_is_one_finding_of_the_specific_kind() -> None:
    [finding] = review_text(f"OPENAI_API_KEY=sk-proj-{'Ab3' * 16}")
    assert finding.kind == "api_key" and finding.details["service"] == "OpenAI"


def test_findings_are_masked_and_placed() -> None:
    text = f"linea uno\nclave: {PASSWORD}\nIBAN ES9121000418450200051332\n"
    findings = review_text(text, "notas.txt", [(0, 3)])
    for finding in findings:
        assert finding.evidence.endswith("****")
        assert text[finding.start : finding.end] not in json.dumps(finding.as_json())
        assert finding.page == 3 and finding.line in (2, 3)
    password = next(f for f in findings if f.kind == "password")
    assert text[password.start : password.end] == PASSWORD
    assert mask("abcdefghij") == "ab****" and mask("abc") == "****"


def test_explanations_in_english_and_spanish() -> None:
    [finding] = review_text("tarjeta 4111111111111111")
    assert "Luhn" in finding.explanation("en") and "Visa" in finding.explanation("en")
    assert "tarjeta" in finding.explanation("es")


def test_registrable_domains() -> None:
    assert registrable("mail.bbva.com.mx") == "bbva.com.mx"
    assert registrable("login.paypal.com") == "paypal.com"


# --- mail -------------------------------------------------------------------------------


def _mail(
    folder: Path,
    name: str,
    sender: str,
    body: str,
    html: str | None = None,
    attachment: tuple[str, bytes] | None = None,
    reply_to: str | None = None,
) -> Path:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "ana@empresa.es"
    message["Subject"] = name
    message["Date"] = "Tue, 01 Dec 2026 09:00:00 +0100"
    if reply_to:
        message["Reply-To"] = reply_to
    message.set_content(body)
    if html:
        message.add_alternative(html, subtype="html")
    if attachment:
        message.add_attachment(
            attachment[1], maintype="application", subtype="octet-stream", filename=attachment[0]
        )
    path = folder / f"{name}.eml"
    path.write_bytes(message.as_bytes())
    return path


@pytest.fixture
def mailbox(tmp_path: Path) -> Path:
    box = tmp_path / "mail"
    box.mkdir()
    _mail(box, "reunion", "Luis Pérez <luis@proveedor.es>", "Nos vemos el martes a las 10.")
    _mail(
        box,
        "factura",
        '"PayPal Service" <service@pay-secure-alerts.ru>',
        "Su cuenta ha sido suspendida. Verifique su cuenta hoy mismo.",
        html='<p>Entre en <a href="http://198.51.100.7/login">www.paypal.com</a></p>',
    )
    _mail(
        box,
        "pedido",
        "Luis Pérez <luis@proveedot.es>",
        "Hemos cambiado de banco: nuevos datos bancarios, transferencia urgente hoy.",
        reply_to="pagos@cuentas-nuevas.com",
    )
    _mail(
        box,
        "envio",
        "Correos <avisos@correos.es>",
        "Su paquete está en camino. Adjunto el albarán.",
        attachment=("albaran.pdf.exe", b"MZ\x90\x00"),
    )
    _mail(
        box,
        "claves",
        "Marta <marta@proveedor.es>",
        f"Te paso el .env:\nAWS_ACCESS_KEY_ID={AWS_KEY}",
    )
    return box


def _by_document(box: Path) -> dict[str, set[str]]:
    report = review_paths([box])
    found: dict[str, set[str]] = {}
    for finding in report.findings:
        found.setdefault(Path(finding.document).stem, set()).add(finding.kind)
    return found


def test_phishing_signs_in_planted_mails(mailbox: Path) -> None:
    found = _by_document(mailbox)
    assert "suspicious_mail" not in found.get("reunion", set())
    assert {"display_name_mismatch", "link_mismatch", "urgent_request", "suspicious_mail"} <= found[
        "factura"
    ]
    assert {"lookalike_domain", "reply_to_mismatch", "urgent_request", "suspicious_mail"} <= found[
        "pedido"
    ]  # proveedot.es imitates proveedor.es, a sender seen in the same mailbox
    assert {"dangerous_attachment", "suspicious_mail"} <= found["envio"]
    assert "api_key" in found["claves"] and "suspicious_mail" not in found["claves"]


def test_a_lookalike_with_cyrillic_letters(tmp_path: Path) -> None:
    _mail(tmp_path, "aviso", "Soporte <soporte@p\u0430ypal.com>", "Hola")
    found = _by_document(tmp_path)
    assert "lookalike_domain" in found["aviso"]


@pytest.mark.skipif(not MAILS.is_dir(), reason="the shared mails are not here")
def test_a_real_bank_phishing_mail_and_a_real_ordinary_one() -> None:
    report = review_paths(
        [MAILS / "spamscope" / "mail_test_17.eml", MAILS / "tika" / "testThunderbirdEml.eml"]
    )
    suspicious = {Path(f.document).name for f in report.findings if f.kind == "suspicious_mail"}
    assert suspicious == {"mail_test_17.eml"}


# --- the command ------------------------------------------------------------------------


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("SABIO_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SABIO_EMBEDDING_MODEL", "fake:words")
    monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{closed_port()}")
    return CliRunner()


def test_review_of_a_folder_masks_every_secret(cli: CliRunner, mailbox: Path) -> None:
    result = cli.invoke(app, ["review", str(mailbox), "--language", "es", "--all"])
    assert result.exit_code == 0, result.output
    assert AWS_KEY not in result.output and "AKIA****" in result.output
    assert "Revisión de seguridad" in result.output and "no lo abras" in result.output
    data = json.loads(cli.invoke(app, ["review", str(mailbox), "--json"]).stdout)
    assert AWS_KEY not in json.dumps(data)
    assert data["counts"]["suspicious_mail"] == 3


def test_review_of_a_knowledge_base_places_findings_in_the_stored_text(
    cli: CliRunner, tmp_path: Path
) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    filler = "Texto de relleno para que el documento tenga varios pasajes. " * 60
    text = f"{filler}\n\nAcceso al servidor\ncontraseña: {PASSWORD}\n\n{filler}\n\nDNI 12345678Z\n"
    (folder / "acceso.txt").write_text(text, encoding="utf-8")
    assert cli.invoke(app, ["add", str(folder)]).exit_code == 0
    result = cli.invoke(app, ["review", "default", "--json"])
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.stdout
    findings = {f["kind"]: f for f in json.loads(result.stdout)["findings"]}
    stored = document_text(load_document(Blob.from_path(folder / "acceso.txt")).sections)
    assert stored[findings["password"]["start"] : findings["password"]["end"]] == PASSWORD
    assert stored[findings["dni"]["start"] : findings["dni"]["end"]] == "12345678Z"
    assert findings["dni"]["line"] == stored[: findings["dni"]["start"]].count("\n") + 1
    for language, heading in (("en", ": 1 document\n"), ("es", ": 1 documento\n")):
        report = cli.invoke(app, ["review", "default", "--language", language])
        assert heading in report.output, report.output


# --- logs -------------------------------------------------------------------------------


def _auth_log(folder: Path, attempts: int) -> Path:
    lines = [
        f"Dec  3 08:{i:02d}:10 web01 sshd[{100 + i}]: Accepted publickey for deploy from"
        f" 10.0.0.{i % 5 + 2} port {40000 + i} ssh2"
        for i in range(20)
    ]
    lines += [
        f"Dec  3 09:00:{i:02d} web01 sshd[{900 + i}]: Failed password for invalid user"
        f" {('root', 'admin', 'oracle')[i % 3]} from 203.0.113.45 port {50000 + i} ssh2"
        for i in range(attempts)
    ]
    lines.append("Dec  3 09:01:30 web01 sshd[999]: Accepted password for admin from 203.0.113.45")
    lines.append("Dec  3 10:00:00 web01 sshd[1000]: Failed password for maria from 10.0.0.3 port 1")
    path = folder / "auth.log"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_a_brute_force_in_an_auth_log(tmp_path: Path) -> None:
    path = _auth_log(tmp_path, attempts=12)
    report = review_paths([path])
    found = {f.kind: f for f in report.findings}
    burst = found["failed_login_burst"]
    assert burst.evidence == "203.0.113.45" and burst.details["count"] == "12"
    assert burst.line == 21  # the burst's first line
    assert found["login_after_burst"].details["user"] == "admin"
    assert "10.0.0.3" not in {f.evidence for f in report.findings}  # one typo is no attack


def test_a_few_failed_logins_are_not_a_burst(tmp_path: Path) -> None:
    report = review_paths([_auth_log(tmp_path, attempts=4)])
    assert not [f for f in report.findings if f.kind == "failed_login_burst"]


def test_a_scan_in_a_web_server_access_log(tmp_path: Path) -> None:
    lines = [
        f'198.51.100.23 - - [03/Dec/2026:10:{i // 60:02d}:{i % 60:02d} +0000] "GET /{p} HTTP/1.1"'
        f' 404 153 "-" "curl/8"'
        for i, p in enumerate(f"admin{n}.php" for n in range(30))
    ]
    lines += ['192.0.2.8 - - [03/Dec/2026:10:05:00 +0000] "GET /index.html HTTP/1.1" 200 5120']
    (tmp_path / "access.log").write_text("\n".join(lines) + "\n", encoding="utf-8")
    [scan] = [f for f in review_paths([tmp_path]).findings if f.kind == "scan"]
    assert scan.evidence == "198.51.100.23" and scan.details["count"] == "30"
    assert "rutas" in scan.explanation("es")


# --- the REST API -----------------------------------------------------------------------


def test_the_review_endpoint_masks_and_places_findings(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from sabio.config import load_settings
    from sabio.server import create_app

    settings = load_settings(
        {
            "home": tmp_path / "home",
            "embedding_model": "fake:words",
            "ollama_host": f"127.0.0.1:{closed_port()}",
        },
        environ={},
    )
    note = f"Acceso VPN\nusuario: ana\npassword: {PASSWORD}\nIBAN ES9121000418450200051332\n"
    with TestClient(create_app(settings, run_worker=False), base_url="http://127.0.0.1:11435") as c:
        assert c.post("/api/v1/kbs", json={"name": "notas"}).status_code == 201
        upload = c.post("/api/v1/kbs/notas/documents", files={"files": ("vpn.txt", note.encode())})
        assert upload.json()["files"][0]["status"] == "indexed", upload.text
        answer = c.get("/api/v1/kbs/notas/review", params={"language": "es"})
        assert c.get("/api/v1/kbs/nada/review").status_code == 404
    assert answer.status_code == 200, answer.text
    assert PASSWORD not in answer.text
    findings = {f["kind"]: f for f in answer.json()["findings"]}
    assert findings["password"]["evidence"] == mask(PASSWORD) and findings["password"]["line"] == 3
    assert "Cámbiala" in findings["password"]["explanation"]
    assert findings["iban"]["line"] == 4


def test_a_spreadsheet_of_passwords(tmp_path: Path) -> None:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["Servicio", "Usuario", "Contraseña", "Notas"])
    sheet.append(["Correo", "ana", PASSWORD, "principal"])
    sheet.append(["Banco", "ana.g", "********", "pedir a Luis"])
    book.save(tmp_path / "claves.xlsx")
    report = review_paths([tmp_path / "claves.xlsx"])
    [finding] = [f for f in report.findings if f.category == "secret"]
    assert finding.kind == "password" and finding.evidence == mask(PASSWORD)
    assert finding.details["label"] == "Contraseña" and finding.line == 2


def _review_settings(tmp_path: Path) -> Any:
    from sabio.config import load_settings

    return load_settings(
        {
            "home": tmp_path / "home",
            "embedding_model": "fake:words",
            "ollama_host": f"127.0.0.1:{closed_port()}",
        },
        environ={},
    )


def test_a_dismissed_finding_stays_dismissed_through_new_reviews_and_reindexing(
    tmp_path: Path,
) -> None:
    from fastapi.testclient import TestClient

    from sabio.server import create_app

    note = f"Acceso VPN\npassword: {PASSWORD}\nIBAN ES9121000418450200051332\n"
    api = "/api/v1/kbs/notas"
    app_ = create_app(_review_settings(tmp_path), run_worker=False)
    with TestClient(app_, base_url="http://127.0.0.1:11435") as c:
        c.post("/api/v1/kbs", json={"name": "notas"})
        c.post(f"{api}/documents", files={"files": ("vpn.txt", note.encode())})
        first = c.get(f"{api}/review").json()
        iban = next(f for f in first["findings"] if f["kind"] == "iban")
        assert iban["name"] == "vpn.txt" and first["dismissed"] == []
        key = {k: iban[k] for k in ("document_id", "kind", "fingerprint")}
        made = c.post(f"{api}/review/dismissals", json={**key, "reason": "la cuenta de la empresa"})
        assert made.status_code == 201, made.text
        assert made.json()["reason"] == "la cuenta de la empresa"
        again = c.get(f"{api}/review").json()
        assert "iban" not in {f["kind"] for f in again["findings"]}
        assert [f["kind"] for f in again["dismissed"]] == ["iban"]
        assert again["counts"] == {"password": 1}
        changed = note + "Otra línea.\n"  # the file again, changed: indexed anew
        c.post(f"{api}/documents", files={"files": ("vpn.txt", changed.encode())})
        assert [f["kind"] for f in c.get(f"{api}/review").json()["dismissed"]] == ["iban"]
        wrong = c.post(f"{api}/review/dismissals", json={**key, "kind": "nonsense"})
        assert (wrong.status_code, wrong.json()["error"]["key"]) == (400, "finding_kind")
        restored = c.delete(f"{api}/review/dismissals", params=key)
        assert restored.status_code == 204
        assert "iban" in {f["kind"] for f in c.get(f"{api}/review").json()["findings"]}


def test_a_source_reviews_what_arrives_alerts_and_posts_the_webhook(tmp_path: Path) -> None:
    from fake_servers import FakeServer

    from sabio.service import Sabio
    from sabio.worker import Worker

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "vpn.txt").write_text(f"VPN\npassword: {PASSWORD}\n", encoding="utf-8")
    (docs / "acta.txt").write_text("Acta de la reunión: nada que ocultar.\n", encoding="utf-8")
    quiet = tmp_path / "quiet"
    quiet.mkdir()
    (quiet / "vpn.txt").write_text(f"VPN\npassword: {PASSWORD}\n", encoding="utf-8")
    sabio = Sabio(_review_settings(tmp_path))
    sabio.create_kb("mail")
    sabio.create_kb("other")
    with FakeServer() as n8n:
        n8n.route("POST", "/webhook/review", lambda request: (200, {"ok": True}))
        options = {"review": True, "review_webhook": f"{n8n.url}/webhook/review"}
        source, _ = sabio.add_source("folder", str(docs), "mail", options=options)
        assert source.options == options
        sabio.add_source("folder", str(quiet), "other")  # no review asked for
        worker = Worker(sabio, watch=False)
        assert worker.run_pending() == 2
        [alert] = sabio.review_alerts("mail", unseen=True)
        assert Path(alert.document).name == "vpn.txt" and alert.counts == {"password": 1}
        assert alert.severity == "high"
        assert sabio.review_alerts("other") == []
        [posted] = n8n.requests
        assert posted.json["event"] == "review.findings" and posted.json["kb"] == "mail"
        [document] = posted.json["documents"]
        assert document["document"] == "vpn.txt" and document["counts"] == {"password": 1}
        assert PASSWORD not in json.dumps(posted.json)
        assert document["findings"][0]["evidence"] == mask(PASSWORD)
        (docs / "iban.txt").write_text("IBAN ES9121000418450200051332\n", encoding="utf-8")
        worker.queue.enqueue_sync(source.id)
        assert worker.run_pending() == 1
        assert [Path(a.document).name for a in sabio.review_alerts("mail")] == [
            "iban.txt",  # only what arrived was reviewed
            "vpn.txt",
        ]
        assert len(n8n.requests) == 2
        worker.stop()
    assert sabio.alerts_seen("mail") == 2 and sabio.review_alerts("mail", unseen=True) == []
    sabio.close()


def test_sabio_review_leaves_out_what_was_dismissed_and_says_so(
    cli: CliRunner, tmp_path: Path
) -> None:
    from sabio.config import load_settings
    from sabio.service import Sabio

    note = tmp_path / "nominas.txt"
    note.write_text("IBAN ES9121000418450200051332\nDNI 12345678Z\n", encoding="utf-8")
    assert cli.invoke(app, ["add", str(note)]).exit_code == 0
    sabio = Sabio(load_settings())
    [iban] = [f for f in sabio.review().findings if f.kind == "iban"]
    [doc] = sabio.documents()
    sabio.dismiss_finding("default", doc.id, "iban", iban.fingerprint, reason="la de la empresa")
    sabio.close()
    shown = cli.invoke(app, ["review", "default"], env={"COLUMNS": "200"})
    assert "ES91****" not in shown.output and "12****" in shown.output
    assert "1 dismissed finding not shown" in shown.output
    data = json.loads(cli.invoke(app, ["review", "default", "--json"]).stdout)
    assert [f["kind"] for f in data["dismissed"]] == ["iban"] and data["counts"] == {"dni": 1}


def test_sabio_review_dismisses_a_value_everywhere_by_its_fingerprint(
    cli: CliRunner, tmp_path: Path
) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    for name in ("marzo.txt", "abril.txt"):  # the company's own account in both
        (folder / name).write_text(f"{name}\nIBAN ES9121000418450200051332\n", encoding="utf-8")
    assert cli.invoke(app, ["add", str(folder)]).exit_code == 0
    found = json.loads(cli.invoke(app, ["review", "default", "--json"]).stdout)["findings"]
    [fingerprint] = {f["fingerprint"] for f in found if f["kind"] == "iban"}
    listed = cli.invoke(app, ["review", "default"], env={"COLUMNS": "200"})
    assert fingerprint in listed.output  # each line ends with it
    gone = cli.invoke(app, ["review", "default", "--dismiss", fingerprint, "--reason", "nuestra"])
    assert gone.exit_code == 0 and "2 findings dismissed." in gone.output
    assert "2 dismissed findings not shown" in gone.output
    back = cli.invoke(app, ["review", "default", "--restore", fingerprint, "--json"])
    assert "2 findings restored." in back.stderr
    assert len(json.loads(back.stdout)["findings"]) == 2
