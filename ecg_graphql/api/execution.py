"""A faster completion path for objects whose selected fields are all plain attributes.

graphql-core resolves every field through the full machinery (resolve info, resolver,
completion), about 10-20 us each. A page of 50 ECGs with 12 leads of insights selects
over a thousand such fields, all plain attribute reads of leaf values. For a selection
made only of default-resolved leaf fields without arguments, this execution context
reads and serialises them directly; anything else, and any value that would need an
error (null in a non-null field, a value the scalar rejects), takes the standard path,
which then produces exactly the standard result or error.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter
from typing import Any

from graphql import (
    GraphQLField,
    GraphQLLeafType,
    GraphQLList,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    is_leaf_type,
    is_non_null_type,
    is_object_type,
)
from graphql.execution.collect_fields import FieldDetailsList, GroupedFieldSet
from graphql.pyutils import AwaitableOrValue, Path
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

# (response name, resolver or None for __typename, leaf type, non-null)
_PlanItem = tuple[str, Callable[..., Any] | None, GraphQLLeafType | None, bool]


class PlainLeafExecutionContext(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's execution context with the plain-leaf fast path."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Keyed by id() of the memoised grouped field set, kept alive beside its plan.
        self._plans: dict[int, tuple[GroupedFieldSet, list[_PlanItem] | None]] = {}

    def build_response(self, data: dict[str, Any] | None) -> Any:
        """The response, and then the context lets go of its own bound methods.

        graphql-core's context holds `async_helpers`, built from its own bound methods: a
        reference cycle that keeps the context, and with it every variable value, alive until
        the garbage collector's rare full pass. For appendEcgChunk that is some 10 MB of
        samples per request, and the API's resident memory climbed by ~200 MB over a 24 h
        Holter upload (bench/holter.py). Execution is complete here, so the cycle is cut
        and the request's memory is freed when the request ends.
        """
        response = super().build_response(data)
        del self.async_helpers
        return response

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: GroupedFieldSet,
        position_context: Any,
    ) -> AwaitableOrValue[dict[str, Any]]:
        """Plain leaf selections are read directly; everything else as graphql-core does."""
        plan = self._plan(parent_type, grouped_field_set)
        if plan is not None:
            results = self._read_plain(parent_type, source_value, plan)
            if results is not None:
                return results
        return super().execute_fields(
            parent_type, source_value, path, grouped_field_set, position_context
        )

    def complete_list_value(
        self,
        return_type: GraphQLList[GraphQLOutputType],
        field_details_list: FieldDetailsList,
        info: GraphQLResolveInfo[Any],
        path: Path,
        result: Any,
        position_context: Any,
    ) -> AwaitableOrValue[list[Any]]:
        """Lists of objects with a plain leaf selection are read directly, item by item."""
        item_type = return_type.of_type
        object_type = item_type.of_type if is_non_null_type(item_type) else item_type
        if isinstance(result, list | tuple) and is_object_type(object_type):
            rows = self._read_plain_list(object_type, field_details_list, info, result)
            if rows is not None:
                return rows
        return super().complete_list_value(
            return_type, field_details_list, info, path, result, position_context
        )

    def _read_plain_list(
        self,
        object_type: GraphQLObjectType,
        field_details_list: FieldDetailsList,
        info: GraphQLResolveInfo[Any],
        items: list[Any] | tuple[Any, ...],
    ) -> list[Any] | None:
        grouped_field_set, defer_usages, _ = self.collect_subfields(object_type, field_details_list)
        if defer_usages:
            return None
        plan = self._plan(object_type, grouped_field_set)
        if plan is None:
            return None
        rows: list[Any] = []
        is_type_of = object_type.is_type_of
        for item in items:
            if item is None or (is_type_of is not None and is_type_of(item, info) is not True):
                return None  # nulls and type checks: the standard path decides
            row = self._read_plain(object_type, item, plan)
            if row is None:
                return None
            rows.append(row)
        return rows

    def _plan(
        self, parent_type: GraphQLObjectType, grouped_field_set: GroupedFieldSet
    ) -> list[_PlanItem] | None:
        cached = self._plans.get(id(grouped_field_set))
        if cached is not None:
            return cached[1]
        plan: list[_PlanItem] | None = self._build_plan(parent_type, grouped_field_set)
        self._plans[id(grouped_field_set)] = (grouped_field_set, plan)
        return plan

    @staticmethod
    def _build_plan(
        parent_type: GraphQLObjectType, grouped_field_set: GroupedFieldSet
    ) -> list[_PlanItem] | None:
        plan: list[_PlanItem] = []
        for response_name, field_details_list in grouped_field_set.items():
            node = field_details_list[0].node
            name = node.name.value
            if name == "__typename":
                plan.append((response_name, None, None, True))
                continue
            field_def = parent_type.fields.get(name)
            if (
                field_def is None
                or any(details.node.arguments for details in field_details_list)
                or not getattr(field_def.resolve, "_is_default", False)
            ):
                return None
            field_type = field_def.type
            non_null = is_non_null_type(field_type)
            leaf = field_type.of_type if non_null else field_type
            if not is_leaf_type(leaf):
                return None
            plan.append((response_name, _reader(field_def), leaf, non_null))
        return plan

    def _read_plain(
        self, parent_type: GraphQLObjectType, source: Any, plan: list[_PlanItem]
    ) -> dict[str, Any] | None:
        results: dict[str, Any] = {}
        try:
            for response_name, resolve, leaf, non_null in plan:
                if resolve is None:
                    results[response_name] = parent_type.name
                    continue
                value = resolve(source)
                if value is None:
                    if non_null:
                        return None  # the standard path raises the proper field error
                    results[response_name] = None
                    continue
                assert leaf is not None  # noqa: S101  (set for every non-__typename item)
                results[response_name] = self.complete_leaf_value(leaf, value)
        except Exception:  # the standard path reports it, located and masked as usual
            return None
        return results


def _reader(field_def: GraphQLField) -> Callable[[Any], Any]:
    """How to read a default-resolved field: the attribute itself when Strawberry's default
    resolver is getattr, else that resolver (which ignores its info argument)."""
    definition = (field_def.extensions or {}).get("strawberry-definition")
    python_name = getattr(definition, "python_name", None)
    if isinstance(python_name, str) and getattr(definition, "default_resolver", None) is getattr:
        return attrgetter(python_name)
    resolve = field_def.resolve
    assert resolve is not None  # noqa: S101  (checked by the caller: a default resolver)
    return lambda source: resolve(source, None)
