"""Shared operators: stage, validate, transform and post records through PostgreSQL."""
