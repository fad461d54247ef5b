"""Pure domain rules: no asyncio, no database, no sockets. Time is always passed in."""
