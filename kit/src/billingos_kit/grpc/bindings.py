"""The path wins: a resource id in a REST URL cannot be overridden.

Envoy's transcoder fills the request from the URL path, then the query, then
the body, later ones winning: `DELETE /v1/customers/c1?id=c2` deletes c2 and
`PATCH /v1/customers/c1` with `{"id": "c2"}` updates c2. The gateway tells the
service which REST path it was called with (`x-billingos-rest-path`, the path
without its query); the pipeline reads the path's variables with the method's
`google.api.http` templates and refuses a request whose fields say otherwise,
naming the field.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass

from google.api import annotations_pb2, http_pb2
from google.protobuf import descriptor
from google.protobuf.message import Message

from billingos_kit.errors import InvalidArgument

_VARIABLE = re.compile(r"\{([a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)*)(?:=\*)?\}")


@dataclass(frozen=True)
class PathTemplate:
    """One `google.api.http` path, e.g. `/v1/customers/{customer.id}`."""

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
        if verb:
            parts.append(re.escape(f":{verb}"))
        parts.append("$")
        return cls(template, re.compile("".join(parts)), tuple(variables))

    def values(self, path: str) -> dict[str, str] | None:
        """The variables' values in `path` (percent-decoded), or None if it does not match."""
        matched = self.pattern.match(path)
        if matched is None:
            return None
        return {
            name: urllib.parse.unquote(value, errors="strict")
            for name, value in zip(self.variables, matched.groups(), strict=True)
        }


def templates_of(method: descriptor.MethodDescriptor) -> tuple[PathTemplate, ...]:
    """Every REST path of a method (its binding and the additional ones)."""
    options = method.GetOptions()
    if not options.HasExtension(annotations_pb2.http):
        return ()
    rule = options.Extensions[annotations_pb2.http]
    rules: list[http_pb2.HttpRule] = [rule, *rule.additional_bindings]
    templates = []
    for each in rules:
        kind = each.WhichOneof("pattern")
        if kind is None:
            continue
        path = each.custom.path if kind == "custom" else getattr(each, kind)
        templates.append(PathTemplate.parse(path))
    return tuple(t for t in templates if t.variables)


def check_path_wins(templates: tuple[PathTemplate, ...], rest_path: str, request: Message) -> None:
    """Refuses a request whose fields contradict the variables of its REST path."""
    for template in templates:
        try:
            values = template.values(rest_path)
        except UnicodeDecodeError:
            return  # the field itself is refused as text that is not UTF-8
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


def _field_value(message: Message, field_path: str) -> object:
    current: object = message
    for name in field_path.split("."):
        current = getattr(current, name)
    return current
