"""Shared websocket frames: a message sent to many viewers is framed and compressed once.

uvicorn's websockets protocol compresses each message for each connection (permessage-deflate
with context takeover): one 90 KB standings update for 1000 viewers costs 1000 compressions of
about 2 ms. `FanoutProtocol` negotiates permessage-deflate *without server context takeover*,
so a message's compressed frame depends only on the message and the window size, never on the
connection. An ASGI `websocket.send` carrying `SHARED: True` (what /ws/view sends) is framed
once per distinct str object and the very same bytes are written to every socket; any other
message goes the ordinary way. Use with `uvicorn.Config(ws=FanoutProtocol)`; under another
protocol the flag is ignored and everything still works, only dearer.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Any

from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.extensions.permessage_deflate import (
    PerMessageDeflate,
    ServerPerMessageDeflateFactory,
)
from websockets.frames import Frame, Opcode
from websockets.protocol import State

log = logging.getLogger(__name__)

SHARED = "lmust.shared"  # key of an ASGI websocket.send: the text goes to many sockets
CACHE_SIZE = 64  # distinct messages kept framed (the latest pushes and refreshes)
WINDOW_BITS = 12  # as uvicorn's own permessage-deflate settings
COMPRESS_SETTINGS = {"memLevel": 5}

counters = {"frames_built": 0, "frames_written": 0, "frame_bytes_written": 0}
_frames: OrderedDict[int, tuple[str, dict[Any, bytes]]] = OrderedDict()


def _mode(extensions: list) -> Any:
    """How this connection frames text: None (plain), a deflate key, or False (unsupported)."""
    if not extensions:
        return None
    if len(extensions) == 1 and isinstance(extensions[0], PerMessageDeflate):
        ext = extensions[0]
        if ext.local_no_context_takeover:
            settings = tuple(sorted(ext.compress_settings.items()))
            return ("deflate", ext.remote_max_window_bits, ext.local_max_window_bits, settings)
    return False


def shared_frame(text: str, extensions: list) -> bytes | None:
    """The complete wire frame of `text` for a connection with these extensions (built once per
    text object and mode), or None when the connection's framing cannot be shared."""
    mode = _mode(extensions)
    if mode is False:
        return None
    entry = _frames.get(id(text))
    if entry is None or entry[0] is not text:
        entry = (text, {})  # holding the str keeps its id from being reused while cached
        _frames[id(text)] = entry
        if len(_frames) > CACHE_SIZE:
            _frames.popitem(last=False)
    else:
        _frames.move_to_end(id(text))
    frame = entry[1].get(mode)
    if frame is None:
        if mode is None:
            encoders = []
        else:
            ext = extensions[0]
            encoders = [  # a fresh, context-free encoder: the same bytes for any connection
                PerMessageDeflate(
                    ext.remote_no_context_takeover,
                    True,
                    ext.remote_max_window_bits,
                    ext.local_max_window_bits,
                    dict(ext.compress_settings),
                )
            ]
        frame = Frame(Opcode.TEXT, text.encode()).serialize(mask=False, extensions=encoders)
        entry[1][mode] = frame
        counters["frames_built"] += 1
    counters["frames_written"] += 1
    counters["frame_bytes_written"] += len(frame)
    return frame


class FanoutProtocol(WebSocketsSansIOProtocol):
    """uvicorn's websockets-sansio protocol, writing shared frames for shared sends."""

    def __init__(self, config: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        if config.ws_per_message_deflate:
            self.conn.available_extensions = [
                ServerPerMessageDeflateFactory(
                    server_no_context_takeover=True,  # what makes a frame connection-free
                    server_max_window_bits=WINDOW_BITS,
                    client_max_window_bits=WINDOW_BITS,
                    compress_settings=dict(COMPRESS_SETTINGS),
                )
            ]

    async def send(self, message: Any) -> None:
        text = message.get("text") if message.get(SHARED) else None
        if type(text) is not str or message.get("type") != "websocket.send":
            await super().send(message)
            return
        await self.writable.wait()
        if self.disconnected:
            raise ClientDisconnected()
        if (
            self.handshake_complete
            and self.initial_response is None
            and not self.close_sent
            and self.conn.state is State.OPEN
        ):
            frame = shared_frame(text, self.conn.extensions)
            if frame is not None:
                self.transport.write(frame)
                return
        await super().send(message)
