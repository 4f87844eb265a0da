"""TransactWriteItems in moto at a cost that does not grow with the table (moto 5.2.x).

moto applies each part of a transaction as it goes and, to roll back, first deep-copies every
table the transaction touches. That copy is O(table size) per call: on the local stack a send
into a group with a few thousand messages spent most of its time copying the messages table,
and throughput fell as history grew (65 -> 12 transactions/s in moto_memory_probe.py).

DynamoDB's semantics are all-or-nothing with every condition evaluated against the state
before the transaction, and no two parts may touch the same item. So this version checks every
part's condition first, writes nothing if any fails (returning the same cancellation reasons,
including ReturnValuesOnConditionCheckFailure=ALL_OLD items), and only then applies the parts,
with a backup of just the touched items in case applying one raises.
"""

import os
from typing import Any

from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.exceptions import (
    ConditionalCheckFailed,
    MockValidationException,
    MultipleTransactionsException,
    TooManyTransactionsException,
    TransactionCanceledException,
    TransactWriteSingleOpException,
)
from moto.dynamodb.models import DynamoDBBackend

_OPS = {"ConditionCheck", "Put", "Delete", "Update"}


def _key_of(backend, op_type: str, op: dict[str, Any]) -> dict[str, Any]:
    if op_type != "Put":
        return op["Key"]
    table = backend.get_table(op["TableName"])
    attrs = op["Item"]
    key = {table.hash_key_attr: attrs[table.hash_key_attr]}
    if table.range_key_attr is not None:
        key[table.range_key_attr] = attrs[table.range_key_attr]
    return key


def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    parts = []
    seen: set[tuple[str, str]] = set()
    errors: list[tuple[Any, Any, Any]] = []
    # Phase 1: validate and evaluate every condition against the state before the transaction.
    for item in transact_items:
        if len(item) > 1:
            raise TransactWriteSingleOpException
        op_type, op = next(iter(item.items()))
        original_item = None
        try:
            if op_type not in _OPS:
                raise ValueError("Unsupported transaction operation")
            table_name = op["TableName"]
            key = _key_of(self, op_type, op)
            marker = (str(table_name), str(dict(sorted(key.items()))))
            if marker in seen:
                raise MultipleTransactionsException()
            seen.add(marker)
            current = self.get_item(table_name, key)
            condition = op.get("ConditionExpression")
            if condition is not None:
                check = get_filter_expression(
                    condition,
                    op.get("ExpressionAttributeNames"),
                    op.get("ExpressionAttributeValues"),
                )
                if not check.expr(current):
                    if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                        original_item = current.to_json()["Attributes"]
                    raise ConditionalCheckFailed(item=original_item)
            parts.append((op_type, op, table_name, key, current))
            errors.append((None, None, None))
        except (MultipleTransactionsException, MockValidationException):
            raise
        except ConditionalCheckFailed as e:
            errors.append(("ConditionalCheckFailed", str(e.message), original_item))
        except Exception as e:  # noqa: BLE001 - reported per part, as moto does
            errors.append((type(e).__name__, str(e), original_item))
    if any(code is not None for code, _, _ in errors):
        raise TransactionCanceledException(errors)

    # Phase 2: apply. Conditions were checked above; parts touch distinct items, so nothing
    # changed under them. Keep the touched items to restore should a write raise.
    backup = [
        (table_name, key, None if current is None else current.to_json()["Attributes"])
        for (_, _, table_name, key, current) in parts
    ]
    try:
        for op_type, op, table_name, key, _ in parts:
            names = op.get("ExpressionAttributeNames")
            values = op.get("ExpressionAttributeValues")
            if op_type == "Put":
                self.put_item(table_name, op["Item"])
            elif op_type == "Delete":
                self.delete_item(table_name, key)
            elif op_type == "Update":
                self.update_item(
                    table_name,
                    key,
                    update_expression=op["UpdateExpression"],
                    condition_expression=None,
                    expression_attribute_names=names,
                    expression_attribute_values=values,
                )
    except Exception:
        for table_name, key, attrs in backup:
            if attrs is None:
                if self.get_item(table_name, key) is not None:
                    self.delete_item(table_name, key)
            else:
                self.put_item(table_name, attrs)
        raise


def install() -> None:
    # Like moto_memory.py: MOTO_SERVER_NO_MEMORY_FIXES=1 measures moto as shipped.
    if os.environ.get("MOTO_SERVER_NO_MEMORY_FIXES"):
        return
    DynamoDBBackend.transact_write_items = transact_write_items
