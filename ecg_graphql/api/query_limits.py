"""Depth and alias limits as one validation rule, linear in the size of the document.

Strawberry's own limiters expand fragment spreads without memoisation, so a "fragment
bomb" of a few hundred tokens takes exponential time (seconds at 21 levels, hours at 30)
and an unknown fragment raises a KeyError. Here each fragment is measured once.
"""

from __future__ import annotations

from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
)

MAX_DEPTH = 10
MAX_ALIASES = 30


class _Measure:
    """Depth and alias count of selection sets, each fragment measured once."""

    def __init__(self, fragments: dict[str, FragmentDefinitionNode]) -> None:
        self.fragments = fragments
        self.memo: dict[str, tuple[int, int]] = {}
        self.visiting: set[str] = set()

    def selection_set(self, node: SelectionSetNode | None) -> tuple[int, int]:
        """(depth, aliases) below a selection set; a leaf field has depth 0."""
        if node is None:
            return 0, 0
        depth = aliases = 0
        for selection in node.selections:
            if isinstance(selection, FieldNode):
                if selection.alias is not None:
                    aliases += 1
                if selection.name.value.startswith("__") or selection.selection_set is None:
                    continue  # leaves; introspection is exempt from the depth limit
                sub_depth, sub_aliases = self.selection_set(selection.selection_set)
                depth, aliases = max(depth, 1 + sub_depth), aliases + sub_aliases
            elif isinstance(selection, InlineFragmentNode):
                sub_depth, sub_aliases = self.selection_set(selection.selection_set)
                depth, aliases = max(depth, sub_depth), aliases + sub_aliases
            elif isinstance(selection, FragmentSpreadNode):
                sub_depth, sub_aliases = self.fragment(selection.name.value)
                depth, aliases = max(depth, sub_depth), aliases + sub_aliases
        return depth, aliases

    def fragment(self, name: str) -> tuple[int, int]:
        """(depth, aliases) of a named fragment; unknown or cyclic ones count 0 (other
        rules report them)."""
        if name in self.memo:
            return self.memo[name]
        definition = self.fragments.get(name)
        if definition is None or name in self.visiting:
            return 0, 0
        self.visiting.add(name)
        self.memo[name] = self.selection_set(definition.selection_set)
        self.visiting.discard(name)
        return self.memo[name]


class QueryLimitsRule(ValidationRule):
    """Rejects operations nested deeper than MAX_DEPTH or with more than MAX_ALIASES aliases
    (counted as executed: an alias inside a fragment counts at every spread)."""

    def enter_document(self, node: DocumentNode, *_args: Any) -> None:
        """Measure every operation of the document once."""
        fragments = {
            d.name.value: d for d in node.definitions if isinstance(d, FragmentDefinitionNode)
        }
        measure = _Measure(fragments)
        context: ValidationContext = self.context
        total_aliases = 0
        for definition in node.definitions:
            if not isinstance(definition, OperationDefinitionNode):
                continue
            depth, aliases = measure.selection_set(definition.selection_set)
            total_aliases += aliases
            if depth > MAX_DEPTH:
                name = definition.name.value if definition.name else "anonymous"
                context.report_error(
                    GraphQLError(
                        f"'{name}' exceeds maximum operation depth of {MAX_DEPTH}", [definition]
                    )
                )
        if total_aliases > MAX_ALIASES:
            context.report_error(
                GraphQLError(f"{total_aliases} aliases found. Allowed: {MAX_ALIASES}")
            )
