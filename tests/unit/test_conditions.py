"""The condition language: every operator, precedence, each error, and the original's semantics."""

from __future__ import annotations

from typing import Any

import pytest

from streamq.errors import ConditionError, ConditionSyntaxError
from streamq.model.event import Event, FieldChange
from streamq.observers.conditions import MAX_CONDITION_BYTES, MAX_DEPTH, compile_condition

DATA: dict[str, Any] = {
    "total": 150,
    "price": 99.5,
    "status": "shipped",
    "code": "100",
    "paid": True,
    "note": None,
    "customer": {"tier": "gold", "age": 40, "tags": ["a"]},
    "items": [{"sku": "X1"}],
}


def update(changes: dict[str, FieldChange] | None = None, **data: Any) -> Event:
    return Event(
        event_type="UPDATE", entity_type="Order", entity_id="o-1", data=data or DATA,
        changes=changes,
    )  # fmt: skip


def insert(**data: Any) -> Event:
    return Event(event_type="INSERT", entity_type="Order", entity_id="o-1", data=data or DATA)


CHANGES = {
    "status": FieldChange(old="pending", new="shipped"),
    "total": FieldChange(old=100, new=150),
    "customer": FieldChange(old={"tier": "silver"}, new={"tier": "gold"}),
}


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        # == and != with numeric-aware equality; a number never equals a string
        ("total == 150", True),
        ("total == 150.0", True),
        ("total == 150.5", False),
        ("total != 150", False),
        ("total != 151", True),
        ("code == '100'", True),
        ("code == 100", False),
        ("total == '150'", False),
        ("status == 'shipped'", True),
        ('status == "shipped"', True),
        ("status == shipped", True),  # a bare word is a string (as in the original)
        ("status != 'shipped'", False),
        ("paid == true", True),
        ("paid == 1", False),
        ("note == null", True),
        ("note != null", False),
        # ordering
        ("total > 100", True),
        ("total > 150", False),
        ("total >= 150", True),
        ("total < 150", False),
        ("total <= 150", True),
        ("price < 100", True),
        ("price > 99.49", True),
        ("total > -1", True),
        ("total < 1e3", True),
        # dotted paths into nested data
        ("customer.tier == 'gold'", True),
        ("customer.age >= 40", True),
        ("items.0.sku == 'X1'", True),
        # boolean operators and parentheses
        ("total > 100 && status == 'shipped'", True),
        ("total > 200 && status == 'shipped'", False),
        ("total > 200 || status == 'shipped'", True),
        ("total > 200 || status == 'lost'", False),
        ("!(total > 200)", True),
        ("!!(total > 200)", False),
        ("!has_field('deleted_at')", True),
        # precedence: ! over && over ||
        ("total > 200 && status == 'x' || paid == true", True),  # (F && F) || T
        ("paid == true || total > 200 && status == 'x'", True),  # T || (F && F)
        ("(paid == true || total > 200) && status == 'x'", False),
        ("!paid == true || total > 100", True),  # (!paid==true) || T
        ("!(paid == true) && total > 100", False),
        # has_field: present even when null; nested
        ("has_field('note')", True),
        ("has_field('customer.tier')", True),
        ("has_field('customer.missing')", False),
        ("has_field(status)", True),  # a bare path works too
        # the original's test examples
        ("(total > 100 && status == 'shipped') || priority == 'high'", True),
    ],
)
def test_evaluates_against_insert_data(condition: str, expected: bool) -> None:
    assert compile_condition(condition).evaluate(insert()) is expected


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("field_changed('status')", True),
        ("field_changed('code')", False),
        ("field_changed_to('status', 'shipped')", True),
        ("field_changed_to('status', 'pending')", False),
        ("field_changed_from('status', 'pending')", True),
        ("field_changed_from('status', 'shipped')", False),
        # the value is read as JSON first: '100' is the number 100, and 100.0 equals it
        ("field_changed_from('total', '100')", True),
        ("field_changed_from('total', 100.0)", True),
        ("field_changed_to('total', '150.00')", True),
        # nested paths compare the rest of the path inside the old and new values
        ("field_changed('customer.tier')", True),
        ("field_changed_to('customer.tier', 'gold')", True),
        ("field_changed_from('customer.tier', 'silver')", True),
        ("field_changed('customer.age')", False),
        ("total > 100 && field_changed_to('status', 'shipped')", True),
    ],
)
def test_change_functions_on_update(condition: str, expected: bool) -> None:
    assert compile_condition(condition).evaluate(update(CHANGES)) is expected


@pytest.mark.parametrize(
    "condition",
    ["field_changed('status')", "field_changed_to('status', 'x')", "field_changed_from('a', 1)"],
)
def test_change_functions_are_false_without_changes_on_insert(condition: str) -> None:
    assert compile_condition(condition).evaluate(insert()) is False


def test_change_functions_fail_on_an_update_without_changes() -> None:
    with pytest.raises(ConditionError, match="no changes"):
        compile_condition("field_changed('status')").evaluate(update(None))


def test_empty_changes_means_nothing_changed() -> None:
    assert compile_condition("field_changed('status')").evaluate(update({})) is False


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ("missing == 1", "'missing' is not in the event data"),
        ("customer.nope == 1", "'customer.nope' is not in the event data"),
        ("status > 1", "is a string"),
        ("paid >= 1", "is a boolean"),
        ("note < 1", "is a null"),
    ],
)
def test_runtime_errors(condition: str, message: str) -> None:
    with pytest.raises(ConditionError, match=message):
        compile_condition(condition).evaluate(insert())


def test_and_or_short_circuit_past_failing_operands() -> None:
    # The right side would fail (missing field), but it is never evaluated.
    assert compile_condition("total > 1000 && missing == 1").evaluate(insert()) is False
    assert compile_condition("total > 1 || missing == 1").evaluate(insert()) is True


@pytest.mark.parametrize(
    ("condition", "position", "message"),
    [
        ("", 0, "empty condition"),
        ("   ", 3, "empty condition"),
        ("total >", 7, "expected a value after '>'"),
        ("a & b", 2, "did you mean '&&'"),
        ("a | b", 2, "did you mean '||'"),
        ("status = 1", 7, "did you mean '=='"),
        ("(total > 1", 10, "expected ')'"),
        ("total > 1)", 9, "unexpected ')'"),
        ("total > 1 total", 10, "unexpected 'total'"),
        ("total 1", 6, "expected a comparison operator"),
        ("status == 'open", 10, "unterminated string"),
        ("foo('a')", 0, "unknown function 'foo'"),
        ("has_field('a', 'b')", 0, "takes 1 argument"),
        ("field_changed_to('a')", 0, "takes 2 arguments"),
        ("has_field('a' 'b')", 14, "expected ',' or ')'"),
        ("has_field(&&)", 10, "expected an argument"),
        ("'a' == 1", 0, "expected a comparison, a function or '('"),
        ("1abc == 1", 0, "is not a field path"),
        ("total > 'x'", 8, "compares numbers"),
        ("total >= true", 9, "compares numbers"),
        ("total == 1 &&", 13, "expected a comparison"),
        ("!= 1", 0, "expected a comparison"),
        ("total == 1 # x", 11, "unexpected character '#'"),
    ],
)
def test_syntax_errors_report_their_position(condition: str, position: int, message: str) -> None:
    with pytest.raises(ConditionSyntaxError) as info:
        compile_condition(condition)
    assert message in str(info.value)
    assert info.value.position == position
    assert f"at position {position}" in str(info.value)


def test_input_length_is_limited() -> None:
    ok = "total == 1" + " " * (MAX_CONDITION_BYTES - 10)
    assert compile_condition(ok).evaluate(insert()) is False
    with pytest.raises(ConditionSyntaxError, match="longer than"):
        compile_condition(ok + " ")


def test_nesting_depth_is_limited() -> None:
    deep_ok = "(" * MAX_DEPTH + "total == 150" + ")" * MAX_DEPTH
    assert compile_condition(deep_ok).evaluate(insert()) is True
    with pytest.raises(ConditionSyntaxError, match="nesting deeper"):
        compile_condition("(" * (MAX_DEPTH + 1) + "total == 150" + ")" * (MAX_DEPTH + 1))
    with pytest.raises(ConditionSyntaxError, match="nesting deeper"):
        compile_condition("!" * (MAX_DEPTH + 1) + "total == 150")


def test_bare_words_are_noted_at_compile_time() -> None:
    assert compile_condition("status == shipped").warnings
    assert not compile_condition("status == 'shipped' && total > 1").warnings


def test_strings_take_backslash_escapes() -> None:
    event = insert(name="it's", path="a\\b")
    assert compile_condition(r"name == 'it\'s'").evaluate(event) is True
    assert compile_condition(r"path == 'a\\b'").evaluate(event) is True


def test_never_uses_python_eval() -> None:
    with pytest.raises(ConditionSyntaxError):
        compile_condition("__import__('os').system('true')")
