"""JSON Schemas of the Le Mans Ultimate local API and a small API to validate documents by name."""

from schema.validation import (
    DOCUMENTS,
    ENDPOINTS,
    MISSING,
    WEBSOCKET_PATH,
    WEBSOCKET_TOPICS,
    SchemaError,
    Violation,
    check,
    is_valid,
    load_schema,
    validate,
)

__all__ = [
    "DOCUMENTS",
    "ENDPOINTS",
    "MISSING",
    "WEBSOCKET_PATH",
    "WEBSOCKET_TOPICS",
    "SchemaError",
    "Violation",
    "check",
    "is_valid",
    "load_schema",
    "validate",
]
