"""The client<->server wire: message types, their JSON Schemas, limits, encoding and decoding.

One persistent websocket per client carries JSON text frames, one message each, every message an
object with a `type` (schemas in `schema/wire/<type>.json`, draft 2020-12, strict):

    client -> server   hello, auth, snapshot, patch, backfill, bye
    server -> client   challenge, welcome, ack, resync, plan, error

A connection goes: client `hello` (protocol, version, raw Ed25519 public key) -> server
`challenge` (fresh 32-byte nonce and the server's id) -> client `auth` (signature of
`auth_message(nonce, server, public_key)`) -> server `welcome` (the client id and, per stream,
the last seq it applied) -> the client resends what the server lacks, then streams: a `snapshot`
of its normalized state, then `patch`es (RFC 7386, `schema.mergepatch`), each with the next seq
of its stream and `base = seq - 1`. The server `ack`s (cumulative: everything up to seq), asks
for a `resync` (a new snapshot) when it cannot apply a patch, sends a `plan` of what to read and
refuses bad input with an `error` carrying one of `ERROR_CODES`.

`decode` is the only door for untrusted bytes: it checks the size before parsing, then JSON, depth,
type and schema, and raises `WireError(code, message)` with a short message that names the field
path and never echoes the input back. Everything here is pure (no I/O, no clock).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import re
from functools import cache
from importlib import resources
from typing import Any

import orjson
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match
from referencing import Registry, Resource

log = logging.getLogger(__name__)

PROTOCOL = 1
MAX_MESSAGE_BYTES = 1024 * 1024  # a 60-car snapshot is ~100 KB
MAX_DEPTH = 64  # containers inside containers, the message object itself being depth 1
MAX_ERROR_TEXT = 300  # characters of a WireError message (fits the error message's 500 limit)

AUTH_CONTEXT = b"lmust-auth-v1"
NONCE_BYTES = 32
PUBLIC_KEY_BYTES = 32
SIGNATURE_BYTES = 64

CLIENT_TYPES = frozenset({"hello", "auth", "snapshot", "patch", "backfill", "bye"})
SERVER_TYPES = frozenset({"challenge", "welcome", "ack", "resync", "plan", "error"})
MESSAGE_TYPES = CLIENT_TYPES | SERVER_TYPES
_ALLOWED = {"client": CLIENT_TYPES, "server": SERVER_TYPES, None: MESSAGE_TYPES}
ERROR_CODES = (
    "bad_json",  # not UTF-8 JSON
    "too_large",  # over max_bytes, or nested deeper than MAX_DEPTH
    "schema",  # not an object, unknown or unexpected type, or a schema violation
    "unknown_stream",  # patch/ack for a stream the receiver does not know
    "bad_seq",  # seq out of order, or a patch whose base is not seq - 1
    "auth_failed",  # bad signature, or no valid auth before data
    "forbidden",  # authenticated but not allowed (e.g. not on the server's list)
    "version",  # protocol not supported
    "internal",  # the receiver failed; not the sender's fault
)

_STREAM_RE = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_MAX_SEQ = 2**53 - 1
_SCHEMA_PACKAGE = "schema"
_SCHEMA_DIR = "wire"


class WireError(Exception):
    """A message was refused. `code` is one of ERROR_CODES; `message` is short and safe to send.

    `stream` and `seq` are filled in when the refused message was an object carrying them, so
    the server can answer with an `error` message that points at it.
    """

    def __init__(
        self, code: str, message: str, *, stream: str | None = None, seq: int | None = None
    ) -> None:
        if code not in ERROR_CODES:
            raise ValueError(f"unknown error code {code!r}")
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = _clip(message)
        self.stream = stream
        self.seq = seq

    def to_message(self) -> dict[str, Any]:
        """The `error` message that reports this refusal to the other side."""
        return error(self.code, self.message, stream=self.stream, seq=self.seq)


# --- schemas -------------------------------------------------------------------------------


def _schema_documents() -> dict[str, dict]:
    folder = resources.files(_SCHEMA_PACKAGE).joinpath(_SCHEMA_DIR)
    docs = {}
    for entry in folder.iterdir():
        if entry.name.endswith(".json"):
            docs[entry.name[: -len(".json")]] = json.loads(entry.read_text(encoding="utf-8"))
    return docs


@cache
def validators() -> dict[str, Draft202012Validator]:
    """One compiled validator per message type (built once, on first use)."""
    docs = _schema_documents()
    registry: Registry = Registry().with_resources(
        (doc["$id"], Resource.from_contents(doc)) for doc in docs.values()
    )
    found = {}
    for name, doc in docs.items():
        if name == "common":
            continue
        Draft202012Validator.check_schema(doc)
        found[name] = Draft202012Validator(doc, registry=registry)
    missing = MESSAGE_TYPES - found.keys()
    if missing:
        raise RuntimeError(f"wire schemas missing for {sorted(missing)}")
    return found


def schema(message_type: str) -> dict:
    """The JSON Schema of one message type (for documentation and other languages)."""
    return validators()[message_type].schema


# --- encode / decode -----------------------------------------------------------------------


def encode(msg: dict[str, Any]) -> bytes:
    """UTF-8 JSON bytes of a message (orjson: exact big integers, no NaN).

    Not validated (that costs time on every frame); call `validate` in tests and where a
    message is built from outside data.
    """
    return orjson.dumps(msg)


def decode(
    data: bytes | str,
    *,
    max_bytes: int = MAX_MESSAGE_BYTES,
    sender: str | None = None,
) -> dict[str, Any]:
    """Parse and check one frame; raise `WireError` if it is not a valid message.

    `sender` is "client" or "server" to also refuse types that side never sends (a server
    decodes with sender="client"). Checks in order: size (before anything is parsed), JSON,
    nesting depth, object with a known `type`, schema, then the rules a schema cannot say
    (hello protocol, patch base). Integers are exact up to 64 bits (orjson); larger ones
    arrive as floats, which no field of the protocol or of the game needs.
    """
    size = _size(data, max_bytes)
    if size > max_bytes:
        raise WireError("too_large", f"message of {size} bytes exceeds the limit of {max_bytes}")
    try:
        msg = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise WireError("bad_json", f"not valid JSON: {exc}") from None
    if type(msg) is not dict:
        raise WireError("schema", f"message must be an object, not {_json_kind(msg)}")
    depth = _depth_over(msg, MAX_DEPTH)
    if depth:
        raise WireError("too_large", f"nesting deeper than {MAX_DEPTH} levels at {depth}")
    stream, seq = _stream_of(msg), _seq_of(msg)
    kind = msg.get("type")
    allowed = _ALLOWED.get(sender)
    if allowed is None:
        raise ValueError(f"sender must be 'client', 'server' or None, not {sender!r}")
    if type(kind) is not str or kind not in allowed:
        shown = _clip(repr(kind), 40)
        who = f" from a {sender}" if sender else ""
        raise WireError(
            "schema", f"/type: unknown message type {shown}{who}", stream=stream, seq=seq
        )
    _check(kind, msg, stream=stream, seq=seq)
    return msg


def validate(msg: dict[str, Any]) -> None:
    """Raise `WireError` unless `msg` is a valid message (the checks of `decode` after parsing)."""
    if (
        type(msg) is not dict
        or type(msg.get("type")) is not str
        or msg["type"] not in MESSAGE_TYPES
    ):
        raise WireError("schema", "/type: not a message object with a known type")
    _check(msg["type"], msg, stream=_stream_of(msg), seq=_seq_of(msg))


def _check(kind: str, msg: dict, *, stream: str | None, seq: int | None) -> None:
    validator = validators()[kind]
    problem = best_match(validator.iter_errors(msg))
    if problem is not None:
        where = "/" + "/".join(str(part) for part in problem.absolute_path)
        raise WireError("schema", f"{where}: {problem.message}", stream=stream, seq=seq)
    if kind == "hello" and msg["protocol"] != PROTOCOL:
        raise WireError(
            "version", f"/protocol: {msg['protocol']} is not supported (this side speaks 1)"
        )
    if kind == "patch" and msg["base"] != msg["seq"] - 1:
        raise WireError(
            "bad_seq",
            f"/base: {msg['base']} must be seq - 1 = {msg['seq'] - 1}",
            stream=stream,
            seq=seq,
        )


def _size(data: bytes | bytearray | memoryview | str, limit: int) -> int:
    """Byte size of a frame; a str longer than `limit` characters is not encoded to find out."""
    if not isinstance(data, str):
        return len(data)
    return len(data) if len(data) > limit else len(data.encode("utf-8", "surrogatepass"))


def _stream_of(msg: dict) -> str | None:
    stream = msg.get("stream")
    return stream if type(stream) is str and _STREAM_RE.fullmatch(stream) else None


def _seq_of(msg: dict) -> int | None:
    seq = msg.get("seq")
    return seq if type(seq) is int and 1 <= seq <= _MAX_SEQ else None


def _depth_over(doc: Any, limit: int) -> str | None:
    """Path of the first container nested deeper than `limit`, or None (iterative walk)."""
    stack: list[tuple[Any, int, str]] = [(doc, 1, "")]
    while stack:
        value, depth, where = stack.pop()
        if depth > limit:
            return where or "/"
        items = value.items() if type(value) is dict else enumerate(value)
        for key, item in items:
            kind = type(item)
            if kind is dict or kind is list:
                stack.append((item, depth + 1, _deeper(where, key, depth)))
    return None


def _deeper(where: str, key: object, depth: int) -> str:
    """The path one level down, cut to its first levels (deep paths are not worth the bytes)."""
    if depth < 6:
        return f"{where}/{key}"
    return where if where.endswith("…") else f"{where}/…"


def _json_kind(value: Any) -> str:
    return {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )


def _clip(text: str, limit: int = MAX_ERROR_TEXT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- authentication ------------------------------------------------------------------------


def auth_message(nonce: bytes, server: str, public_key: bytes) -> bytes:
    """The exact bytes a client signs to answer a challenge.

    `AUTH_CONTEXT`, a zero byte, the server id (UTF-8, 1-byte length prefix), the 32-byte nonce
    and the 32-byte public key. The context keeps these signatures useless for anything else;
    the fresh nonce makes an old answer useless for a new challenge; the server id makes an
    answer to server A useless at server B; fixed sizes and the prefix make it unambiguous.
    """
    if len(nonce) != NONCE_BYTES:
        raise ValueError(f"nonce must be {NONCE_BYTES} bytes, not {len(nonce)}")
    if len(public_key) != PUBLIC_KEY_BYTES:
        raise ValueError(f"public key must be {PUBLIC_KEY_BYTES} bytes, not {len(public_key)}")
    server_id = server.encode("utf-8")
    if not 0 < len(server_id) < 256:
        raise ValueError("server id must be 1..255 bytes of UTF-8")
    return b"".join(
        (AUTH_CONTEXT, b"\x00", bytes([len(server_id)]), server_id, nonce, bytes(public_key))
    )


def client_id(public_key: bytes) -> str:
    """A client's stable id: the first 32 lowercase hex digits (128 bits) of SHA-256(raw key).

    Derived from the raw 32-byte Ed25519 key, not from a PEM text, so every implementation
    computes the same id.
    """
    if len(public_key) != PUBLIC_KEY_BYTES:
        raise ValueError(f"public key must be {PUBLIC_KEY_BYTES} bytes, not {len(public_key)}")
    return hashlib.sha256(public_key).hexdigest()[:32]


def verify_auth(public_key: bytes, signature: bytes, nonce: bytes, server: str) -> bool:
    """True when `signature` is the key's Ed25519 signature of `auth_message(...)`."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        key = Ed25519PublicKey.from_public_bytes(public_key)
        key.verify(signature, auth_message(nonce, server, public_key))
    except (InvalidSignature, ValueError):
        return False
    return True


def b64(data: bytes) -> str:
    """Standard base64 with padding, as the messages carry keys, nonces and signatures."""
    return base64.b64encode(data).decode("ascii")


def unb64(text: str, size: int) -> bytes:
    """Bytes of a canonical base64 field of exactly `size` bytes; `WireError("schema")` if not."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise WireError("schema", f"not base64 of {size} bytes") from None
    if len(raw) != size or b64(raw) != text:
        raise WireError("schema", f"not canonical base64 of {size} bytes")
    return raw


# --- message builders ----------------------------------------------------------------------


def hello(public_key: bytes, client_version: str, name: str | None = None) -> dict[str, Any]:
    msg = {
        "type": "hello",
        "protocol": PROTOCOL,
        "client_version": client_version,
        "public_key": b64(public_key),
    }
    if name:
        msg["name"] = name
    return msg


def auth(signature: bytes) -> dict[str, Any]:
    return {"type": "auth", "signature": b64(signature)}


def snapshot(stream: str, seq: int, et: float, sent_at: float, state: dict) -> dict[str, Any]:
    return {
        "type": "snapshot",
        "stream": stream,
        "seq": seq,
        "et": et,
        "sent_at": sent_at,
        "state": state,
    }


def patch(stream: str, seq: int, et: float, sent_at: float, merge_patch: dict) -> dict[str, Any]:
    """A patch from the state at seq - 1 (its `base`) to the state at `seq`."""
    return {
        "type": "patch",
        "stream": stream,
        "seq": seq,
        "base": seq - 1,
        "et": et,
        "sent_at": sent_at,
        "patch": merge_patch,
    }


def backfill(stream: str, seq: int, et: float, history: dict) -> dict[str, Any]:
    return {"type": "backfill", "stream": stream, "seq": seq, "et": et, "history": history}


def bye(reason: str) -> dict[str, Any]:
    return {"type": "bye", "reason": reason}


def challenge(nonce: bytes, server: str) -> dict[str, Any]:
    return {"type": "challenge", "nonce": b64(nonce), "server": server}


def welcome(client: str, streams: dict[str, int]) -> dict[str, Any]:
    return {"type": "welcome", "client_id": client, "streams": dict(streams)}


def ack(stream: str, seq: int) -> dict[str, Any]:
    return {"type": "ack", "stream": stream, "seq": seq}


def resync(stream: str, reason: str) -> dict[str, Any]:
    return {"type": "resync", "stream": stream, "reason": reason}


def plan(fetch: dict[str, bool], **extra: Any) -> dict[str, Any]:
    return {"type": "plan", "fetch": dict(fetch), **extra}


def error(
    code: str, message: str, *, stream: str | None = None, seq: int | None = None
) -> dict[str, Any]:
    msg: dict[str, Any] = {"type": "error", "code": code, "message": _clip(message)}
    if stream is not None:
        msg["stream"] = stream
    if seq is not None:
        msg["seq"] = seq
    return msg
