"""Alembic migrations of the assistant's relational schema (run by ``Database.create_schema``)."""
