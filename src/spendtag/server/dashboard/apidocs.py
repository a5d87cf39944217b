"""``/api/v1/docs``: the OpenAPI document as a readable page, drawn on the server.

No script and nothing from a CDN (Swagger UI would need both): it works offline and under the
dashboard's content security policy. Every operation with its parameters, and the fields of
its answer, nested objects indented, as the document describes them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

MAX_DEPTH = 6


def _ref(doc: Mapping[str, Any], schema: Mapping[str, Any]) -> Mapping[str, Any]:
    while "$ref" in schema:
        name = str(schema["$ref"]).rsplit("/", 1)[-1]
        schema = doc.get("components", {}).get("schemas", {}).get(name, {})
    return schema


def type_text(doc: Mapping[str, Any], schema: Mapping[str, Any]) -> str:
    """A schema's type in a few words: string, integer, array of Event, string or null..."""
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    for either in ("anyOf", "oneOf"):
        if either in schema:
            return " or ".join(type_text(doc, s) for s in schema[either])
    kind = schema.get("type")
    if kind == "array":
        return "array of " + type_text(doc, schema.get("items", {}))
    if isinstance(kind, list):
        return " or ".join(kind)
    if "enum" in schema:
        return "one of " + ", ".join(str(v) for v in schema["enum"])
    if "const" in schema:
        return repr(schema["const"])
    return str(kind or "any")


def fields(doc: Mapping[str, Any], schema: Mapping[str, Any], depth: int = 0,
           seen: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """The properties of an object schema (through arrays and nullable wrappers), nested as rows."""
    name = str(schema.get("$ref", "")).rsplit("/", 1)[-1]
    for either in ("anyOf", "oneOf"):
        if either in schema:
            inner = [s for s in schema[either] if s.get("type") != "null"]
            if len(inner) == 1:
                return fields(doc, inner[0], depth, seen)
    schema = _ref(doc, schema)
    if schema.get("type") == "array":
        return fields(doc, schema.get("items", {}), depth, seen)
    if depth >= MAX_DEPTH or (name and name in seen):
        return []
    required = set(schema.get("required", ()))
    out = []
    for key, prop in schema.get("properties", {}).items():
        out.append({"name": key, "depth": depth, "type": type_text(doc, prop), "required": key in required,
                    "description": _ref(doc, prop).get("description") or prop.get("description", "")})
        out.extend(fields(doc, prop, depth + 1, (*seen, name) if name else seen))
    return out


def operations(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    out = []
    for path, item in doc.get("paths", {}).items():
        for method, op in item.items():
            ok = op.get("responses", {}).get("200", {})
            content = ok.get("content", {})
            answers = [{"media": media, "type": type_text(doc, c.get("schema", {})),
                        "fields": fields(doc, c.get("schema", {}))} for media, c in content.items()]
            out.append({
                "method": method.upper(), "path": path, "id": f"{method}-{path}".replace("/", "-").strip("-"),
                "summary": op.get("summary", ""), "description": op.get("description", ""),
                "parameters": [{"name": p["name"], "in": p["in"], "type": type_text(doc, p.get("schema", {})),
                                "required": p.get("required", False), "description": p.get("description", "")}
                               for p in op.get("parameters", ())],
                "answers": answers,
                "errors": [(code, r.get("description", "")) for code, r in op.get("responses", {}).items()
                           if code != "200"],
            })
    return out
