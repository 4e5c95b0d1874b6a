"""The OpenAPI schema and its docs page, served without any CDN."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml
from django.test import Client

from tests.conftest import client_for

pytestmark = pytest.mark.django_db


def test_the_schema_describes_every_endpoint_and_bearer_auth(analyst: Any) -> None:
    response = client_for(analyst).get("/api/v1/schema/")
    assert response.status_code == 200
    schema = yaml.safe_load(response.content)
    assert schema["openapi"].startswith("3.")
    paths = set(schema["paths"])
    for expected in (
        "/api/v1/investigations/",
        "/api/v1/runs/",
        "/api/v1/runs/{id}/cancel/",
        "/api/v1/runs/{run_pk}/results/{analysis}/",
        "/api/v1/findings/",
        "/api/v1/audit-events/",
    ):
        assert expected in paths, expected
    assert schema["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert "202" in schema["paths"]["/api/v1/runs/"]["post"]["responses"]


def test_the_schema_needs_a_login() -> None:
    assert Client().get("/api/v1/schema/").status_code == 401


def test_the_docs_page_loads_its_assets_locally(analyst: Any) -> None:
    page = client_for(analyst).get("/api/v1/docs/")
    assert page.status_code == 200
    sources = re.findall(rb'(?:src|href)="([^"]+)"', page.content)
    assert sources, page.content[:500]
    assert all(not s.startswith((b"http://", b"https://", b"//")) for s in sources), sources


def test_format_json_answers_json_and_format_yaml_yaml(analyst: Any) -> None:
    client = client_for(analyst)
    as_json = client.get("/api/v1/schema/?format=json")
    assert as_json.status_code == 200
    assert as_json["Content-Type"].startswith("application/vnd.oai.openapi+json")
    assert json.loads(as_json.content)["openapi"].startswith("3.")
    as_yaml = client.get("/api/v1/schema/?format=yaml")
    assert as_yaml["Content-Type"].startswith("application/vnd.oai.openapi")
    assert yaml.safe_load(as_yaml.content) == json.loads(as_json.content)
    by_accept = client.get("/api/v1/schema/", HTTP_ACCEPT="application/json")
    assert json.loads(by_accept.content) == json.loads(as_json.content)


def _schema(user: Any) -> dict[str, Any]:
    return json.loads(client_for(user).get("/api/v1/schema/?format=json").content)


def test_uploads_are_binary_multipart_fields(analyst: Any) -> None:
    schema = _schema(analyst)
    components = schema["components"]["schemas"]
    for path, component, field in (
        ("/api/v1/runs/", "QueryRunCreateRequest", "files"),
        ("/api/v1/reference-tables/", "ReferenceUploadRequest", "file"),
    ):
        body = schema["paths"][path]["post"]["requestBody"]["content"]
        assert list(body) == ["multipart/form-data"], path
        assert body["multipart/form-data"]["schema"]["$ref"].endswith(f"/{component}")
        declared = components[component]["properties"][field]
        binary = declared.get("items", declared)
        assert binary == {"type": "string", "format": "binary"}, declared


def test_every_operation_has_one_body_type_and_typed_responses(analyst: Any) -> None:
    schema = _schema(analyst)
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            body = operation.get("requestBody")
            if body is not None:
                assert len(body["content"]) == 1, (method, path, list(body["content"]))
            responses = operation["responses"]
            assert any(code.startswith("2") for code in responses), (method, path)
            for code, response in responses.items():
                if code == "204":
                    assert "content" not in response
                    continue
                content = response.get("content")
                assert content, (method, path, code)
                for kind, media in content.items():
                    schema_ = media["schema"]
                    # A file download (a report) is typed as binary of its own media type.
                    download = schema_.get("format") == "binary" and kind != "application/json"
                    assert schema_.get("$ref") or schema_.get("items") or download, (
                        method,
                        path,
                        code,
                        kind,
                        media,
                    )


def test_action_responses_name_what_they_return(analyst: Any) -> None:
    paths = _schema(analyst)["paths"]

    def returned(path: str, method: str, code: str = "200") -> Any:
        return paths[path][method]["responses"][code]["content"]["application/json"]["schema"]

    assert returned("/api/v1/accounts/{id}/test-connection/", "post")["$ref"].endswith(
        "/ConnectionTest"
    )
    assert returned("/api/v1/accounts/{id}/refresh/", "post")["$ref"].endswith("/DiscoveryResult")
    assert returned("/api/v1/accounts/{id}/instances/search/", "get")["$ref"].endswith(
        "/InstanceSearch"
    )
    assert returned("/api/v1/runs/changes/", "get")["$ref"].endswith("/RunChangePage")
    assert returned("/api/v1/findings/changes/", "get")["$ref"].endswith("/FindingChangePage")
    # Unpaged lists are documented as plain arrays, as they are answered.
    assert returned("/api/v1/runs/{id}/results/", "get")["type"] == "array"
    assert returned("/api/v1/investigations/{id}/notes/", "get")["type"] == "array"
    assert returned("/api/v1/runs/{id}/cancel/", "post", "409")["$ref"].endswith("/Detail")
    assert "requestBody" not in paths["/api/v1/runs/{id}/cancel/"]["post"]


def test_the_schema_generates_without_warnings_and_validates(tmp_path: Any) -> None:
    """Every view's requests and responses are declared: drf-spectacular warns when it has to
    guess, and a warning fails here; the result validates as OpenAPI 3."""
    from django.core.management import call_command

    target = tmp_path / "schema.json"
    call_command(
        "spectacular",
        "--validate",
        "--fail-on-warn",
        "--format",
        "openapi-json",
        "--file",
        str(target),
    )
    assert json.loads(target.read_text())["paths"]
