"""The WebSocket endpoint at /ws/. JSON frames; every bad frame gets an error frame."""

from __future__ import annotations

import json

from channels.generic.websocket import AsyncWebsocketConsumer

MAX_FRAME_BYTES = 64 * 1024
CLOSE_FRAME_TOO_LARGE = 1009


class RealtimeConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        await self.accept()
        await self._send({"type": "hello", "heartbeat_seconds": 20})

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None):
        raw = text_data if text_data is not None else (bytes_data or b"").decode("utf-8", "replace")
        if len(raw) > MAX_FRAME_BYTES:
            await self.close(code=CLOSE_FRAME_TOO_LARGE)
            return
        try:
            message = json.loads(raw)
        except ValueError:
            await self._error("malformed_json", "frame is not valid JSON")
            return
        if not isinstance(message, dict):
            await self._error("bad_frame", "frame must be a JSON object")
            return
        op = message.get("op")
        if op == "ping":
            await self._send({"type": "pong", "ts": message.get("ts")})
        else:
            await self._error("unknown_op", f"unknown op {op!r}", field="op")

    async def _send(self, payload: dict) -> None:
        await self.send(text_data=json.dumps(payload))

    async def _error(self, code: str, message: str, field: str | None = None) -> None:
        error = {"code": code, "message": message}
        if field:
            error["field"] = field
        await self._send({"type": "error", "error": error})
