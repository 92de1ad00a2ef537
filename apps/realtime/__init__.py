"""WebSocket consumers, SSE views and the event bus."""
