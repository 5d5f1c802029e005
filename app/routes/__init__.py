"""HTTP and WebSocket routes of the reference service."""
