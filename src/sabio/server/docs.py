"""The API's reference pages: ``/docs`` (Swagger UI) and ``/redoc`` (ReDoc), with their
scripts and styles served by Sabio from the files that the ``fastapi-offline`` package
ships (the projects' own builds), never from a CDN. So they work offline and tell no
third party who reads them; a Content-Security-Policy lets them load nothing from
anywhere else, and Swagger UI's online validator (a badge from another site) is off.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = Path(str(files("fastapi_offline") / "static"))
ASSETS_URL = "/docs-assets"
ICON_URL = "/static/icon.svg"
DOCS_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; "
    "object-src 'none'"
)
"""The pages' scripts are inline (Swagger UI's start), so 'unsafe-inline'; everything
they load comes from Sabio itself."""


def install_docs(app: FastAPI, openapi_url: str = "/openapi.json") -> None:
    """``/docs`` and ``/redoc`` for ``app``, created with ``docs_url=None, redoc_url=None``."""
    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS), name="docs-assets")
    headers = {"Content-Security-Policy": DOCS_POLICY}

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        page = get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} - API",
            swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=ICON_URL,
            oauth2_redirect_url=None,
            swagger_ui_parameters={"validatorUrl": None},
        )
        page.headers.update(headers)
        return page

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        page = get_redoc_html(
            openapi_url=openapi_url,
            title=f"{app.title} - API",
            redoc_js_url=f"{ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=ICON_URL,
            with_google_fonts=False,
        )
        page.headers.update(headers)
        return page
