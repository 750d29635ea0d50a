"""Authentication: passwords (bcrypt), tokens (JWT access, refresh families), users."""
