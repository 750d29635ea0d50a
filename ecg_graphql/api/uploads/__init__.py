"""GraphQL domain of chunked (large, Holter) uploads."""
