"""The deployment files in deploy/ parse, name only commands, options and settings that
exist, agree with one another, and are shown in docs/deploy.md as they are."""

from __future__ import annotations

import configparser
import dataclasses
import inspect
import json
import re
import shlex
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import typer.core
import typer.main
import uvicorn.config

from sabio.cli import app
from sabio.config import Settings, load_settings
from sabio.server.access import API
from sabio.server.api import router

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
# Variables the files set that are not Sabio's settings, with the module that reads each.
OTHER_VARIABLES: dict[str, ModuleType | Callable[..., Any]] = {
    "FORWARDED_ALLOW_IPS": uvicorn.config,
    "OLLAMA_HOST": load_settings,
}


def _parse_sabio(argv: list[str]) -> Any:  # click's Context, which typer vendors
    """Parse ``argv`` (a ``sabio …`` command line) as the CLI would, without running it:
    an unknown command or option, a missing argument or a bad value fails here."""
    assert Path(argv[0]).name == "sabio", argv
    command = typer.main.get_command(app)
    name, args = "sabio", argv[1:]
    while isinstance(command, typer.core.TyperGroup) and args and not args[0].startswith("-"):
        sub = command.get_command(typer.Context(command), args[0])
        assert sub is not None, f"no command 'sabio {args[0]}' in {argv}"
        command, name, args = sub, args[0], args[1:]
    assert not isinstance(command, typer.core.TyperGroup), f"{argv} names no command"
    return command.make_context(name, list(args))


def _check_environment(env: Mapping[str, str]) -> Any:
    """Every variable is a Sabio setting (or one another program reads), and the settings
    load from them."""
    fields = {f.name for f in dataclasses.fields(Settings)}
    for key in env:
        if key.startswith("SABIO_"):
            assert key[len("SABIO_") :].lower() in fields, f"{key} is no setting"
        else:
            assert key in OTHER_VARIABLES, f"{key} is read by nothing"
            assert key in inspect.getsource(OTHER_VARIABLES[key]), key
    return load_settings(environ=dict(env))


def _env_file(path: Path) -> dict[str, str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    pairs = [line.split("=", 1) for line in lines if line.strip() and not line.startswith("#")]
    return {key: value for key, value in pairs}


def _unit(name: str) -> configparser.ConfigParser:
    unit = configparser.ConfigParser(interpolation=None, strict=True)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read_string((DEPLOY / name).read_text(encoding="utf-8"))
    return unit


def _compose() -> dict[str, Any]:
    data = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _interpolated(value: str) -> str:
    """``value`` with compose's ``${NAME}`` and ``${NAME:?message}`` filled in."""
    return re.sub(r"\$\{[A-Z_]+(:\?[^}]*)?\}", "secret", value)


def test_the_compose_file_runs_sabio_on_postgresql_with_pgvector_and_ollama() -> None:
    services = _compose()["services"]
    assert services["db"]["image"].startswith("pgvector/pgvector:")
    assert services["ollama"]["image"].startswith("ollama/ollama")
    commands = {name: s["command"] for name, s in services.items() if "command" in s}
    assert {name: _parse_sabio(argv).info_name for name, argv in commands.items()} == {
        "sabio": "serve",
        "worker": "worker",
    }
    for name in commands:
        env = {k: _interpolated(str(v)) for k, v in services[name]["environment"].items()}
        settings = _check_environment(env)
        assert settings.database_url.startswith("postgresql://")
        host = settings.ollama_host.split("//")[1].split(":")[0]
        assert host in services, f"{name} reaches Ollama at {host}, no service"
        database_host = settings.database_url.split("@")[1].split("/")[0]
        assert database_host in services


def test_the_compose_file_refers_only_to_what_it_declares() -> None:
    compose = _compose()
    services = compose["services"]
    for name, service in services.items():
        assert set(service.get("depends_on", {})) <= set(services), name
        for volume in service.get("volumes", []):
            assert volume.split(":")[0] in compose["volumes"], f"{name}: {volume}"
        if "build" in service:
            assert (DEPLOY / service["build"]["context"] / service["build"]["dockerfile"]).is_file()
    serve = _parse_sabio(services["sabio"]["command"])
    assert services["sabio"]["ports"] == [f"127.0.0.1:11435:{serve.params['port']}"]
    assert serve.params["auth"] is True  # it listens beyond its container


def test_the_image_starts_the_server_with_login() -> None:
    lines = (DEPLOY / "Dockerfile").read_text(encoding="utf-8").splitlines()
    assert next(line for line in lines if line.startswith("FROM ")).startswith("FROM python:3.1")
    command = json.loads(next(line for line in lines if line.startswith("CMD "))[4:])
    assert _parse_sabio(command).params["auth"] is True


@pytest.mark.parametrize(
    ("name", "command"), [("sabio.service", "serve"), ("sabio-worker.service", "worker")]
)
def test_the_systemd_units_run_sabio_with_the_shared_settings(name: str, command: str) -> None:
    unit = _unit(name)
    assert set(unit.sections()) == {"Unit", "Service", "Install"}
    service = unit["Service"]
    assert _parse_sabio(shlex.split(service["ExecStart"])).info_name == command
    assert Path(service["EnvironmentFile"]).name == "sabio.env"
    settings = _check_environment(_env_file(DEPLOY / "sabio.env"))
    assert str(settings.home) == service["ReadWritePaths"]
    assert settings.database_url.startswith("postgresql://") and settings.auth


def test_the_proxy_sends_https_to_the_servers_port_and_checks_their_health() -> None:
    text = (DEPLOY / "Caddyfile").read_text(encoding="utf-8")
    code = "\n".join(line for line in text.splitlines() if not line.strip().startswith("#"))
    depth = 0
    for char in code:
        depth += {"{": 1, "}": -1}.get(char, 0)
        assert depth >= 0
    assert depth == 0, "unbalanced braces"
    upstreams = re.search(r"reverse_proxy ([^{\n]+)", code)
    assert upstreams is not None
    serve = _parse_sabio(shlex.split(_unit("sabio.service")["Service"]["ExecStart"]))
    ports = {address.rsplit(":", 1)[1] for address in upstreams[1].split()}
    assert ports == {str(serve.params["port"])}
    health = re.search(r"health_uri (\S+)", code)
    assert health is not None
    assert health[1] in {getattr(route, "path", "") for route in router.routes}
    assert health[1].startswith(API)


def test_the_deployment_doc_shows_every_file_as_it_is() -> None:
    doc = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    missing = [
        path.name
        for path in sorted(DEPLOY.iterdir())
        if not path.name.startswith(".")  # deploy/.env: the password, the user's own
        and path.read_text(encoding="utf-8") not in doc
    ]
    assert missing == []
    parsed_above = {"compose.yaml", "Dockerfile", "sabio.env", "sabio.service"}
    parsed_above |= {"sabio-worker.service", "Caddyfile"}
    assert {path.name for path in DEPLOY.glob("[!.]*")} == parsed_above, "a file no test parses"
