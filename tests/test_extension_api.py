"""The routes of Sabio's browser extension (server/extension_api.py), in-process: the real
app over a real data directory, the scripted chat model ``fake:cite`` and the word-hash
embedder of conftest.py. A page is sent once and asked about alone and with a knowledge
base (its citations told apart), saved as HTML, PDF bytes and a selection and then found
by the search API; CORS for extensions only; pairing with accounts on. The extension
itself, in a real Chromium, is tests/test_extension.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import need_data
from fastapi import FastAPI
from fastapi.testclient import TestClient
from test_auth import PASSWORD, THIS_COMPUTER, _browser, _server, _user
from test_server import API, ETNA, JUDGMENT, LOCAL, _error, _events, _settings

from sabio.errors import ConfigError, NotFoundError
from sabio.pages import open_page
from sabio.server.extension_api import PageShelf

EXT = f"{API}/extension"
EXTENSION = "chrome-extension://abcdefghijklmnopabcdefghijklmnop"
FARO_PAGE = (
    "El faro de Alejandría\n\n"
    "El faro de Alejandría guiaba a los barcos hacia el puerto durante la noche. "
    "Medía más de cien metros y tenía un espejo que reflejaba la luz del sol.\n\n"
    "Un terremoto lo derribó en el siglo XIV."
)
ARTICLE = """<!doctype html><html lang="en"><head><title>The tides of Brest</title></head>
<body><nav>Home | News | Login</nav><article><h1>The tides of Brest</h1>
<p>In Brest the spring tides reach eight metres, among the largest in Europe, and the
harbour was built around them in the seventeenth century.</p>
<p>Fishermen read the tide tables every morning before leaving the harbour.</p>
</article><footer>Cookie settings</footer></body></html>"""


@pytest.fixture
def local(tmp_path: Path) -> Iterator[TestClient]:
    app_settings = _settings(tmp_path, chat_model="fake:cite", max_upload_mb=1)
    with _server(app_settings) as app:
        yield TestClient(app, base_url=LOCAL, headers={"Origin": EXTENSION})


def _open(client: TestClient, text: str = FARO_PAGE, url: str = "https://faro.example/") -> str:
    opened = client.post(f"{EXT}/pages", json={"url": url, "title": "El faro", "text": text})
    assert opened.status_code == 200, opened.text
    assert opened.json()["passages"] >= 1
    page_id: str = opened.json()["page_id"]
    return page_id


def _done(response: httpx.Response) -> dict[str, object]:
    events = _events(response)
    assert events[-1][0] == "done", events
    return events[-1][1]


def test_a_page_is_sent_once_and_its_citations_point_into_it(local: TestClient) -> None:
    page_id = _open(local)
    for question in ("¿Qué guiaba el faro de Alejandría?", "¿Cuánto medía el faro?"):
        asked = local.post(f"{EXT}/pages/{page_id}/ask", json={"question": question})
        done = _done(asked)
        citations = done["citations"]
        assert isinstance(citations, list) and citations, done
        cited = citations[0]
        assert cited["origin"] == "page" and cited["file_url"] == "https://faro.example/"
        assert cited["text"] == FARO_PAGE[cited["start"] : cited["end"]]
        assert "faro" in cited["text"]
        assert all(quote in cited["text"] for quote in cited["quotes"])


def test_a_page_is_summarized_and_translated_by_the_document_tasks(local: TestClient) -> None:
    page_id = _open(local)
    summary = local.post(f"{EXT}/pages/{page_id}/summarize", json={"length": "short"})
    assert summary.status_code == 200, summary.text
    assert summary.json()["text"] and summary.json()["language"] == "es"
    body = {"to": "en", "model": "fake:echo"}
    translated = local.post(f"{EXT}/pages/{page_id}/translate", json=body)
    assert translated.status_code == 200, translated.text  # fake:echo: the words as sent
    assert translated.json()["language"] == "en" and translated.json()["problems"] == []
    assert translated.json()["markdown"].strip().split("\n\n") == FARO_PAGE.split("\n\n")


def test_a_page_is_translated_block_by_block_for_translation_in_place(local: TestClient) -> None:
    page_id = _open(local)
    blocks = [
        "El faro de Alejandría",
        "Medía  más de\ncien metros.",
        "1.250 · 3D",
        "—",
        "Ver <a1>el <em2>mapa</em2></a1><br3/>hoy",
    ]
    body = {"to": "en", "model": "fake:upper", "blocks": blocks}
    translated = local.post(f"{EXT}/pages/{page_id}/translate", json=body)
    assert translated.status_code == 200, translated.text
    assert translated.json()["blocks"] == [  # one for one; a block with no words as it was
        "EL FARO DE ALEJANDRÍA",
        "MEDÍA MÁS DE CIEN METROS.",
        "1.250 · 3D",
        "—",
        "VER <A1>EL <EM2>MAPA</EM2></A1><BR3/>HOY",  # inline elements' tags kept
    ]
    assert translated.json()["problems"] == []
    assert translated.json()["markdown"].endswith("—\n\nVER EL MAPA HOY")
    too_many = local.post(f"{EXT}/pages/{page_id}/translate", json={**body, "blocks": ["x"] * 5001})
    assert too_many.status_code == 422
    for blocks in ([], ["El faro"]):  # the embedded model only quotes: it is not asked
        embedded = {"to": "en", "model": "embedded:smollm2", "blocks": blocks}
        refused = local.post(f"{EXT}/pages/{page_id}/translate", json=embedded)
        assert "cannot translate" in _error(refused, 400, "bad_request")
        assert refused.json()["error"]["key"] == "translation_needs_model"


def test_a_page_with_a_knowledge_base_cites_both_kinds(local: TestClient) -> None:
    saved = local.post(
        f"{EXT}/kbs/default/pages",
        params={"url": "https://volcanoes.example/etna", "title": "Etna"},
        content=ETNA.encode(),
        headers={"Content-Type": "text/plain"},
    )
    assert saved.status_code == 200, saved.text
    page_id = _open(local)
    body = {"question": "When did Mount Etna erupt?", "kb": "default", "style": "extractive"}
    done = _done(local.post(f"{EXT}/pages/{page_id}/ask", json=body))
    origins = {c["origin"] for c in done["citations"]}  # type: ignore[attr-defined]
    assert "kb" in origins, done
    kb_cited = next(c for c in done["citations"] if c["origin"] == "kb")  # type: ignore[attr-defined]
    assert kb_cited["kb"] == "default" and "2021" in kb_cited["snippet"]
    alone = _done(local.post(f"{EXT}/pages/{page_id}/ask", json={**body, "kb": None}))
    assert {c["origin"] for c in alone["citations"]} <= {"page"}  # type: ignore[attr-defined]


def test_a_saved_page_keeps_its_main_content_and_is_found_by_search(local: TestClient) -> None:
    url = "https://news.example/brest"
    saved = local.post(
        f"{EXT}/kbs/default/pages",
        params={"url": url, "title": "Tides"},
        content=ARTICLE.encode(),
        headers={"Content-Type": "text/html; charset=utf-8"},
    )
    assert saved.status_code == 200, saved.text
    out = saved.json()
    assert out["status"] == "indexed" and out["source"] == url and out["passages"] >= 1
    found = local.get(f"{API}/kbs/default/search", params={"q": "spring tides Brest"}).json()
    assert found["hits"] and found["hits"][0]["file_url"] == url
    texts = " ".join(h["text"] for h in found["hits"])
    assert "eight metres" in texts and "Cookie settings" not in texts and "Login" not in texts
    again = local.post(
        f"{EXT}/kbs/default/pages",
        params={"url": url, "title": "Tides"},
        content=ARTICLE.replace("eight", "nine").encode(),
        headers={"Content-Type": "text/html"},
    )
    assert again.json()["outcome"] == "updated"
    documents = local.get(f"{API}/kbs/default/documents").json()
    assert [d["name"] for d in documents].count("brest") == 1


def test_a_pdf_and_a_selection_are_saved(local: TestClient) -> None:
    pdf = need_data("documents", *JUDGMENT).read_bytes()
    if len(pdf) > 2**20:
        pytest.skip("the judgment is over this test's 1 MB limit")
    saved = local.post(
        f"{EXT}/kbs/default/pages",
        params={"url": "https://courts.example/judgment.pdf", "title": "Judgment"},
        content=pdf,
        headers={"Content-Type": "application/pdf"},
    )
    assert saved.status_code == 200, saved.text
    assert saved.json()["status"] == "indexed" and saved.json()["passages"] > 1
    chosen = "The harbour master keeps the tide tables in the lighthouse."
    selection = local.post(
        f"{EXT}/kbs/default/pages",
        params={"url": "https://faro.example/#top", "title": "Faro"},
        content=chosen.encode(),
        headers={"Content-Type": "text/plain"},
    )
    assert selection.json()["source"].startswith("https://faro.example/#selection-")
    hits = local.get(f"{API}/kbs/default/search", params={"q": "harbour master"}).json()["hits"]
    assert hits[0]["text"] == chosen


def test_a_pdf_in_the_tab_is_asked_about_with_its_pages(local: TestClient) -> None:
    pdf = need_data("documents", *JUDGMENT).read_bytes()
    if len(pdf) > 2**20:
        pytest.skip("the judgment is over this test's 1 MB limit")
    opened = local.post(
        f"{EXT}/pages/file",
        params={"url": "https://courts.example/judgment.pdf", "title": "Judgment"},
        content=pdf,
        headers={"Content-Type": "application/pdf"},
    )
    assert opened.status_code == 200, opened.text
    page_id = opened.json()["page_id"]
    body = {"question": "What did the Supreme Court decide?", "style": "extractive"}
    done = _done(local.post(f"{EXT}/pages/{page_id}/ask", json=body))
    cited = done["citations"]
    assert cited and all(c["origin"] == "page" for c in cited)  # type: ignore[union-attr]
    assert all(isinstance(c["page"], int) for c in cited)  # type: ignore[union-attr]
    assert all(c["text"] and c["snippet"][:20] in " ".join(c["text"].split()) for c in cited)  # type: ignore[union-attr]
    assert local.get(f"{API}/kbs").json() == []  # asked about, not saved
    unreadable = local.post(
        f"{EXT}/pages/file",
        params={"url": "https://courts.example/broken.pdf"},
        content=b"%PDF-1.4 broken",
        headers={"Content-Type": "application/pdf"},
    )
    assert unreadable.json()["error"]["key"] == "page_unreadable"


LONG_PAGE = ("El faro de Alejandría guiaba a los barcos hacia el puerto. " * 4 + "\n\n") * 1000


def test_open_pages_are_kept_within_their_memory_and_the_one_used_longest_ago_goes_first() -> None:
    a, b, c, d = (open_page(LONG_PAGE, f"https://{n}.example/") for n in "abcd")
    assert 0.5 * 2**20 < a.size < 0.66 * 2**20  # three fit in 2 MB, four do not
    shelf = PageShelf()
    for page in (a, b, c):
        shelf.put(page, limit_mb=2)
    assert shelf.get(a.id, None) is a  # used: now the last to go
    shelf.put(d, limit_mb=2)
    assert len(shelf) == 3
    assert [shelf.get(p.id, None) for p in (a, c, d)] == [a, c, d]
    with pytest.raises(NotFoundError) as gone:
        shelf.get(b.id, None)
    assert gone.value.key == "page_gone"
    with pytest.raises(ConfigError) as too_big:
        shelf.put(open_page(LONG_PAGE * 4), limit_mb=2)
    assert too_big.value.key == "page_too_big" and too_big.value.args_for_key["limit"] == 2
    assert len(shelf) == 3  # a page refused forgets nothing


def test_pages_over_the_memory_for_open_pages_are_forgotten_or_refused(tmp_path: Path) -> None:
    app_settings = _settings(tmp_path, chat_model="fake:cite", open_pages_mb=2)
    with _server(app_settings) as app:
        client = TestClient(app, base_url=LOCAL, headers={"Origin": EXTENSION})
        ids = [_open(client, LONG_PAGE, f"https://{n}.example/") for n in range(5)]
        asked = [
            client.post(f"{EXT}/pages/{i}/ask", json={"question": "¿Qué guiaba?"}) for i in ids
        ]
        assert asked[0].status_code == 404 and asked[0].json()["error"]["key"] == "page_gone"
        assert asked[-1].status_code == 200, asked[-1].text  # by size: not all 32 kept
        too_big = client.post(
            f"{EXT}/pages", json={"url": "https://big.example/", "text": LONG_PAGE * 4}
        )
        message = _error(too_big, 400, "bad_request")
        assert too_big.json()["error"]["key"] == "page_too_big"
        assert "open_pages_mb" in message and "2 MB" in message
        again = client.post(f"{EXT}/pages/{ids[-1]}/ask", json={"question": "¿Qué guiaba?"})
        assert again.status_code == 200  # the refused page took nothing's place


def test_bad_input_changes_nothing(local: TestClient) -> None:
    def save(content: bytes, kind: str, url: str = "https://a.example/") -> httpx.Response:
        return local.post(
            f"{EXT}/kbs/default/pages",
            params={"url": url},
            content=content,
            headers={"Content-Type": kind},
        )

    assert "1 MB" in _error(save(b"x" * (2**20 + 1), "text/plain"), 413, "too_large")
    _error(save(b"\x00\x01", "application/x-unknown"), 400, "bad_request")
    _error(save(b"text", "text/plain", url="javascript:alert(1)"), 400, "bad_request")
    _error(save(b"   ", "text/plain"), 400, "bad_request")
    assert local.get(f"{API}/kbs/default/documents").status_code in (200, 404)
    assert all(d["status"] != "indexed" for d in local.get(f"{API}/kbs").json())
    gone = local.post(f"{EXT}/pages/nope/ask", json={"question": "¿Y?"})
    assert _error(gone, 404, "not_found")
    assert gone.json()["error"]["key"] == "page_gone"


def test_only_extensions_get_cors_and_other_sites_are_refused(local: TestClient) -> None:
    preflight = {"Access-Control-Request-Method": "POST"}
    allowed = local.options(f"{EXT}/pages", headers=preflight)
    assert allowed.status_code == 204
    assert allowed.headers["access-control-allow-origin"] == EXTENSION
    listed = local.get(f"{API}/kbs")
    assert listed.headers["access-control-allow-origin"] == EXTENSION
    site = {"Origin": "https://evil.example"}
    other = local.options(f"{EXT}/pages", headers={**site, **preflight})
    assert "access-control-allow-origin" not in other.headers
    refused = local.post(f"{EXT}/pages", json={"url": "x", "text": "hola"}, headers=site)
    _error(refused, 403, "forbidden")
    elsewhere = local.post(f"{API}/kbs", json={"name": "nueva"})  # not the extension's route
    _error(elsewhere, 403, "forbidden")


@pytest.fixture
def accounts(tmp_path: Path) -> Iterator[FastAPI]:
    with _server(_settings(tmp_path, auth=True, chat_model="fake:cite")) as app:
        yield app


def test_pairing_gives_a_revocable_token_for_a_code_that_works_once(accounts: FastAPI) -> None:
    web = _browser(accounts, LOCAL, THIS_COMPUTER)
    created = web.post(f"{API}/auth/setup", json={"name": "ana", "password": PASSWORD})
    web.headers["X-CSRF-Token"] = created.json()["csrf_token"]
    code = web.post(f"{EXT}/pairing").json()["code"]
    extension = TestClient(accounts, base_url=LOCAL, headers={"Origin": EXTENSION})
    _error(extension.post(f"{EXT}/pages", json={"url": "x", "text": "hola"}), 401, "unauthorized")
    paired = extension.post(f"{EXT}/pair", json={"code": code.lower(), "name": "Chromium"})
    assert paired.status_code == 200, paired.text
    assert paired.json()["user"] == "ana"
    _error(extension.post(f"{EXT}/pair", json={"code": code}), 400, "bad_request")  # once
    extension.headers["Authorization"] = f"Bearer {paired.json()['token']}"
    page_id = _open(extension)
    assert [kb["name"] for kb in extension.get(f"{API}/kbs").json()] == []
    beyond = extension.get(f"{API}/chats")  # the token is the extension's: its routes only
    assert _error(beyond, 403, "forbidden") and beyond.json()["error"]["key"] == "token_scope"
    assert extension.get("/api/tags").status_code == 403
    listed = web.get(f"{API}/auth/tokens").json()
    token = next(t for t in listed if t["name"] == "browser extension (Chromium)")
    assert token["scope"] == "extension"
    assert web.delete(f"{API}/auth/tokens/{token['id']}").status_code == 204
    asked = extension.post(f"{EXT}/pages/{page_id}/ask", json={"question": "¿Qué guiaba?"})
    _error(asked, 401, "unauthorized")


def test_wrong_pairing_codes_are_counted_per_address(accounts: FastAPI) -> None:
    extension = TestClient(accounts, base_url=LOCAL, headers={"Origin": EXTENSION})
    for _ in range(5):
        wrong = extension.post(f"{EXT}/pair", json={"code": "AAAA-BBBB"})
        assert _error(wrong, 400, "bad_request")
        assert wrong.json()["error"]["key"] == "pairing_code_wrong"
    _error(extension.post(f"{EXT}/pair", json={"code": "AAAA-BBBB"}), 429, "too_many_attempts")


def test_without_accounts_no_pairing_is_needed(local: TestClient) -> None:
    refused = local.post(f"{EXT}/pair", json={"code": "AAAA-BBBB"})
    assert refused.json()["error"]["key"] == "pairing_not_needed"


def test_a_member_asks_with_a_knowledge_base_only_with_read_access_and_sees_own_pages(
    accounts: FastAPI,
) -> None:
    admin = _browser(accounts, LOCAL, THIS_COMPUTER)
    created = admin.post(f"{API}/auth/setup", json={"name": "ana", "password": PASSWORD})
    admin.headers["X-CSRF-Token"] = created.json()["csrf_token"]
    assert admin.post(f"{API}/kbs", json={"name": "casos"}).status_code == 201
    bea = _user(accounts, admin, "bea")
    page_id = _open(bea)
    asked = bea.post(f"{EXT}/pages/{page_id}/ask", json={"question": "¿El faro?", "kb": "casos"})
    assert _error(asked, 403, "forbidden") and asked.json()["error"]["key"] == "kb_forbidden"
    saving = bea.post(
        f"{EXT}/kbs/casos/pages",
        params={"url": "https://a.example/"},
        content=b"Un texto.",
        headers={"Content-Type": "text/plain"},
    )
    _error(saving, 403, "forbidden")
    theirs = admin.post(f"{EXT}/pages/{page_id}/ask", json={"question": "¿El faro?"})
    assert theirs.json()["error"]["key"] == "page_gone"  # another user's page is not there
    alone = bea.post(f"{EXT}/pages/{page_id}/ask", json={"question": "¿Qué guiaba el faro?"})
    assert _done(alone)["citations"]
