"""Database: client, Beanie documents and the embedded server launcher."""
