"""The HTTP API (aiohttp): JSON in and out, errors as ``{"error": {"code", "message"}}``."""
