"""Conversions both ways: request messages to domain inputs (with the
violations a message alone can show), rows to API messages (for the
servicers and the events). Proto enums map to the vocabularies by codecs
checked against the StrEnums at import."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from google.protobuf.message import Message

from billingos.metering.v1 import customer_meters_pb2, customer_portal_pb2, meters_pb2
from billingos_kit.errors import InvalidArgument
from billingos_kit.protoconv import timestamp
from billingos_kit.validation import Violations
from billingos_kit.vocabulary import EnumCodec
from billingos_metering.aggregates import decimal_text
from billingos_metering.customer_portal import PortalMeterView
from billingos_metering.filters import (
    MAX_DEPTH,
    Aggregation,
    Condition,
    Filter,
    FilterValue,
    filter_from_json,
    metadata_key,
)
from billingos_metering.meters import MeterDraft
from billingos_metering.models import MeterRow
from billingos_metering.views import CustomerMeterView
from billingos_metering.vocabulary import Conjunction, CreditMode, Function, Operator

CONJUNCTION_CODEC = EnumCodec(Conjunction, meters_pb2.FilterConjunction, "FILTER_CONJUNCTION_")
OPERATOR_CODEC = EnumCodec(Operator, meters_pb2.FilterOperator, "FILTER_OPERATOR_")
FUNCTION_CODEC = EnumCodec(Function, meters_pb2.AggregationFunction, "AGGREGATION_FUNCTION_")
CREDIT_MODE_CODEC = EnumCodec(CreditMode, customer_meters_pb2.CreditMode, "CREDIT_MODE_")

# ---- requests to domain inputs ----------------------------------------------


def meter_draft(message: meters_pb2.Meter) -> MeterDraft:
    violations = Violations()
    tree = (
        _filter(violations, "meter.filter", message.filter, 1)
        if message.HasField("filter")
        else None
    )
    aggregation = (
        _aggregation(violations, "meter.aggregation", message.aggregation)
        if message.HasField("aggregation")
        else None
    )
    violations.raise_if_any()
    return MeterDraft(message.name, tree, aggregation, message.archived)


def _filter(
    violations: Violations, field: str, message: meters_pb2.MeterFilter, depth: int
) -> Filter:
    if depth > MAX_DEPTH:
        violations.add(field, f"filters nest at most {MAX_DEPTH} levels deep")
        return Filter(Conjunction.AND, ())
    conjunction = CONJUNCTION_CODEC.from_proto(message.conjunction)
    if conjunction is None:
        if message.conjunction != 0:
            violations.add(
                f"{field}.conjunction",
                f"must be one of {', '.join(CONJUNCTION_CODEC.proto_names())}",
            )
        conjunction = Conjunction.AND
    clauses: list[Condition | Filter] = []
    for index, clause in enumerate(message.clauses):
        at = f"{field}.clauses[{index}]"
        kind = clause.WhichOneof("clause")
        if kind == "filter":
            clauses.append(_filter(violations, f"{at}.filter", clause.filter, depth + 1))
        elif kind == "condition":
            condition = _condition(violations, f"{at}.condition", clause.condition)
            if condition is not None:
                clauses.append(condition)
        else:
            violations.add(at, "must hold a condition or a filter")
    return Filter(conjunction, tuple(clauses))


def _condition(
    violations: Violations, field: str, message: meters_pb2.FilterCondition
) -> Condition | None:
    operator = OPERATOR_CODEC.from_proto(message.operator)
    if operator is None:
        violations.add(
            f"{field}.operator", f"must be one of {', '.join(OPERATOR_CODEC.proto_names())}"
        )
    kind = message.WhichOneof("value")
    value: FilterValue | None = None
    if kind == "string_value":
        value = message.string_value
    elif kind == "number_value":
        number = message.number_value
        if number != number or number in (float("inf"), float("-inf")):
            violations.add(f"{field}.number_value", "must be a finite number")
        else:
            value = Decimal(repr(number)) if not number.is_integer() else Decimal(int(number))
    elif kind == "bool_value":
        value = message.bool_value
    else:
        violations.add(field, "needs a value: string_value, number_value or bool_value")
    if operator is None or value is None:
        return None
    return Condition(message.property, operator, value)


def _aggregation(
    violations: Violations, field: str, message: meters_pb2.MeterAggregation
) -> Aggregation | None:
    function = FUNCTION_CODEC.from_proto(message.function)
    if function is None:
        violations.add(
            f"{field}.function", f"must be one of {', '.join(FUNCTION_CODEC.proto_names())}"
        )
        return None
    if not message.property:
        return Aggregation(function, None)
    key = metadata_key(message.property)
    if key is None:
        violations.add(f"{field}.property", "must be 'metadata.<key>'")
        return None
    return Aggregation(function, key)


def credit_mode(number: int) -> CreditMode:
    return CREDIT_MODE_CODEC.from_proto(number) or CreditMode.ADD


def utc(message: Message, name: str) -> dt.datetime | None:
    """A request's optional Timestamp field as a UTC datetime (None if unset)."""
    if not message.HasField(name):
        return None
    value = getattr(message, name)
    try:
        moment: dt.datetime = value.ToDatetime(tzinfo=dt.UTC)
    except (ValueError, OverflowError, OSError):
        raise InvalidArgument(name, "is not a valid time") from None
    return moment


# ---- rows to messages --------------------------------------------------------


def filter_message(tree: Filter) -> meters_pb2.MeterFilter:
    message = meters_pb2.MeterFilter(
        conjunction=meters_pb2.FilterConjunction.ValueType(
            CONJUNCTION_CODEC.to_proto(tree.conjunction)
        )
    )
    for clause in tree.clauses:
        if isinstance(clause, Filter):
            message.clauses.add(filter=filter_message(clause))
            continue
        condition = meters_pb2.FilterCondition(
            property=clause.target,
            operator=meters_pb2.FilterOperator.ValueType(OPERATOR_CODEC.to_proto(clause.operator)),
        )
        if isinstance(clause.value, bool):
            condition.bool_value = clause.value
        elif isinstance(clause.value, Decimal):
            condition.number_value = float(clause.value)
        else:
            condition.string_value = clause.value
        message.clauses.add(condition=condition)
    return message


def meter_message(meter: MeterRow) -> meters_pb2.Meter:
    aggregation = meters_pb2.MeterAggregation(
        function=meters_pb2.AggregationFunction.ValueType(
            FUNCTION_CODEC.to_proto(Function(meter.aggregation_function))
        ),
        property=f"metadata.{meter.aggregation_property}" if meter.aggregation_property else "",
    )
    return meters_pb2.Meter(
        id=str(meter.id),
        organization_id=str(meter.organization_id),
        name=meter.name,
        filter=filter_message(filter_from_json(meter.filter)),
        aggregation=aggregation,
        archived=meter.archived_at is not None,
        create_time=timestamp(meter.created_at),
        update_time=timestamp(meter.updated_at),
    )


def customer_meter_message(view: CustomerMeterView) -> customer_meters_pb2.CustomerMeter:
    row = view.row
    return customer_meters_pb2.CustomerMeter(
        id=str(row.id),
        customer_id=str(row.customer_id),
        meter_id=str(row.meter_id),
        consumed_units=decimal_text(view.consumed),
        credited_units=decimal_text(row.credited_units),
        balance=decimal_text(view.balance),
        window_start_time=timestamp(row.window_start_at),
        update_time=timestamp(row.updated_at),
    )


def portal_customer_meter_message(view: PortalMeterView) -> customer_portal_pb2.PortalCustomerMeter:
    """A customer meter as its customer sees it: with the meter's name, and
    nothing of the meter's filter (the merchant's event names)."""
    row, usage = view.usage.row, view.usage
    return customer_portal_pb2.PortalCustomerMeter(
        id=str(row.id),
        meter_id=str(row.meter_id),
        meter_name=view.meter.name,
        consumed_units=decimal_text(usage.consumed),
        credited_units=decimal_text(row.credited_units),
        balance=decimal_text(usage.balance),
        window_start_time=timestamp(row.window_start_at),
        update_time=timestamp(row.updated_at),
    )
