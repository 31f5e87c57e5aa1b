"""The Python driver of `npm run bench`: runs a DriverSpec (bench/tasks.ts) with the
`websockets` client (Debian python3-websockets, asyncio), printing one TaskResult per line.

    /usr/bin/python3 bench/driver.py '<DriverSpec as JSON>'

Used as an application would: text arrives as str, binary as bytes; compression off (the
other clients have none), no keepalive pings during the run.
"""
import asyncio
import json
import random
import sys
import time

import websockets

MIB = 1024 * 1024


def text_payload(size):
    unit = 'moorline bench {"seq":12345,"temp":21.5} '
    return (unit * (size // len(unit) + 1))[:size]


def binary_payload(size):
    # Pseudo-random bytes from a fixed seed (the content does not matter to a binary echo).
    return random.Random(0x9E3779B9).randbytes(size)


def payload(size, kind):
    return text_payload(size) if kind == "text" else binary_payload(size)


def connect(url):
    return websockets.connect(url, compression=None, max_size=2 * MIB, ping_interval=None)


async def run_task(url, task, shared):
    figure = task["figure"]
    if figure == "connect":
        samples = []
        for i in range(task["warmup"] + task["count"]):
            start = time.perf_counter()
            ws = await connect(url)
            elapsed = (time.perf_counter() - start) * 1000
            if i >= task["warmup"]:
                samples.append(elapsed)
            await ws.close()
        return {"task": task, "samples": samples}
    if figure == "rtt":
        ws = await shared()
        message = payload(task["size"], task["kind"])
        samples = []
        for i in range(task["warmup"] + task["count"]):
            start = time.perf_counter()
            await ws.send(message)
            await ws.recv()
            if i >= task["warmup"]:
                samples.append((time.perf_counter() - start) * 1000)
        return {"task": task, "samples": samples}
    if figure == "throughput":
        ws = await shared()
        message = payload(task["size"], task["kind"])

        async def burst(count):
            window = asyncio.Semaphore(task["window"])

            async def sender():
                for _ in range(count):
                    await window.acquire()
                    await ws.send(message)

            async def receiver():
                for _ in range(count):
                    await ws.recv()
                    window.release()

            start = time.perf_counter()
            await asyncio.gather(sender(), receiver())
            return (time.perf_counter() - start) * 1000

        if task["warmup"] > 0:
            await burst(task["warmup"])
        cpu = time.process_time()
        elapsed = await burst(task["count"])
        return {"task": task, "elapsedMs": elapsed, "cpuMs": (time.process_time() - cpu) * 1000}
    return {"task": task, "skipped": "not measured for the Python client"}


async def main():
    spec = json.loads(sys.argv[1])
    link = {}

    async def shared():
        if "ws" not in link:
            link["ws"] = await connect(spec["url"])
        return link["ws"]

    for task in spec["tasks"]:
        result = await run_task(spec["url"], task, shared)
        sys.stdout.write(json.dumps(result) + "\n")
        sys.stdout.flush()
    if "ws" in link:
        await link["ws"].close()


asyncio.run(main())
