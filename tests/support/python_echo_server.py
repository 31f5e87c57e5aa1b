#!/usr/bin/python3
"""A WebSocket server on Python's `websockets` (Debian python3-websockets, 10.4), a peer
for the interoperation tests (tests/integration/python-websockets.test.ts).

    /usr/bin/python3 tests/support/python_echo_server.py [echo|drive]

Listens on 127.0.0.1, on a port the OS picks, and prints that port as the first line of
stdout. Exits when stdin closes (the test process went away) or on SIGTERM/SIGINT.

Modes:
  echo   sends every message back unchanged (text as text, binary as binary).
  drive  plays the Autobahn-like driver for the echo agent: on each connection, sends a
         fixed list of messages (one of them fragmented), checks each echo (type and
         content), closes with 1000 "done", and prints one JSON line with the verdict:
         {"ok": true, "checked": N} or {"ok": false, "error": "..."}.
"""
import asyncio
import json
import signal
import sys

import websockets

MiB = 1024 * 1024

# Text (str) and binary (bytes) messages the driver sends; a list is sent as fragments
# (websockets sends each item in its own frame) and must come back as one message.
DRIVE_MESSAGES = [
    "hello",
    "",
    "h\u00e9llo w\u00f6rld \u20ac \U0001F30D",
    bytes([0, 1, 2, 254, 255]),
    b"",
    bytes(range(256)) * 400,  # 100 KiB, a 64-bit length frame
    "y" * 300,  # a 16-bit length frame
    "x" * 70000,  # text in a 64-bit length frame
    ["frag", "mented ", "\u00e9cho"],
    [b"\x01\x02", b"\x03"],
]


def report(result):
    print(json.dumps(result), flush=True)


async def echo(websocket):
    async for message in websocket:
        await websocket.send(message)


async def drive(websocket):
    checked = 0
    try:
        for message in DRIVE_MESSAGES:
            if isinstance(message, list):
                await websocket.send(message)
                expected = ("" if isinstance(message[0], str) else b"").join(message)
            else:
                await websocket.send(message)
                expected = message
            reply = await asyncio.wait_for(websocket.recv(), 5)
            if type(reply) is not type(expected):
                raise AssertionError(
                    f"message {checked}: sent {type(expected).__name__}, echo is {type(reply).__name__}"
                )
            if reply != expected:
                raise AssertionError(
                    f"message {checked}: echo differs ({len(reply)} vs {len(expected)} long)"
                )
            checked += 1
        await websocket.close(1000, "done")
        report({"ok": True, "checked": checked})
    except Exception as error:  # the verdict must reach the test whatever went wrong
        report({"ok": False, "checked": checked, "error": f"{type(error).__name__}: {error}"})
        await websocket.close(1011, "driver failed")


async def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "echo"
    if mode not in ("echo", "drive"):
        print(f"unknown mode {mode!r}: use echo or drive", file=sys.stderr)
        sys.exit(2)
    handler = echo if mode == "echo" else drive

    loop = asyncio.get_running_loop()
    stop = loop.create_future()

    def request_stop():
        if not stop.done():
            stop.set_result(None)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, request_stop)

    # Exit when stdin reaches end of file: the test that started us has ended, even if it
    # could not send a signal.
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)

    async def watch_stdin():
        while await stdin.read(4096):
            pass
        request_stop()

    watcher = asyncio.create_task(watch_stdin())
    # max_size: messages up to 16 MiB, like the echo agent's limits; no compression
    # (the client offers no extension anyway).
    async with websockets.serve(handler, "127.0.0.1", 0, max_size=16 * MiB, compression=None) as server:
        port = server.sockets[0].getsockname()[1]
        print(port, flush=True)
        await stop
    watcher.cancel()


if __name__ == "__main__":
    asyncio.run(main())
