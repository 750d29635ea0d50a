"""GraphQL layer: Strawberry types, resolvers, permissions and errors; translates to services."""
