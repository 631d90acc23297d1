"""A faithful simulator of the Le Mans Ultimate local API (REST :6397, push websocket :6398)."""
