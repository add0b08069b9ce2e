"""Data-driven evaluation runners (QA; later routing, STT). Not shipped with the service."""
