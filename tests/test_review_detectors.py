"""The review's later detectors over real loaders, real documents of the shared corpus
and built log files: health terms as personal data, logins from new places and at odd
hours, Office macros and files that are not what their names say."""

from __future__ import annotations

import shutil
import zipfile
from email.message import EmailMessage
from pathlib import Path

import pytest

from sabio.review import review_paths, review_text

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "documents"


def health(text: str) -> list[tuple[str, str, str]]:
    return [
        (text[f.start : f.end], f.details["what"], f.severity.value)
        for f in review_text(text)
        if f.kind == "health"
    ]


@pytest.mark.parametrize(
    ("text", "term", "what"),
    [
        ("Adjunto la historia clínica del paciente.", "historia clínica", "record"),
        ("Entrego la baja medica de Ana el lunes.", "baja medica", "record"),
        ("Parte de baja por incapacidad temporal", "Parte de baja", "record"),
        ("She was diagnosed with\ntype 2 diabetes last year.", "diagnosed with", "record"),
        ("Antecedentes: diabetes mellitus e hipertensión.", "diabetes mellitus", "diagnosis"),
        ("Paciente VIH en seguimiento", "VIH", "diagnosis"),
        ("Tratamiento: sertralina 50 mg cada 24 h", "sertralina", "medication"),
        ("Takes levothyroxine every morning", "levothyroxine", "medication"),
        ("İzmir'den: Diabetes Mellitus", "Diabetes Mellitus", "diagnosis"),  # lower() grows
    ],
)
def test_health_terms_in_spanish_and_english(text: str, term: str, what: str) -> None:
    found = health(text)
    assert (term, what, "medium" if what == "record" else "low") in found


@pytest.mark.parametrize(
    "text",
    [
        "El cáncer de la industria: la crisis del sector",  # a figure of speech
        "La vih es una palabra rara; el epoc también",  # acronyms only in capitals
        "El delito ha prescrito y la receta del pastel lleva litio? No.",
        "Informe de alta del cliente en el sistema",
        "Baterías de litio, ibuprofenos no",
    ],
)
def test_ordinary_words_are_not_health_data(text: str) -> None:
    assert health(text) == []


def test_health_findings_are_masked_and_explained(tmp_path: Path) -> None:
    note = tmp_path / "baja.txt"
    note.write_text("Justificante\n\nBaja médica de Luis por lumbalgia; toma ibuprofeno.\n")
    report = review_paths([note])
    found = [f for f in report.findings if f.kind == "health"]
    assert [f.details["what"] for f in found] == ["record", "diagnosis", "medication"]
    assert [f.line for f in found] == [3, 3, 3]
    assert all(f.evidence.endswith("****") and "lumbalgia" not in f.evidence for f in found)
    assert "GDPR" in found[0].explanation("en") and "salud" in found[0].explanation("es")
    assert "diagnóstico" in found[1].explanation("es")


def test_few_health_findings_in_documents_that_are_not_medical() -> None:
    """The shared corpus's news pages, mails and spreadsheets hold none; its medical
    papers and a patient chart do."""
    news = sorted((DATA / "html").glob("*"))[:15] + sorted((DATA / "email").glob("*.eml"))[:15]
    report = review_paths(news)
    assert report.documents >= 20
    assert [f.document for f in report.findings if f.kind == "health"] == []


# --- logins from new places and at odd hours --------------------------------------------


def _auth_log(tmp_path: Path, extra: list[str]) -> Path:
    """Ten working days of ana's and luis's SSH logins from the office network (any
    address in 10.0.0.0/24), then ``extra`` lines."""
    lines = []
    for day in range(1, 11):
        for user, hour, host in (("ana", 9, 11), ("luis", 15, 12 + day % 5)):
            lines.append(
                f"Dec {day:2d} {hour:02d}:{day + 10:02d}:07 srv sshd[{day}{hour}]: Accepted"
                f" publickey for {user} from 10.0.0.{host} port 5{day}22 ssh2"
            )
    path = tmp_path / "auth.log"
    path.write_text("\n".join(lines + extra) + "\n", encoding="utf-8")
    return path


def _logins(path: Path) -> list[tuple[str, str, str]]:
    return [
        (f.kind, f.details["user"], f.evidence)
        for f in review_paths([path]).findings
        if f.kind in ("login_new_place", "login_odd_hour")
    ]


def test_a_login_from_a_new_place_and_at_night(tmp_path: Path) -> None:
    path = _auth_log(
        tmp_path,
        [
            "Dec 11 09:05:00 srv sshd[99]: Accepted password for ana from 10.0.0.200 port 1 ssh2",
            "Dec 11 03:41:12 srv sshd[98]: Accepted password for luis from 198.51.100.7 port 2",
        ],
    )
    found = _logins(path)
    # ana's neighbour address is her office; luis's is new and at night
    assert sorted(found) == [
        ("login_new_place", "luis", "198.51.100.7"),
        ("login_odd_hour", "luis", "198.51.100.7"),
    ]
    report = review_paths([path])
    [night] = [f for f in report.findings if f.kind == "login_odd_hour"]
    assert night.line == 22 and night.details["hour"] == "03"
    assert "03:00" in night.explanation("en") and "de noche" in night.explanation("es")


def test_a_login_from_a_new_country_by_the_registries_data(tmp_path: Path) -> None:
    pytest.importorskip("iptocc")  # the geo extra
    home = [  # ana at home, in Spain, from two Spanish networks (83.44.0.0/16: ES)
        f"Dec {d:2d} 09:1{d % 10}:07 srv sshd[{d}]: Accepted publickey for ana from"
        f" 83.44.{d % 2}.{10 + d} port 4{d} ssh2"
        for d in range(1, 13)
    ]
    away = [
        "Dec 13 10:05:00 srv sshd[90]: Accepted password for ana from 83.44.7.2 port 1 ssh2",
        "Dec 13 11:05:00 srv sshd[91]: Accepted password for ana from 8.8.8.8 port 2 ssh2",
    ]
    path = tmp_path / "auth.log"
    path.write_text("\n".join(home + away) + "\n", encoding="utf-8")
    found = {f.kind: f for f in review_paths([path]).findings if f.kind.startswith("login_new")}
    assert set(found) == {"login_new_place", "login_new_country"}
    assert found["login_new_place"].evidence == "83.44.7.2"  # a new network, same country
    abroad = found["login_new_country"]
    assert (abroad.evidence, abroad.severity, abroad.line) == ("8.8.8.8", "high", 14)
    assert abroad.details["country"] == "US" and abroad.details["countries"] == "ES"
    assert "in US, a country not seen for ana" in abroad.explanation("en")
    assert "un país que no aparece" in abroad.explanation("es")
    assert _logins(_auth_log(tmp_path, [])) == []  # private addresses: no country


def test_usual_logins_are_not_reported(tmp_path: Path) -> None:
    assert _logins(_auth_log(tmp_path, [])) == []


def test_a_night_shift_is_not_odd_for_who_works_it(tmp_path: Path) -> None:
    nights = [
        f"Dec {d:2d} 02:00:00 srv sshd[7{d}]: Accepted publickey for eva from 10.0.0.9 port 3"
        for d in range(1, 11)
    ]
    assert _logins(_auth_log(tmp_path, nights)) == []


def test_a_new_place_in_a_web_server_access_log(tmp_path: Path) -> None:
    lines = [
        f'10.1.2.{d} - marta [{d:02d}/Dec/2026:10:00:00 +0000] "GET /intranet/ HTTP/1.1" 200 512'
        for d in range(1, 12)
    ]
    lines += [  # a second request of the same session is not another login
        '10.1.2.11 - marta [11/Dec/2026:10:05:00 +0000] "GET /intranet/a HTTP/1.1" 200 512',
        '203.0.113.9 - marta [12/Dec/2026:23:10:00 +0000] "POST /login HTTP/1.1" 302 0',
        '203.0.113.9 - - [12/Dec/2026:23:09:00 +0000] "GET /login HTTP/1.1" 200 0',
    ]
    path = tmp_path / "access.log"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert _logins(path) == [("login_new_place", "marta", "203.0.113.9")]


# --- macros and disguised files ----------------------------------------------------------


def _with_macros(source: Path, target: Path) -> Path:
    """A real Word file with a VBA project part added, as Word saves a .docm."""
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(target, "w") as copy:
        for item in original.infolist():
            copy.writestr(item, original.read(item.filename))
        copy.writestr("word/vbaProject.bin", _OLE_HEADER + "_VBA_PROJECT".encode("utf-16-le"))
    return target


# an OLE2 compound file's signature and its directory's stream name, as Office writes them
_OLE_HEADER = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504)


def _dangerous(folder: Path) -> dict[str, str]:
    return {
        Path(f.document).name: f.details["why"]
        for f in review_paths([folder]).findings
        if f.kind == "dangerous_file"
    }


def test_macro_enabled_and_disguised_files_in_a_folder(tmp_path: Path) -> None:
    word = sorted((DATA / "docx").glob("*.docx"))[0]
    shutil.copy(word, tmp_path / "informe.docx")  # an ordinary one
    _with_macros(word, tmp_path / "informe.docm")
    _with_macros(word, tmp_path / "factura.docx")  # a .docm renamed
    (tmp_path / "old.xls").write_bytes(_OLE_HEADER + "_VBA_PROJECT_CUR".encode("utf-16-le"))
    (tmp_path / "plain.xls").write_bytes(_OLE_HEADER + "Workbook".encode("utf-16-le"))
    (tmp_path / "recibo.pdf").write_bytes(b"MZ\x90\x00" + bytes(200))
    (tmp_path / "recibo.pdf.exe").write_bytes(b"MZ\x90\x00" + bytes(200))
    (tmp_path / "setup.exe").write_bytes(b"MZ\x90\x00" + bytes(200))  # an installer
    assert _dangerous(tmp_path) == {
        "informe.docm": "macro",
        "factura.docx": "disguised_macro",
        "old.xls": "macro",
        "recibo.pdf": "disguised_executable",
        "recibo.pdf.exe": "double_extension",
    }
    [renamed] = [f for f in review_paths([tmp_path / "factura.docx"]).findings]
    assert renamed.severity.value == "high" and renamed.line == 1
    assert "renombrado" in renamed.explanation("es")


def test_no_dangerous_file_among_the_shared_corpus() -> None:
    assert _dangerous(DATA / "docx") == {} and _dangerous(DATA / "xlsx") == {}


def test_a_renamed_macro_file_attached_to_a_mail(tmp_path: Path) -> None:
    word = sorted((DATA / "docx").glob("*.docx"))[0]
    message = EmailMessage()
    message["From"] = "Ana <ana@example.org>"
    message["To"] = "luis@example.org"
    message["Subject"] = "El informe"
    message.set_content("Te lo mando.")
    message.add_attachment(
        _with_macros(word, tmp_path / "x.docm").read_bytes(),
        maintype="application",
        subtype="octet-stream",
        filename="informe.docx",
    )
    (tmp_path / "mails").mkdir()
    (tmp_path / "mails" / "m.eml").write_bytes(message.as_bytes())
    signs = [
        f for f in review_paths([tmp_path / "mails"]).findings if f.kind == "dangerous_attachment"
    ]
    assert [s.details["why"] for s in signs] == ["disguised_macro"]
