"""Assistant: dialogue, complaints, adapters, PII redaction and settings. Imports knowledge/, never
channels/."""
