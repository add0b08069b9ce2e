"""Channels: the FastAPI app (composition root) and everything that knows HTTP/WebSocket/Twilio."""
