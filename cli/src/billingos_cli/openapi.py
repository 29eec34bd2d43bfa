"""Derives the OpenAPI 3.1 document of BillingOS's public REST API from the protos.

Why: merchants call BillingOS over HTTP/JSON through Envoy's gRPC-JSON transcoder,
and that surface is fully determined by the protos: `google.api.http` rules give the
routes, proto3 JSON mapping gives the bodies, and the gateway prints proto field
names (`preserve_proto_field_names`). A hand-written spec would drift from it, so
`./billingos gen` derives the document from the same descriptor set Envoy loads,
applying the transcoder's rules. The output is committed and compared byte for
byte, so it is deterministic: sorted keys, fixed indentation, no timestamps.

Scope: services in `billingos.*` packages that have HTTP rules, except
`*AdminService` services, which the gateway never routes.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from google.api import annotations_pb2, field_behavior_pb2
from google.protobuf import descriptor_pb2

from billingos.common.v1 import options_pb2

Schema = dict[str, Any]
FieldProto = descriptor_pb2.FieldDescriptorProto
MessageProto = descriptor_pb2.DescriptorProto

_OUR_PACKAGE_PREFIX = "billingos."
_INTERNAL_SERVICE_SUFFIX = "AdminService"
_STATUS_TYPE = ".google.rpc.Status"
_OPENAPI_METHODS = frozenset({"get", "put", "post", "delete", "patch", "head", "options", "trace"})
_IDEMPOTENT_RETRY_METHODS = frozenset({"post", "put", "patch", "delete"})
_TEMPLATE_VARIABLE = re.compile(r"\{([^}=]+)(?:=([^}]*))?\}")

# Source-info path numbers (descriptor.proto field numbers).
_FILE_MESSAGE, _FILE_ENUM, _FILE_SERVICE = 4, 5, 6
_MESSAGE_FIELD, _MESSAGE_NESTED, _MESSAGE_ENUM = 2, 3, 4
_ENUM_VALUE, _SERVICE_METHOD = 2, 2

_INT32: Schema = {"type": "integer", "format": "int32"}
_INT64: Schema = {"type": "string", "format": "int64"}  # proto3 JSON quotes 64-bit ints
_SCALARS: dict[int, Schema] = {
    FieldProto.TYPE_DOUBLE: {"type": "number", "format": "double"},
    FieldProto.TYPE_FLOAT: {"type": "number", "format": "float"},
    FieldProto.TYPE_INT64: _INT64,
    FieldProto.TYPE_UINT64: _INT64,
    FieldProto.TYPE_FIXED64: _INT64,
    FieldProto.TYPE_SFIXED64: _INT64,
    FieldProto.TYPE_SINT64: _INT64,
    FieldProto.TYPE_INT32: _INT32,
    FieldProto.TYPE_UINT32: _INT32,
    FieldProto.TYPE_FIXED32: _INT32,
    FieldProto.TYPE_SFIXED32: _INT32,
    FieldProto.TYPE_SINT32: _INT32,
    FieldProto.TYPE_BOOL: {"type": "boolean"},
    FieldProto.TYPE_STRING: {"type": "string"},
    FieldProto.TYPE_BYTES: {"type": "string", "format": "byte"},
}

# Well-known types whose proto3 JSON form is a single JSON string/number/bool, so
# they are inlined and may also be sent as query parameters.
_SCALAR_WELL_KNOWN: dict[str, Schema] = {
    ".google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
    ".google.protobuf.Duration": {"type": "string", "description": 'Seconds, e.g. "3.5s".'},
    ".google.protobuf.FieldMask": {
        "type": "string",
        "description": "Comma-separated field paths.",
    },
    ".google.protobuf.DoubleValue": _SCALARS[FieldProto.TYPE_DOUBLE],
    ".google.protobuf.FloatValue": _SCALARS[FieldProto.TYPE_FLOAT],
    ".google.protobuf.Int64Value": _INT64,
    ".google.protobuf.UInt64Value": _INT64,
    ".google.protobuf.Int32Value": _INT32,
    ".google.protobuf.UInt32Value": _INT32,
    ".google.protobuf.BoolValue": _SCALARS[FieldProto.TYPE_BOOL],
    ".google.protobuf.StringValue": _SCALARS[FieldProto.TYPE_STRING],
    ".google.protobuf.BytesValue": _SCALARS[FieldProto.TYPE_BYTES],
}
_WELL_KNOWN: dict[str, Schema] = {
    **_SCALAR_WELL_KNOWN,
    ".google.protobuf.Struct": {"type": "object"},
    ".google.protobuf.Value": {},  # any JSON value
    ".google.protobuf.ListValue": {"type": "array", "items": {}},
    ".google.protobuf.Empty": {"type": "object"},
    ".google.protobuf.Any": {
        "type": "object",
        "properties": {"@type": {"type": "string"}},
        "required": ["@type"],
        "additionalProperties": True,
    },
}

_IDEMPOTENCY_KEY: Schema = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Makes retries safe: a repeated request with the same key returns "
    "the first request's result instead of acting twice.",
    "schema": {"type": "string"},
}


@dataclass
class _Index:
    """Every message and enum of the descriptor set, by `.full.name`, with comments."""

    messages: dict[str, MessageProto] = field(default_factory=dict)
    enums: dict[str, descriptor_pb2.EnumDescriptorProto] = field(default_factory=dict)
    comments: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Binding:
    """One HTTP route of a method: the primary rule or one of its additional bindings."""

    verb: str
    template: str
    body: str
    response_body: str


def write_openapi(descriptor_set: Path, out_file: Path) -> None:
    """Writes the OpenAPI document for the services in `descriptor_set` to `out_file`."""
    files = descriptor_pb2.FileDescriptorSet.FromString(descriptor_set.read_bytes()).file
    document = build_document(list(files))
    text = json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    out_file.write_text(text, encoding="utf-8")


def build_document(files: list[descriptor_pb2.FileDescriptorProto]) -> Schema:
    """The OpenAPI document, as JSON-ready dicts."""
    index = _Index()
    for file in files:
        _index_file(file, index)
    builder = _SchemaBuilder(index)
    paths: dict[str, Schema] = {}
    tags: list[Schema] = []
    for file in files:
        for service in file.service:
            if not _is_public(file, service):
                continue
            service_name = f".{file.package}.{service.name}"
            tags.append(_tag(service.name, index.comments.get(service_name, "")))
            for method in service.method:
                _add_method(builder, service.name, f"{service_name}.{method.name}", method, paths)
    builder.reference(_STATUS_TYPE)
    paths = _merge_equivalent_paths(paths)
    return {
        "openapi": "3.1.0",
        "info": {"title": "BillingOS API", "version": "v1"},
        "tags": sorted(tags, key=lambda tag: str(tag["name"])),
        "paths": paths,
        "components": {
            "schemas": builder.schemas,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "API key",
                    "description": "An API key, sent as `Authorization: Bearer <api key>`.",
                },
                "customerSession": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "customer session token",
                    "description": "A customer session token (`bcs_...`), which the merchant "
                    "gets from `POST /v1/customer-sessions` for one of its customers, sent as "
                    "`Authorization: Bearer <token>`. Accepted by the `/v1/customer-portal/` "
                    "routes only, and only there: every read is bounded by that customer.",
                },
            },
        },
        "security": [{"bearer": []}],
    }


def _is_public(
    file: descriptor_pb2.FileDescriptorProto, service: descriptor_pb2.ServiceDescriptorProto
) -> bool:
    return (
        file.package.startswith(_OUR_PACKAGE_PREFIX)
        and not service.name.endswith(_INTERNAL_SERVICE_SUFFIX)
        and any(m.options.HasExtension(annotations_pb2.http) for m in service.method)
    )


def _tag(name: str, comment: str) -> Schema:
    return {"name": name, "description": comment} if comment else {"name": name}


# --- Indexing ----------------------------------------------------------------


def _index_file(file: descriptor_pb2.FileDescriptorProto, index: _Index) -> None:
    comments = {
        tuple(location.path): _clean_comment(location.leading_comments)
        for location in file.source_code_info.location
        if location.leading_comments.strip()
    }
    scope = f".{file.package}" if file.package else ""
    for number, message in enumerate(file.message_type):
        _index_message(message, scope, (_FILE_MESSAGE, number), comments, index)
    for number, enum in enumerate(file.enum_type):
        _index_enum(enum, scope, (_FILE_ENUM, number), comments, index)
    for number, service in enumerate(file.service):
        path = (_FILE_SERVICE, number)
        _note(index, f"{scope}.{service.name}", comments.get(path))
        for m_number, method in enumerate(service.method):
            method_path = (*path, _SERVICE_METHOD, m_number)
            _note(index, f"{scope}.{service.name}.{method.name}", comments.get(method_path))


def _index_message(
    message: MessageProto,
    scope: str,
    path: tuple[int, ...],
    comments: dict[tuple[int, ...], str],
    index: _Index,
) -> None:
    name = f"{scope}.{message.name}"
    index.messages[name] = message
    _note(index, name, comments.get(path))
    for number, proto_field in enumerate(message.field):
        _note(index, f"{name}.{proto_field.name}", comments.get((*path, _MESSAGE_FIELD, number)))
    for number, nested in enumerate(message.nested_type):
        _index_message(nested, name, (*path, _MESSAGE_NESTED, number), comments, index)
    for number, enum in enumerate(message.enum_type):
        _index_enum(enum, name, (*path, _MESSAGE_ENUM, number), comments, index)


def _index_enum(
    enum: descriptor_pb2.EnumDescriptorProto,
    scope: str,
    path: tuple[int, ...],
    comments: dict[tuple[int, ...], str],
    index: _Index,
) -> None:
    name = f"{scope}.{enum.name}"
    index.enums[name] = enum
    _note(index, name, comments.get(path))
    for number, value in enumerate(enum.value):
        _note(index, f"{name}.{value.name}", comments.get((*path, _ENUM_VALUE, number)))


def _note(index: _Index, name: str, comment: str | None) -> None:
    if comment:
        index.comments[name] = comment


def _clean_comment(raw: str) -> str:
    lines = [line[1:] if line.startswith(" ") else line for line in raw.splitlines()]
    return "\n".join(line.rstrip() for line in lines).strip()


# --- Schemas -----------------------------------------------------------------


def _behaviors(proto_field: FieldProto) -> set[int]:
    return set(proto_field.options.Extensions[field_behavior_pb2.field_behavior])


def _is_required(proto_field: FieldProto) -> bool:
    return field_behavior_pb2.REQUIRED in _behaviors(proto_field)


class _SchemaBuilder:
    """Turns proto types into JSON schemas, collecting named ones in `schemas`."""

    def __init__(self, index: _Index) -> None:
        self.index = index
        self.schemas: dict[str, Schema] = {}

    def reference(self, type_name: str) -> Schema:
        """A schema for a message or enum: inline for well-known types, else a `$ref`."""
        if type_name in _WELL_KNOWN:
            return copy.deepcopy(_WELL_KNOWN[type_name])
        name = type_name.lstrip(".")
        if name not in self.schemas:
            self.schemas[name] = {}  # placeholder: recursive types terminate here
            self.schemas[name] = self._named_schema(type_name)
        return {"$ref": f"#/components/schemas/{name}"}

    def _named_schema(self, type_name: str) -> Schema:
        if type_name in self.index.enums:
            return self._enum_schema(type_name)
        if type_name in self.index.messages:
            return self.object_schema(type_name, frozenset())
        raise ValueError(f"{type_name} is not in the descriptor set")

    def _enum_schema(self, type_name: str) -> Schema:
        values = [value.name for value in self.index.enums[type_name].value]
        lines = [self.index.comments.get(type_name, "")]
        for value in values:
            comment = self.index.comments.get(f"{type_name}.{value}")
            lines.append(f"- `{value}`: {comment}" if comment else f"- `{value}`")
        return {"type": "string", "enum": values, "description": "\n".join(lines).strip()}

    def object_schema(self, type_name: str, excluded: frozenset[str]) -> Schema:
        """The JSON object of a message, leaving out the fields named in `excluded`."""
        fields = [f for f in self.index.messages[type_name].field if f.name not in excluded]
        schema: Schema = {"type": "object"}
        _describe(schema, self.index.comments.get(type_name))
        if fields:
            schema["properties"] = {f.name: self.property(type_name, f) for f in fields}
        required = [f.name for f in fields if _is_required(f)]
        if required:
            schema["required"] = required
        return schema

    def property(self, owner: str, proto_field: FieldProto) -> Schema:
        """A field's schema with its comment and output-only/input-only markers."""
        schema = self.field_schema(proto_field)
        _describe(schema, self.index.comments.get(f"{owner}.{proto_field.name}"))
        behaviors = _behaviors(proto_field)
        if field_behavior_pb2.OUTPUT_ONLY in behaviors:
            schema["readOnly"] = True
        if field_behavior_pb2.INPUT_ONLY in behaviors:
            schema["writeOnly"] = True
        return schema

    def field_schema(self, proto_field: FieldProto) -> Schema:
        map_entry = self._map_entry(proto_field)
        if map_entry is not None:
            value = self.field_schema(map_entry.field[1])
            return {"type": "object", "additionalProperties": value}
        item = self._single_schema(proto_field)
        if proto_field.label == FieldProto.LABEL_REPEATED:
            return {"type": "array", "items": item}
        return item

    def _single_schema(self, proto_field: FieldProto) -> Schema:
        if proto_field.type in (FieldProto.TYPE_MESSAGE, FieldProto.TYPE_ENUM):
            return self.reference(proto_field.type_name)
        if proto_field.type not in _SCALARS:
            raise ValueError(f"unsupported field type of {proto_field.name}: {proto_field.type}")
        return dict(_SCALARS[proto_field.type])

    def _map_entry(self, proto_field: FieldProto) -> MessageProto | None:
        if proto_field.type != FieldProto.TYPE_MESSAGE:
            return None
        message = self.index.messages.get(proto_field.type_name)
        return message if message is not None and message.options.map_entry else None

    def is_query_parameter(self, proto_field: FieldProto) -> bool:
        """Whether the transcoder can fill this top-level field from the query string."""
        if proto_field.type == FieldProto.TYPE_GROUP:
            return False
        if proto_field.type != FieldProto.TYPE_MESSAGE:
            return True
        return proto_field.type_name in _SCALAR_WELL_KNOWN


def _describe(schema: Schema, comment: str | None) -> None:
    if comment:
        schema["description"] = comment


# --- Operations --------------------------------------------------------------


def _add_method(
    builder: _SchemaBuilder,
    service: str,
    full_name: str,
    method: descriptor_pb2.MethodDescriptorProto,
    paths: dict[str, Schema],
) -> None:
    if not method.options.HasExtension(annotations_pb2.http):
        return
    rule = method.options.Extensions[annotations_pb2.http]
    bindings = [_binding(rule), *(_binding(extra) for extra in rule.additional_bindings)]
    for number, binding in enumerate(bindings, start=1):
        operation_id = f"{service}_{method.name}" + (f"_{number}" if number > 1 else "")
        path, operation = _operation(builder, service, full_name, method, binding)
        operation["operationId"] = operation_id
        route = paths.setdefault(path, {})
        if binding.verb in route:
            raise ValueError(f"two operations for {binding.verb.upper()} {path}")
        route[binding.verb] = operation


def _merge_equivalent_paths(paths: dict[str, Schema]) -> dict[str, Schema]:
    """One path key per URL shape.

    Why: an update binds `{customer.id}` where a get binds `{id}`, which
    gives `/v1/customers/{customer.id}` and `/v1/customers/{id}`: the same
    URLs, and OpenAPI forbids two templated paths that differ only in their
    variables' names (tools then mismatch operations to paths). The variables
    are renamed to one name per position (a plain field name over a nested
    one, then the shortest); a renamed parameter keeps the request field it
    sets in `x-billingos-field`."""
    shapes: dict[str, list[str]] = {}
    for path in paths:
        shapes.setdefault(_TEMPLATE_VARIABLE.sub("{}", path), []).append(path)
    merged: dict[str, Schema] = {}
    for members in shapes.values():
        if len(members) == 1:
            merged[members[0]] = paths[members[0]]
            continue
        variables = [_path_variables(member)[1] for member in members]
        canonical = [
            min(names, key=lambda name: ("." in name, len(name), name))
            for names in zip(*variables, strict=True)
        ]
        target = _fill_template(members[0], canonical)
        route: Schema = {}
        for member, names in zip(members, variables, strict=True):
            renames = dict(zip(names, canonical, strict=True))
            for verb, operation in paths[member].items():
                if verb in route:
                    raise ValueError(f"two operations for {verb.upper()} {target}")
                for parameter in operation.get("parameters", []):
                    new_name = renames.get(parameter["name"])
                    if parameter["in"] == "path" and new_name and new_name != parameter["name"]:
                        parameter["x-billingos-field"] = parameter["name"]
                        parameter["name"] = new_name
                route[verb] = operation
        merged[target] = route
    return merged


def _fill_template(path: str, names: list[str]) -> str:
    given = iter(names)
    return _TEMPLATE_VARIABLE.sub(lambda _match: "{" + next(given) + "}", path)


def _binding(rule: Any) -> _Binding:
    pattern = rule.WhichOneof("pattern")
    if pattern is None:
        raise ValueError(f"HTTP rule without a method: {rule}")
    if pattern == "custom":
        verb, template = str(rule.custom.kind).lower(), str(rule.custom.path)
    else:
        verb, template = str(pattern), str(getattr(rule, pattern))
    if verb not in _OPENAPI_METHODS:
        raise ValueError(f"HTTP method {verb!r} cannot be described in OpenAPI")
    return _Binding(verb, template, str(rule.body), str(rule.response_body))


def _path_variables(template: str) -> tuple[str, list[str]]:
    """The OpenAPI path (`{a.b=x/*}` becomes `{a.b}`) and the field paths bound in it."""
    variables = [match.group(1) for match in _TEMPLATE_VARIABLE.finditer(template)]
    return _TEMPLATE_VARIABLE.sub(lambda match: "{" + match.group(1) + "}", template), variables


def _operation(
    builder: _SchemaBuilder,
    service: str,
    full_name: str,
    method: descriptor_pb2.MethodDescriptorProto,
    binding: _Binding,
) -> tuple[str, Schema]:
    request = method.input_type
    path, variables = _path_variables(binding.template)
    # Only wholly bound top-level fields leave the body: with `{customer.id}`, the
    # rest of `customer` still comes from the body.
    in_path = frozenset(variable for variable in variables if "." not in variable)
    parameters = [_path_parameter(builder, request, variable) for variable in variables]
    operation: Schema = {"tags": [service], "responses": _responses(builder, method, binding)}
    _summarize(operation, builder.index.comments.get(full_name))
    if binding.body:
        operation["requestBody"] = _request_body(builder, request, binding.body, in_path)
    if binding.body != "*":
        parameters += _query_parameters(builder, request, in_path | {binding.body})
    if binding.verb in _IDEMPOTENT_RETRY_METHODS:
        parameters.append(copy.deepcopy(_IDEMPOTENCY_KEY))
    if parameters:
        operation["parameters"] = parameters
    if method.options.Extensions[options_pb2.anonymous]:
        operation["security"] = []  # public: no API key (e.g. the public catalog)
    elif method.options.Extensions[options_pb2.customer_portal]:
        operation["security"] = [{"customerSession": []}]  # never an API key
    else:
        operation["x-billingos-scope"] = _required_scope(method, binding.verb)
    return path, operation


def _required_scope(method: Any, verb: str) -> str:
    """The API-key scope the call needs (as the kit's pipeline derives it)."""
    declared = method.options.Extensions[options_pb2.scope]
    if declared != options_pb2.SCOPE_UNSPECIFIED:
        return options_pb2.Scope.Name(declared)
    changes_nothing = verb == "get" or method.options.Extensions[options_pb2.read_only]
    return "SCOPE_READ" if changes_nothing else "SCOPE_WRITE"


def _summarize(operation: Schema, comment: str | None) -> None:
    if comment:
        operation["summary"] = comment.splitlines()[0]
        operation["description"] = comment


def _find_field(builder: _SchemaBuilder, message: str, name: str) -> FieldProto:
    for proto_field in builder.index.messages[message].field:
        if proto_field.name == name:
            return proto_field
    raise ValueError(f"{message.lstrip('.')} has no field {name!r}")


def _path_parameter(builder: _SchemaBuilder, request: str, variable: str) -> Schema:
    """A path parameter for `variable`, a (possibly nested) field path of the request."""
    owner, first, *rest = [request, *variable.split(".")]
    proto_field = _find_field(builder, owner, first)
    for name in rest:
        owner = proto_field.type_name
        proto_field = _find_field(builder, owner, name)
    property_schema = builder.property(owner, proto_field)
    parameter: Schema = {"name": variable, "in": "path", "required": True}
    description = property_schema.pop("description", None)
    _describe(parameter, description)
    parameter["schema"] = property_schema
    return parameter


def _query_parameters(
    builder: _SchemaBuilder, request: str, excluded: frozenset[str]
) -> list[Schema]:
    parameters: list[Schema] = []
    for proto_field in builder.index.messages[request].field:
        if proto_field.name in excluded or not builder.is_query_parameter(proto_field):
            continue
        schema = builder.property(request, proto_field)
        parameter: Schema = {"name": proto_field.name, "in": "query"}
        parameter["required"] = _is_required(proto_field)
        _describe(parameter, schema.pop("description", None))
        parameter["schema"] = schema
        parameters.append(parameter)
    return parameters


def _request_body(
    builder: _SchemaBuilder, request: str, body: str, in_path: frozenset[str]
) -> Schema:
    if body == "*":
        fields = builder.index.messages[request].field
        schema = builder.object_schema(request, in_path) if in_path else builder.reference(request)
        required = any(_is_required(f) for f in fields if f.name not in in_path)
    else:
        proto_field = _find_field(builder, request, body)
        schema = builder.property(request, proto_field)
        required = _is_required(proto_field)
    return {"required": required, "content": {"application/json": {"schema": schema}}}


# A method answering google.api.HttpBody: the transcoder sends its `data` as
# the raw body, with its `content_type` (a PDF invoice), not JSON.
_HTTP_BODY_TYPE = ".google.api.HttpBody"
_RAW_SUCCESS: Schema = {
    "description": "Success: the document itself, of the type its Content-Type names "
    "(e.g. application/pdf).",
    "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
}


def _responses(
    builder: _SchemaBuilder, method: descriptor_pb2.MethodDescriptorProto, binding: _Binding
) -> Schema:
    error = builder.reference(_STATUS_TYPE)
    failure = {
        "description": "An error: the gRPC status, with its details.",
        "content": {"application/json": {"schema": error}},
    }
    if method.output_type == _HTTP_BODY_TYPE and not binding.response_body:
        return {"200": _RAW_SUCCESS, "default": failure}
    if binding.response_body:
        proto_field = _find_field(builder, method.output_type, binding.response_body)
        success = builder.property(method.output_type, proto_field)
    else:
        success = builder.reference(method.output_type)
    return {
        "200": {"description": "Success.", "content": {"application/json": {"schema": success}}},
        "default": failure,
    }
