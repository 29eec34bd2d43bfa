"""A method's REST bindings (`google.api.http`), and the rule that the path wins.

Envoy's transcoder fills the request from the URL path, then the query, then
the body, later ones winning: `DELETE /v1/customers/c1?id=c2` would delete c2
and `PATCH /v1/customers/c1` with `{"id": "c2"}` would update c2. The gateway
tells the service which REST path it was called with (`x-billingos-rest-path`,
the path without its query); the pipeline reads the path's variables with the
method's templates and refuses a request whose fields say otherwise, naming
the field. A path that matches none of the method's templates, or whose
variables are not text, is refused too: the check never silently passes.

The same bindings tell the gateway which paths to route (and which skip the
key check) and the tests which routes exist, so there is one parser.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass
from typing import cast

from google.api import annotations_pb2, http_pb2
from google.protobuf import descriptor
from google.protobuf.message import Message

from billingos_kit.errors import InvalidArgument

_VARIABLE = re.compile(r"\{([a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)*)(?:=\*)?\}")


@dataclass(frozen=True)
class PathTemplate:
    """One `google.api.http` path, e.g. `/v1/customers/{customer.id}`. Like the
    transcoder, it also matches the path with a trailing slash."""

    template: str
    pattern: re.Pattern[str]
    variables: tuple[str, ...]  # field paths, in order

    @classmethod
    def parse(cls, template: str) -> PathTemplate:
        path, verb = template, ""
        colon = template.rfind(":")
        if colon > template.rfind("}"):
            path, verb = template[:colon], template[colon + 1 :]
        parts = ["^"]
        variables: list[str] = []
        for segment in path.strip("/").split("/"):
            parts.append("/")
            found = _VARIABLE.fullmatch(segment)
            if found is not None:
                variables.append(found.group(1))
                parts.append("([^/]+)")
            elif segment == "*":
                parts.append("[^/]+")
            elif "{" in segment or "}" in segment or segment == "**":
                raise ValueError(f"unsupported path template segment {segment!r} in {template}")
            else:
                parts.append(re.escape(segment))
        parts.append(re.escape(f":{verb}") if verb else "/?")
        parts.append("$")
        return cls(template, re.compile("".join(parts)), tuple(variables))

    def values(self, path: str) -> dict[str, str] | None:
        """The variables' values in `path` (percent-decoded), or None if it
        does not match. Raises InvalidArgument for a value that is not UTF-8."""
        matched = self.pattern.match(path)
        if matched is None:
            return None
        values = {}
        for name, raw in zip(self.variables, matched.groups(), strict=True):
            try:
                values[name] = urllib.parse.unquote(raw, errors="strict")
            except UnicodeDecodeError:
                raise InvalidArgument(name, "must be valid UTF-8 text") from None
        return values


@dataclass(frozen=True)
class HttpBinding:
    """One REST route of a method: `GET /v1/customers/{id}`."""

    verb: str  # "GET", "POST", … (a custom verb's own name)
    path: PathTemplate
    body: str  # the request field bound to the body, "*" or ""


def http_bindings(method: descriptor.MethodDescriptor) -> tuple[HttpBinding, ...]:
    """Every REST route of a method (its binding and the additional ones).
    Path variables must name text fields: the path-wins check compares text."""
    options = method.GetOptions()
    if not options.HasExtension(annotations_pb2.http):
        return ()
    rule = options.Extensions[annotations_pb2.http]
    rules: list[http_pb2.HttpRule] = [rule, *rule.additional_bindings]
    found = []
    for each in rules:
        kind = each.WhichOneof("pattern")
        if kind is None:
            continue
        if kind == "custom":
            verb, path = each.custom.kind.upper(), each.custom.path
        else:
            verb, path = kind.upper(), getattr(each, kind)
        template = PathTemplate.parse(path)
        for variable in template.variables:
            _require_text_field(method, variable)
        found.append(HttpBinding(verb, template, each.body))
    return tuple(found)


def check_path_wins(bindings: tuple[HttpBinding, ...], rest_path: str, request: Message) -> None:
    """Refuses a request whose fields contradict the variables of its REST path."""
    for binding in bindings:
        values = binding.path.values(rest_path)
        if values is None:
            continue
        for field_path, expected in values.items():
            if _field_value(request, field_path) != expected:
                raise InvalidArgument(
                    field_path,
                    "is given by the URL path; a query parameter or body field may not change it",
                    reason="PATH_FIELD_OVERRIDDEN",
                )
        return
    raise InvalidArgument("path", "does not match this method's REST path", reason="PATH_MISMATCH")


def check_query(bindings: tuple[HttpBinding, ...], rest_path: str, query: str) -> None:
    """Refuses query parameters that would set what the route takes from the
    body: any at all where the body is the whole request, and any under the
    body's field where it is one field (`POST /v1/discounts?discount.
    percent_off.basis_points=10000` with `{"name": "Looks harmless"}` would
    create a 100 % discount). The transcoder merges such parameters into the
    body's message, invisible to anything that reads the body (an audit log,
    a proxy that signs or filters it). `query` is the raw query string, as
    the gateway forwards it."""
    for binding in bindings:
        if binding.path.values(rest_path) is None:
            continue
        if not binding.body:
            return
        names = [name for name, _ in urllib.parse.parse_qsl(query, keep_blank_values=True)]
        if binding.body == "*":
            if names or query.strip("&"):
                raise InvalidArgument(
                    "query",
                    "this route takes every field from the body; send none in the query",
                    reason="QUERY_NOT_ALLOWED",
                )
            return
        body_names = {binding.body, _json_name(binding.body)}
        for name in names:
            if name.split(".", 1)[0] in body_names:
                raise InvalidArgument(
                    name,
                    f"is part of the body ({binding.body}); send it in the body, not the query",
                    reason="QUERY_NOT_ALLOWED",
                )
        return


def check_single_values(request: Message, query: str) -> None:
    """Refuses a query that gives one single-valued field twice
    (`?organization_id=A&organization_id=B`, or `organizationId=A&
    organization_id=B`, the same field by its JSON name): the transcoder
    keeps the last value, so whatever read the first (a log, a proxy's
    filter, a reader of the URL) saw another request than the service
    served. A repeated field takes many values, as the transcoder means it
    to. A name that is no field is the transcoder's to refuse."""
    seen: set[str] = set()
    request_type = cast(descriptor.Descriptor, request.DESCRIPTOR)
    for name, _ in urllib.parse.parse_qsl(query, keep_blank_values=True):
        resolved = _query_field(request_type, name)
        if resolved is None:
            continue
        path, field = resolved
        if field.is_repeated:
            continue
        if path in seen:
            raise InvalidArgument(
                name,
                "is given more than once; it takes one value",
                reason="QUERY_PARAMETER_REPEATED",
            )
        seen.add(path)


def _query_field(
    message: descriptor.Descriptor, name: str
) -> tuple[str, descriptor.FieldDescriptor] | None:
    """The field a query name sets (its proto path), by proto or JSON names."""
    field: descriptor.FieldDescriptor | None = None
    path: list[str] = []
    current: descriptor.Descriptor | None = message
    for part in name.split("."):
        if current is None:
            return None
        field = current.fields_by_name.get(part) or next(
            (f for f in current.fields if f.json_name == part), None
        )
        if field is None:
            return None
        path.append(field.name)
        current = field.message_type
    return (".".join(path), field) if field is not None else None


def _json_name(field: str) -> str:
    """A field's JSON name by protobuf's rule (tax_rate → taxRate), which the
    transcoder accepts in a query too."""
    head, *rest = field.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _require_text_field(method: descriptor.MethodDescriptor, field_path: str) -> None:
    message: descriptor.Descriptor | None = method.input_type
    field = None
    for name in field_path.split("."):
        field = message.fields_by_name.get(name) if message is not None else None
        if field is None:
            raise ValueError(f"{method.full_name}: path variable {field_path!r} names no field")
        message = field.message_type
    if field is None or field.type != field.TYPE_STRING or field.is_repeated:
        raise ValueError(f"{method.full_name}: path variable {field_path!r} must be a string field")


def _field_value(message: Message, field_path: str) -> object:
    current: object = message
    for name in field_path.split("."):
        current = getattr(current, name)
    return current
