"""A faster completion path for selections made only of plain attributes.

graphql-core resolves every field through the full machinery (resolve info, resolver,
completion), about 10-20 us each. A page of 50 ECGs with 12 leads of insights selects
over a thousand such fields, nearly all plain attribute reads. A selection is *plain* when
each of its fields is default-resolved, without arguments, and is a leaf, or an object (or
a list of objects) whose own selection is plain: `edges { node { id date insights { lead
zeroCrossings } } }` is one plain tree. Such a tree is read and serialised directly;
anything else, and any value that would need an error (null in a non-null field, a value
the scalar rejects, an object of another type), takes the standard path from the nearest
enclosing object, which then produces exactly the standard result or error.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

from graphql import (
    GraphQLBoolean,
    GraphQLField,
    GraphQLID,
    GraphQLInt,
    GraphQLLeafType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLString,
    is_leaf_type,
)
from graphql.execution.collect_fields import FieldDetailsList, GroupedFieldSet
from graphql.pyutils import AwaitableOrValue, Path, Undefined
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext


class _NotPlain(Exception):
    """Raised while reading a plain tree when a value needs the standard path."""


@dataclass(frozen=True, slots=True)
class _Item:
    """One field of a plain selection. `read` is None for __typename. `leaf` is set for a
    leaf field; otherwise `fields` is the object's plain selection and `object_type` its
    type, and `many` says it is a list of such objects (`item_non_null`: of non-null ones)."""

    name: str
    read: Callable[[Any], Any] | None
    non_null: bool
    leaf: GraphQLLeafType | None = None
    object_type: GraphQLObjectType | None = None
    fields: tuple[_Item, ...] = ()
    many: bool = False
    item_non_null: bool = False


_Plan = tuple[_Item, ...]


class PlainLeafExecutionContext(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's execution context with the plain-tree fast path."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Keyed by id() of the memoised grouped field set, kept alive beside its plan.
        self._plans: dict[int, tuple[GroupedFieldSet, _Plan | None]] = {}

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
        """Plain selections are read directly; everything else as graphql-core does."""
        plan = self._plan(parent_type, grouped_field_set)
        if plan is not None:
            try:
                return _read_object(parent_type, source_value, plan)
            except _NotPlain:
                pass
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
        """Lists of objects with a plain selection are read directly, item by item."""
        item_non_null, object_type = _nullable(return_type.of_type)
        if isinstance(result, list | tuple) and isinstance(object_type, GraphQLObjectType):
            plan = self._subplan(object_type, field_details_list)
            if plan is not None:
                try:
                    return _read_list(object_type, result, plan, item_non_null)
                except _NotPlain:
                    pass
        return super().complete_list_value(
            return_type, field_details_list, info, path, result, position_context
        )

    def _subplan(
        self, object_type: GraphQLObjectType, field_details_list: FieldDetailsList
    ) -> _Plan | None:
        grouped_field_set, defer_usages, _ = self.collect_subfields(object_type, field_details_list)
        if defer_usages:
            return None
        return self._plan(object_type, grouped_field_set)

    def _plan(
        self, parent_type: GraphQLObjectType, grouped_field_set: GroupedFieldSet
    ) -> _Plan | None:
        cached = self._plans.get(id(grouped_field_set))
        if cached is not None:
            return cached[1]
        plan = self._build_plan(parent_type, grouped_field_set)
        self._plans[id(grouped_field_set)] = (grouped_field_set, plan)
        return plan

    def _build_plan(
        self, parent_type: GraphQLObjectType, grouped_field_set: GroupedFieldSet
    ) -> _Plan | None:
        items: list[_Item] = []
        for response_name, field_details_list in grouped_field_set.items():
            item = self._build_item(parent_type, response_name, field_details_list)
            if item is None:
                return None
            items.append(item)
        return tuple(items)

    def _build_item(
        self,
        parent_type: GraphQLObjectType,
        response_name: str,
        field_details_list: FieldDetailsList,
    ) -> _Item | None:
        name = field_details_list[0].node.name.value
        if name == "__typename":
            return _Item(response_name, None, True)
        field_def = parent_type.fields.get(name)
        if (
            field_def is None
            or any(details.node.arguments for details in field_details_list)
            or not getattr(field_def.resolve, "_is_default", False)
        ):
            return None
        non_null, inner = _nullable(field_def.type)
        read = _reader(field_def)
        if is_leaf_type(inner):
            return _Item(response_name, read, non_null, leaf=inner)
        many = isinstance(inner, GraphQLList)
        item_non_null = False
        if isinstance(inner, GraphQLList):
            item_non_null, inner = _nullable(inner.of_type)
        if not isinstance(inner, GraphQLObjectType):
            return None  # lists of leaves, lists of lists, abstract types: standard path
        fields = self._subplan(inner, field_details_list)
        if fields is None:
            return None
        return _Item(
            response_name,
            read,
            non_null,
            object_type=inner,
            fields=fields,
            many=many,
            item_non_null=item_non_null,
        )


def _read_object(object_type: GraphQLObjectType, source: Any, plan: _Plan) -> dict[str, Any]:
    """The result of a plain selection on one object (raises _NotPlain when a value needs
    the standard path)."""
    results: dict[str, Any] = {}
    try:
        for item in plan:
            read = item.read
            if read is None:
                results[item.name] = object_type.name
                continue
            value = read(source)
            if value is None:
                if item.non_null:
                    raise _NotPlain  # the standard path raises the proper field error
                results[item.name] = None
            elif item.leaf is not None:
                results[item.name] = _serialize(item.leaf, value)
            elif item.object_type is None:
                raise _NotPlain  # not built: every non-leaf item has its object type
            elif item.many:
                results[item.name] = _read_list(
                    item.object_type, value, item.fields, item.item_non_null
                )
            else:
                results[item.name] = _read_nested(item.object_type, value, item.fields)
    except _NotPlain:
        raise
    except Exception:  # the standard path reports it, located and masked as usual
        raise _NotPlain from None
    return results


def _read_nested(object_type: GraphQLObjectType, value: Any, plan: _Plan) -> dict[str, Any]:
    is_type_of = object_type.is_type_of
    if is_type_of is not None and is_type_of(value, None) is not True:  # type: ignore[arg-type]
        raise _NotPlain  # Strawberry's checks ignore the info argument
    return _read_object(object_type, value, plan)


def _read_list(
    object_type: GraphQLObjectType, values: Any, plan: _Plan, item_non_null: bool
) -> list[Any]:
    if not isinstance(values, list | tuple):
        raise _NotPlain  # other iterables: the standard path
    rows: list[Any] = []
    for value in values:
        if value is None:
            if item_non_null:
                raise _NotPlain
            rows.append(None)
            continue
        rows.append(_read_nested(object_type, value, plan))
    return rows


# Built-in scalars whose coercion returns a value of exactly this type unchanged (Int: within
# 32 bits); anything else, floats included (NaN is refused), goes through the coercion.
_IDENTITY: dict[GraphQLLeafType, type] = {
    GraphQLInt: int,
    GraphQLString: str,
    GraphQLID: str,
    GraphQLBoolean: bool,
}
_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1


def _nullable(field_type: GraphQLOutputType) -> tuple[bool, GraphQLOutputType]:
    """Whether the type is non-null, and the type without its non-null wrapper."""
    if isinstance(field_type, GraphQLNonNull):
        return True, field_type.of_type
    return False, field_type


def _serialize(leaf: GraphQLLeafType, value: Any) -> Any:
    kind = _IDENTITY.get(leaf)
    if kind is not None and type(value) is kind and (kind is not int or _int32(value)):
        return value  # what graphql-core's coercion returns for these, without its checks
    coerced = leaf.coerce_output_value(value)
    if coerced is Undefined or coerced is None:  # invalid: the standard path reports it
        raise _NotPlain
    return coerced


def _int32(value: Any) -> bool:
    return bool(_INT_MIN <= value <= _INT_MAX)


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
