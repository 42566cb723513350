"""Sample user service: a small REST API over an in-memory (or SQLite) store."""
