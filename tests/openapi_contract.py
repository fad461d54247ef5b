"""Checks HTTP exchanges against ``schemas/openapi.json``.

:func:`check_exchange` takes one request and its answer (method, concrete path, status, request
JSON body, response JSON body), finds the documented operation by matching the path templates,
and validates with ``jsonschema`` (Draft 2020-12, ``$ref`` resolved into the document, formats
such as ``date-time`` checked):

- the request body against the operation's ``requestBody`` schema, for 2xx answers only (a
  request the server refused may be invalid on purpose);
- the response body against the schema documented for that status.

Answers are checked strictly: an object schema that lists ``properties`` and says nothing about
``additionalProperties`` accepts no other field here, so a field the server sends but the
document does not describe is caught. (The document itself stays open: clients must ignore
fields they do not know, API.md lets the server add fields.)

Anything undocumented (path, method or status) raises :class:`AssertionError`, except the
server's generic answers for what no route serves: 404 ``not_found`` for an unknown path and
405 ``method_not_allowed`` for an unknown method on a known path (when ``allow_unrouted``).
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
from jsonschema.exceptions import best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

DOCUMENT_PATH = Path(__file__).resolve().parents[1] / "schemas" / "openapi.json"
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_BASE = "urn:csms:openapi"
_STRICT_BASE = "urn:csms:openapi-strict"
_FORMATS = jsonschema.Draft202012Validator.FORMAT_CHECKER


@dataclass(frozen=True)
class Operation:
    method: str
    template: str
    pointer: str  # JSON pointer of the operation object in the document
    spec: dict[str, Any]


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _template_regex(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}/]+\})", template)
    pattern = "".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts)
    return re.compile(f"^{pattern}$")


def _strict(node: Any) -> Any:
    """A copy in which object schemas with ``properties`` accept no unlisted property."""
    if isinstance(node, list):
        return [_strict(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _strict(value) for key, value in node.items()}
    if isinstance(out.get("properties"), dict) and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


class Contract:
    """The OpenAPI document, ready to check exchanges against."""

    def __init__(self, document: dict[str, Any]) -> None:
        if "date-time" not in _FORMATS.checkers:
            raise RuntimeError(
                "jsonschema cannot check date-time formats: install rfc3339-validator"
            )
        self.document = document
        self._registry: Registry[Any] = Registry().with_resources(
            [
                (_BASE, Resource.from_contents(document, default_specification=DRAFT202012)),
                (
                    _STRICT_BASE,
                    Resource.from_contents(
                        _strict(copy.deepcopy(document)), default_specification=DRAFT202012
                    ),
                ),
            ]
        )
        # Literal paths win over templates (fewest parameters first, then the longest).
        self._paths = sorted(
            document.get("paths", {}).items(),
            key=lambda item: (item[0].count("{"), -len(item[0])),
        )
        self._regexes = {template: _template_regex(template) for template, _ in self._paths}

    @classmethod
    def load(cls, path: Path = DOCUMENT_PATH) -> Contract:
        return cls(json.loads(path.read_text()))

    def find_template(self, path: str) -> str | None:
        path = path.split("?", 1)[0]
        for template, _ in self._paths:
            if self._regexes[template].match(path):
                return template
        return None

    def operation(self, method: str, path: str) -> Operation | None:
        template = self.find_template(path)
        if template is None:
            return None
        item = self.document["paths"][template]
        spec = item.get(method.lower())
        if spec is None:
            return None
        pointer = f"/paths/{_escape(template)}/{method.lower()}"
        return Operation(method.upper(), template, pointer, spec)

    def operations(self) -> Iterator[Operation]:
        for template, item in self.document.get("paths", {}).items():
            for method in METHODS:
                if method in item:
                    pointer = f"/paths/{_escape(template)}/{method}"
                    yield Operation(method.upper(), template, pointer, item[method])

    def validate(self, instance: Any, pointer: str, *, strict: bool, what: str) -> None:
        """Validate ``instance`` against the schema at ``pointer`` of the document."""
        base = _STRICT_BASE if strict else _BASE
        validator = jsonschema.Draft202012Validator(
            {"$ref": f"{base}#{pointer}"}, registry=self._registry, format_checker=_FORMATS
        )
        errors = list(validator.iter_errors(instance))
        if errors:
            error = best_match(errors)
            where = "/".join(str(p) for p in error.absolute_path) or "(root)"
            shown = json.dumps(instance, default=str)
            if len(shown) > 2000:
                shown = shown[:2000] + "…"
            raise AssertionError(
                f"{what} does not match the OpenAPI document at {where}: {error.message} "
                f"(schema {'/'.join(str(p) for p in error.absolute_schema_path)}; "
                f"{len(errors)} error(s))\n{what}: {shown}"
            )

    def check_exchange(
        self,
        method: str,
        path: str,
        status: int,
        request_body: Any,
        response_body: Any,
        *,
        response_content_type: str = "application/json",
        allow_unrouted: bool = True,
    ) -> None:
        """Raise :class:`AssertionError` unless the exchange agrees with the document.

        ``request_body`` None: no JSON was sent (nothing to check). ``response_body`` is
        validated only for a JSON ``response_content_type``.
        """
        label = f"{method.upper()} {path.split('?', 1)[0]} → {status}"
        template = self.find_template(path)
        is_json = response_content_type.split(";")[0].strip().lower() == "application/json"
        if template is None:
            if allow_unrouted and status == 404 and is_json:
                self._check_generic_error(label, response_body, "not_found")
                return
            raise AssertionError(f"{label}: the path is not in the OpenAPI document")
        found = self.operation(method, path)
        if found is None:
            if allow_unrouted and status == 405 and is_json:
                self._check_generic_error(label, response_body, "method_not_allowed")
                return
            raise AssertionError(
                f"{label}: {method.upper()} {template} is not in the OpenAPI document"
            )
        responses = found.spec.get("responses", {})
        key = str(status) if str(status) in responses else f"{str(status)[0]}XX"
        if key not in responses:
            key = "default"
        if key not in responses:
            raise AssertionError(
                f"{label}: status {status} is not documented for {found.method} "
                f"{found.template} (documented: {', '.join(sorted(responses))})"
            )
        if request_body is not None and 200 <= status < 300:
            self._check_request(label, found, request_body)
        if is_json:
            self._check_response(label, found, key, response_content_type, response_body)

    def _check_request(self, label: str, found: Operation, body: Any) -> None:
        request = self._resolve(found.spec.get("requestBody"))
        if request is None:
            raise AssertionError(f"{label}: a JSON body was sent but none is documented")
        if "application/json" not in request.get("content", {}):
            raise AssertionError(f"{label}: no application/json request body is documented")
        pointer = self._pointer_of(f"{found.pointer}/requestBody", found.spec.get("requestBody"))
        self.validate(
            body,
            f"{pointer}/content/application~1json/schema",
            strict=False,
            what=f"{label}: request body",
        )

    def _check_response(
        self, label: str, found: Operation, key: str, content_type: str, body: Any
    ) -> None:
        raw = found.spec["responses"][key]
        response = self._resolve(raw)
        media = content_type.split(";")[0].strip().lower()
        content = response.get("content", {})
        if media not in content:
            raise AssertionError(
                f"{label}: no {media} answer is documented for status {key} "
                f"(documented: {', '.join(content) or 'no body'})"
            )
        pointer = self._pointer_of(f"{found.pointer}/responses/{key}", raw)
        self.validate(
            body,
            f"{pointer}/content/{_escape(media)}/schema",
            strict=True,
            what=f"{label}: response body",
        )

    def _check_generic_error(self, label: str, body: Any, code: str) -> None:
        self.validate(body, "/components/schemas/Error", strict=True, what=f"{label}: body")
        if body["error"]["code"] != code:
            raise AssertionError(f"{label}: an unrouted request answered {body['error']}")

    def _resolve(self, node: Any) -> Any:
        while isinstance(node, dict) and "$ref" in node:
            node = self._at(node["$ref"].removeprefix("#"))
        return node

    def _pointer_of(self, pointer: str, node: Any) -> str:
        """The pointer where ``node`` (found at ``pointer``) really lives, following $refs."""
        while isinstance(node, dict) and "$ref" in node:
            pointer = node["$ref"].removeprefix("#")
            node = self._at(pointer)
        return pointer

    def _at(self, pointer: str) -> Any:
        node: Any = self.document
        for token in pointer.lstrip("/").split("/"):
            node = node[token.replace("~1", "/").replace("~0", "~")]
        return node


@functools.cache
def contract() -> Contract:
    """The contract of ``schemas/openapi.json`` (loaded once per test session)."""
    return Contract.load()


def check_exchange(
    method: str,
    path: str,
    status: int,
    request_body: Any,
    response_body: Any,
    *,
    response_content_type: str = "application/json",
) -> None:
    """Check one exchange against ``schemas/openapi.json``; see :meth:`Contract.check_exchange`."""
    contract().check_exchange(
        method,
        path,
        status,
        request_body,
        response_body,
        response_content_type=response_content_type,
    )
