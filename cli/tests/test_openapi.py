"""The OpenAPI document describes what Envoy's transcoder really serves.

The first half builds the real descriptor set from `protos/`; the second compiles a
small sample proto that exercises mapping rules our protos do not use yet.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from billingos_cli.openapi import write_openapi
from billingos_cli.protogen import _EXTRA_DESCRIPTOR_FILES, ProtoToolchain, our_proto_files

Document = dict[str, Any]
SCHEMAS = "#/components/schemas/"


def _descriptor_set(out: Path, files: list[str], *includes: Path) -> Path:
    ProtoToolchain.discover().protoc(
        [
            *(f"-I{include}" for include in includes),
            f"--descriptor_set_out={out}",
            "--include_imports",
            "--include_source_info",
            *files,
        ]
    )
    return out


def _render(descriptor: Path, out: Path) -> Document:
    write_openapi(descriptor, out)
    document: Document = json.loads(out.read_text(encoding="utf-8"))
    return document


def _parameters(operation: Document, where: str) -> dict[str, Document]:
    return {p["name"]: p for p in operation.get("parameters", []) if p["in"] == where}


def _body_schema(operation: Document) -> Document:
    schema: Document = operation["requestBody"]["content"]["application/json"]["schema"]
    return schema


def _refs(node: object) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


# --- The real protos -----------------------------------------------------------


@pytest.fixture(scope="module")
def real_descriptor(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("descriptor") / "billingos.binpb"
    return _descriptor_set(out, [*our_proto_files(), *_EXTRA_DESCRIPTOR_FILES])


@pytest.fixture(scope="module")
def doc(real_descriptor: Path, tmp_path_factory: pytest.TempPathFactory) -> Document:
    return _render(real_descriptor, tmp_path_factory.mktemp("openapi") / "api.json")


def test_output_is_deterministic_and_canonical(real_descriptor: Path, tmp_path: Path) -> None:
    first, second = tmp_path / "first.json", tmp_path / "second.json"
    write_openapi(real_descriptor, first)
    write_openapi(real_descriptor, second)
    text = first.read_bytes()
    assert text == second.read_bytes()
    assert text.endswith(b"}\n")
    canonical = json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    assert text.decode("utf-8") == canonical


def test_document_header(doc: Document) -> None:
    assert doc["openapi"].startswith("3.1")
    assert doc["info"] == {"title": "BillingOS API", "version": "v1"}
    scheme = doc["components"]["securitySchemes"]["bearer"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    assert doc["security"] == [{"bearer": []}]


def test_customer_collection_routes(doc: Document) -> None:
    route = doc["paths"]["/v1/customers"]
    assert set(route) == {"get", "post"}
    create = route["post"]
    assert create["operationId"] == "CustomerService_CreateCustomer"
    assert create["tags"] == ["CustomerService"]
    assert create["summary"] == "Creates a customer."
    # body: "customer" -> the Customer message is the whole body.
    assert _body_schema(create)["$ref"] == SCHEMAS + "billingos.customers.v1.Customer"
    assert create["requestBody"]["required"] is True
    assert _parameters(create, "query") == {}


def test_list_customers_takes_filters_as_query_parameters(doc: Document) -> None:
    listing = doc["paths"]["/v1/customers"]["get"]
    query = _parameters(listing, "query")
    assert list(query) == ["page_size", "page_token", "email", "external_id", "organization_id"]
    assert query["page_size"]["schema"] == {"type": "integer", "format": "int32"}
    assert query["email"]["schema"] == {"type": "string"}
    assert not any(p["required"] for p in query.values())
    assert "requestBody" not in listing
    assert "Idempotency-Key" not in _parameters(listing, "header")
    response = listing["responses"]["200"]["content"]["application/json"]["schema"]
    assert response == {"$ref": SCHEMAS + "billingos.customers.v1.ListCustomersResponse"}


def test_update_customer_binds_nested_id_and_mask(doc: Document) -> None:
    # `{customer.id}` and a get's `{id}` are one URL shape: one path key, whose
    # variable is the plain name; the parameter says which field it sets.
    assert "/v1/customers/{customer.id}" not in doc["paths"]
    update = doc["paths"]["/v1/customers/{id}"]["patch"]
    path = _parameters(update, "path")
    assert list(path) == ["id"]
    assert path["id"]["x-billingos-field"] == "customer.id"
    assert path["id"]["required"] is True
    assert path["id"]["schema"]["type"] == "string"
    query = _parameters(update, "query")
    assert list(query) == ["update_mask"]  # `customer` is the body, not a query parameter
    assert query["update_mask"]["schema"]["type"] == "string"
    assert _body_schema(update)["$ref"] == SCHEMAS + "billingos.customers.v1.Customer"


def test_item_routes(doc: Document) -> None:
    route = doc["paths"]["/v1/customers/{id}"]
    assert set(route) == {"get", "patch", "delete"}
    assert list(_parameters(route["get"], "path")) == ["id"]
    assert "x-billingos-field" not in _parameters(route["get"], "path")["id"]
    assert _parameters(route["get"], "query") == {}
    assert "/v1/customers/external/{external_id}" in doc["paths"]
    assert "get" in doc["paths"]["/v1/organizations/{id}"]


def test_custom_verb_stays_in_path_and_star_body_excludes_path_fields(doc: Document) -> None:
    revoke = doc["paths"]["/v1/api-keys/{id}:revoke"]["post"]
    assert revoke["operationId"] == "ApiKeyService_RevokeApiKey"
    assert list(_parameters(revoke, "path")) == ["id"]
    body = _body_schema(revoke)
    assert body["type"] == "object"
    assert "id" not in body.get("properties", {})
    assert revoke["requestBody"]["required"] is False


def test_admin_services_are_not_exposed(doc: Document) -> None:
    assert "/v1/admin/organizations" not in doc["paths"]
    assert not any("/admin" in path for path in doc["paths"])
    operation_ids = [op["operationId"] for route in doc["paths"].values() for op in route.values()]
    assert not any("AdminService" in op_id for op_id in operation_ids)
    assert "billingos.customers.v1.CreateOrganizationRequest" not in doc["components"]["schemas"]
    tags = [tag["name"] for tag in doc["tags"]]
    assert {"ApiKeyService", "CustomerService", "OrganizationService"} <= set(tags)
    assert "OrganizationAdminService" not in tags


def test_every_operation_is_uniform(doc: Document) -> None:
    operation_ids: list[str] = []
    for route in doc["paths"].values():
        for verb, operation in route.items():
            service, method = operation["operationId"].split("_")
            assert operation["tags"] == [service]
            assert method[0].isupper()
            operation_ids.append(operation["operationId"])
            error = operation["responses"]["default"]["content"]["application/json"]["schema"]
            assert error == {"$ref": SCHEMAS + "google.rpc.Status"}
            assert "200" in operation["responses"]
            key = _parameters(operation, "header").get("Idempotency-Key")
            if verb in {"post", "put", "patch", "delete"}:
                assert key is not None
                assert key["required"] is False
            else:
                assert key is None
    assert len(operation_ids) == len(set(operation_ids))
    assert {"CustomerService_CreateCustomer", "ApiKeyService_RevokeApiKey"} <= set(operation_ids)


def test_a_method_answering_http_body_is_documented_as_raw_bytes(doc: Document) -> None:
    invoice = doc["paths"]["/v1/customer-portal/orders/{id}/invoice"]["get"]
    success = invoice["responses"]["200"]["content"]
    assert success == {"*/*": {"schema": {"type": "string", "format": "binary"}}}
    assert "google.api.HttpBody" not in json.dumps(invoice["responses"])


def test_every_reference_resolves(doc: Document) -> None:
    schemas = doc["components"]["schemas"]
    refs = _refs(doc)
    assert refs
    for ref in refs:
        assert ref.startswith(SCHEMAS)
        assert ref.removeprefix(SCHEMAS) in schemas


def test_customer_schema(doc: Document) -> None:
    customer = doc["components"]["schemas"]["billingos.customers.v1.Customer"]
    assert customer["type"] == "object"
    assert customer["description"].startswith("A merchant's customer")
    properties = customer["properties"]
    create_time = properties["create_time"]
    assert create_time["readOnly"] is True
    assert (create_time["type"], create_time["format"]) == ("string", "date-time")
    assert create_time["description"] == "When the customer was created."
    assert properties["metadata"]["type"] == "object"
    assert properties["metadata"]["additionalProperties"] == {}  # google.protobuf.Value: any
    assert properties["billing_address"]["$ref"] == SCHEMAS + "billingos.common.v1.Address"
    # Immutable, not output-only: a create may name the key's own organization.
    assert "readOnly" not in properties["organization_id"]
    assert properties["stripe_customer_id"]["readOnly"] is True
    assert "readOnly" not in properties["email"]
    assert "readOnly" not in properties["id"]
    assert customer["required"] == ["email"]
    assert "externalId" not in properties  # proto field names, not lowerCamelCase
    assert "external_id" in properties


def test_status_schema(doc: Document) -> None:
    status = doc["components"]["schemas"]["google.rpc.Status"]["properties"]
    assert status["code"]["type"] == "integer"
    assert status["message"]["type"] == "string"
    assert status["details"]["type"] == "array"
    assert status["details"]["items"]["type"] == "object"
    assert "@type" in status["details"]["items"]["properties"]


# --- A sample proto, for rules the real protos do not exercise ---------------

_SAMPLE = """
syntax = "proto3";

package billingos.sample.v1;

import "google/api/annotations.proto";
import "google/api/field_behavior.proto";
import "google/protobuf/any.proto";
import "google/protobuf/duration.proto";
import "google/protobuf/struct.proto";
import "google/protobuf/timestamp.proto";
import "google/protobuf/wrappers.proto";

// A colour.
enum Color {
  // Not set.
  COLOR_UNSPECIFIED = 0;
  COLOR_RED = 1;
}

// A widget.
message Widget {
  // A part, which may hold parts.
  message Part {
    string sku = 1;
    Part child = 2;
  }
  string id = 1;
  int64 count = 2;
  uint64 big = 3;
  double ratio = 4;
  float weight = 5;
  bool active = 6;
  bytes blob = 7;
  Color color = 8;
  repeated string labels = 9;
  map<string, int64> totals = 10;
  google.protobuf.Duration ttl = 11;
  google.protobuf.Struct attributes = 12;
  google.protobuf.ListValue items = 13;
  google.protobuf.Any extra = 14;
  google.protobuf.Int64Value maybe_count = 15;
  google.protobuf.StringValue nickname = 16;
  Part part = 17;
  string secret = 18 [(google.api.field_behavior) = INPUT_ONLY];
  repeated Part parts = 19;
}

// Widgets.
service WidgetService {
  // Replaces a widget.
  //
  // More words.
  rpc UpdateWidget(UpdateWidgetRequest) returns (Widget) {
    option (google.api.http) = {
      put: "/v1/shops/{shop}/widgets/{widget.id}"
      body: "*"
      additional_bindings {post: "/v1/widgets/{widget.id}:replace" body: "widget"}
    };
  }
  rpc SearchWidgets(SearchWidgetsRequest) returns (SearchWidgetsResponse) {
    option (google.api.http) = {
      custom: {kind: "GET" path: "/v1/widgets:search"}
      response_body: "widgets"
    };
  }
  rpc GetWidget(GetWidgetRequest) returns (Widget) {
    option (google.api.http) = {get: "/v1/{name=shops/*/widgets/*}"};
  }
  rpc RenameWidget(RenameWidgetRequest) returns (Widget) {
    option (google.api.http) = {
      post: "/v1/widgets/{id}:rename"
      body: "new_name"
      additional_bindings {patch: "/v1/widgets/{id}" body: "*"}
    };
  }
  rpc Ping(GetWidgetRequest) returns (Widget);
}

service WidgetAdminService {
  rpc PurgeWidgets(GetWidgetRequest) returns (Widget) {
    option (google.api.http) = {delete: "/v1/admin/widgets"};
  }
}

service GrpcOnlyService {
  rpc Ping(GetWidgetRequest) returns (Widget);
}

message UpdateWidgetRequest {
  string shop = 1 [(google.api.field_behavior) = REQUIRED];
  Widget widget = 2 [(google.api.field_behavior) = REQUIRED];
}

message SearchWidgetsRequest {
  repeated string labels = 1;
  Color color = 2;
  google.protobuf.Timestamp after = 3;
  Widget.Part part = 4;
  map<string, string> tags = 5;
  int64 limit = 6 [(google.api.field_behavior) = REQUIRED];
}

message SearchWidgetsResponse {
  repeated Widget widgets = 1;
}

message RenameWidgetRequest {
  string id = 1;
  string new_name = 2;
  string etag = 3;
}

message GetWidgetRequest {
  string name = 1;
}
"""

_ELSEWHERE = """
syntax = "proto3";

package elsewhere.v1;

import "google/api/annotations.proto";
import "google/protobuf/empty.proto";

service ElsewhereService {
  rpc Poke(google.protobuf.Empty) returns (google.protobuf.Empty) {
    option (google.api.http) = {post: "/v1/elsewhere:poke" body: "*"};
  }
}
"""


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Document:
    root = tmp_path_factory.mktemp("protos")
    sources = {
        "billingos/sample/v1/sample.proto": _SAMPLE,
        "elsewhere/v1/elsewhere.proto": _ELSEWHERE,
    }
    for name, text in sources.items():
        (root / name).parent.mkdir(parents=True)
        (root / name).write_text(text, encoding="utf-8")
    files = [str(root / name) for name in sources]
    descriptor = _descriptor_set(root / "sample.binpb", [*files, *_EXTRA_DESCRIPTOR_FILES], root)
    return _render(descriptor, root / "sample.json")


def test_scalar_and_well_known_type_mapping(sample: Document) -> None:
    widget = sample["components"]["schemas"]["billingos.sample.v1.Widget"]["properties"]
    int64 = {"type": "string", "format": "int64"}
    assert widget["count"] == int64
    assert widget["big"] == int64
    assert widget["ratio"]["type"] == "number"
    assert widget["weight"]["type"] == "number"
    assert widget["active"] == {"type": "boolean"}
    assert widget["blob"] == {"type": "string", "format": "byte"}
    assert widget["labels"] == {"type": "array", "items": {"type": "string"}}
    assert widget["totals"] == {"type": "object", "additionalProperties": int64}
    assert widget["ttl"]["type"] == "string"
    assert widget["attributes"] == {"type": "object"}
    assert widget["items"]["type"] == "array"
    assert widget["extra"]["type"] == "object"
    assert "@type" in widget["extra"]["properties"]
    assert widget["maybe_count"] == int64
    assert widget["nickname"] == {"type": "string"}
    assert widget["secret"]["writeOnly"] is True
    assert widget["parts"]["items"] == {"$ref": SCHEMAS + "billingos.sample.v1.Widget.Part"}


def test_enums_and_recursive_messages(sample: Document) -> None:
    schemas = sample["components"]["schemas"]
    widget = schemas["billingos.sample.v1.Widget"]["properties"]
    assert widget["color"] == {"$ref": SCHEMAS + "billingos.sample.v1.Color"}
    color = schemas["billingos.sample.v1.Color"]
    assert color["type"] == "string"
    assert color["enum"] == ["COLOR_UNSPECIFIED", "COLOR_RED"]
    assert "A colour." in color["description"]
    part = schemas["billingos.sample.v1.Widget.Part"]["properties"]
    assert part["child"] == {"$ref": SCHEMAS + "billingos.sample.v1.Widget.Part"}


def test_star_body_keeps_nested_bound_fields(sample: Document) -> None:
    update = sample["paths"]["/v1/shops/{shop}/widgets/{widget.id}"]["put"]
    assert update["operationId"] == "WidgetService_UpdateWidget"
    assert update["summary"] == "Replaces a widget."
    assert update["description"] == "Replaces a widget.\n\nMore words."
    assert list(_parameters(update, "path")) == ["shop", "widget.id"]
    assert _parameters(update, "query") == {}
    body = _body_schema(update)
    assert set(body["properties"]) == {"widget"}  # `shop` is wholly bound by the path
    assert body["required"] == ["widget"]


def test_additional_binding_is_its_own_operation(sample: Document) -> None:
    replace = sample["paths"]["/v1/widgets/{widget.id}:replace"]["post"]
    assert replace["operationId"] == "WidgetService_UpdateWidget_2"
    assert _body_schema(replace)["$ref"] == SCHEMAS + "billingos.sample.v1.Widget"
    query = _parameters(replace, "query")
    assert list(query) == ["shop"]
    assert query["shop"]["required"] is True


def test_scalar_body_field_is_not_also_a_query_parameter(sample: Document) -> None:
    rename = sample["paths"]["/v1/widgets/{id}:rename"]["post"]
    assert _body_schema(rename) == {"type": "string"}
    assert list(_parameters(rename, "query")) == ["etag"]


def test_star_body_leaves_nothing_for_the_query(sample: Document) -> None:
    rename = sample["paths"]["/v1/widgets/{id}"]["patch"]
    assert rename["operationId"] == "WidgetService_RenameWidget_2"
    assert _parameters(rename, "query") == {}
    assert set(_body_schema(rename)["properties"]) == {"new_name", "etag"}


def test_custom_method_query_parameters_and_response_body(sample: Document) -> None:
    search = sample["paths"]["/v1/widgets:search"]["get"]
    query = _parameters(search, "query")
    assert list(query) == ["labels", "color", "after", "limit"]  # no message or map fields
    assert query["labels"]["schema"] == {"type": "array", "items": {"type": "string"}}
    assert query["color"]["schema"] == {"$ref": SCHEMAS + "billingos.sample.v1.Color"}
    assert query["after"]["schema"]["format"] == "date-time"
    assert query["limit"]["required"] is True
    success = search["responses"]["200"]["content"]["application/json"]["schema"]
    assert success["type"] == "array"
    assert success["items"] == {"$ref": SCHEMAS + "billingos.sample.v1.Widget"}


def test_variable_with_pattern_becomes_plain_parameter(sample: Document) -> None:
    get = sample["paths"]["/v1/{name}"]["get"]
    assert list(_parameters(get, "path")) == ["name"]


def test_unexposed_services_are_skipped(sample: Document) -> None:
    operation_ids = {
        op["operationId"] for route in sample["paths"].values() for op in route.values()
    }
    assert operation_ids == {
        "WidgetService_UpdateWidget",
        "WidgetService_UpdateWidget_2",
        "WidgetService_SearchWidgets",
        "WidgetService_GetWidget",
        "WidgetService_RenameWidget",
        "WidgetService_RenameWidget_2",
    }
    assert [tag["name"] for tag in sample["tags"]] == ["WidgetService"]


def test_public_operations_need_no_api_key(doc: Document) -> None:
    public = doc["paths"]["/v1/public/organizations/{organization}/products"]["get"]
    assert public["security"] == []
    assert "security" not in doc["paths"]["/v1/customers"]["get"]


def test_operations_say_which_api_key_scope_they_need(doc: Document) -> None:
    assert doc["paths"]["/v1/customers"]["get"]["x-billingos-scope"] == "SCOPE_READ"
    assert doc["paths"]["/v1/customers"]["post"]["x-billingos-scope"] == "SCOPE_WRITE"
    assert doc["paths"]["/v1/api-keys"]["get"]["x-billingos-scope"] == "SCOPE_API_KEYS"
    assert doc["paths"]["/v1/discounts:validate"]["post"]["x-billingos-scope"] == "SCOPE_READ"
    public = doc["paths"]["/v1/public/organizations/{organization}/products"]["get"]
    assert "x-billingos-scope" not in public


def test_no_two_paths_differ_only_in_variable_names(doc: Document) -> None:
    shapes = [re.sub(r"\{[^}]*\}", "{}", path) for path in doc["paths"]]
    assert len(shapes) == len(set(shapes))
    refunds = doc["paths"]["/v1/payments/{payment_id}/refunds"]
    assert {"get", "post"} <= set(refunds)
