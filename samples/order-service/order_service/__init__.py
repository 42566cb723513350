"""Sample order service: orders for existing users, with idempotent creation."""
