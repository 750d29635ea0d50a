"""The one connection type of every listing: `XConnection`/`XEdge` for node type X."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

import strawberry

from ecg_graphql.api.context import Info
from ecg_graphql.paging import Page

Node = TypeVar("Node")
Row = TypeVar("Row")


@strawberry.type
class PageInfo:
    """Where a page ends and whether more follow."""

    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class Edge(Generic[Node]):
    """An item of a page, with the cursor of its position."""

    cursor: str
    node: Node

    @staticmethod
    def view(
        node: Callable[[Row], Node], cursor: Callable[[Row], str]
    ) -> Callable[[Row], Edge[Node]]:
        """How a service's row becomes an edge (define it once, at module level: listings
        that keep pages key them by this function)."""

        def edge(row: Row) -> Edge[Node]:
            return Edge(cursor=cursor(row), node=node(row))

        return edge


@strawberry.type
class Connection(Generic[Node]):
    """A page of a listing; pass `pageInfo.endCursor` as `after` for the next one."""

    edges: list[Edge[Node]]
    page_info: PageInfo
    _count: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field(description="How many items the whole listing holds.")
    async def total_count(self, info: Info) -> int:
        return await self._count()

    @classmethod
    def of(
        cls,
        page: Page[Row],
        *,
        node: Callable[[Row], Node],
        cursor: Callable[[Row], str],
        count: Callable[[], Awaitable[int]],
    ) -> Connection[Node]:
        """The connection of a service's page: `node` and `cursor` of each row, and how to
        count the listing (only run when `totalCount` is selected)."""
        edge = Edge.view(node, cursor)
        return cls.of_edges(Page([edge(row) for row in page.items], page.has_next_page), count)

    @classmethod
    def of_edges(
        cls, page: Page[Edge[Node]], count: Callable[[], Awaitable[int]]
    ) -> Connection[Node]:
        """The connection of a page of edges (`Edge.view` of each row)."""
        edges = page.items
        return cls(
            edges=edges,
            page_info=PageInfo(
                has_next_page=page.has_next_page,
                end_cursor=edges[-1].cursor if edges else None,
            ),
            _count=count,
        )
