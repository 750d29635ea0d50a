"""ecg-graphql: a GraphQL service that stores ECGs per user and returns insights about them."""

__version__ = "0.1.0"
