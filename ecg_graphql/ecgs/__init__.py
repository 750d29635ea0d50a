"""ECGs: validation, packed chunk storage, reading, listing and deletion (no web imports)."""
