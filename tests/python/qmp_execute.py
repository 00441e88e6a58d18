#!/usr/bin/env python3
"""Runs QMP commands on a QMP socket with QEMU's own client, qemu.qmp.

    qmp_execute.py SOCKET COMMAND [ARGUMENTS-JSON] [COMMAND [ARGUMENTS-JSON]]...

Each command's return value is printed as one line of JSON. A command that
fails prints {"error": {"class": ..., "desc": ...}} and ends the run with
exit status 1. The tests put qemu.qmp on PYTHONPATH (tests/setup.sh
unpacks it).
"""

import asyncio
import json
import sys

from qemu.qmp import ExecuteError, QMPClient


async def run(socket, commands):
    client = QMPClient("ccmblk-test")
    await client.connect(socket)
    try:
        for name, args in commands:
            try:
                ret = await client.execute(name, args)
            except ExecuteError as e:
                print(json.dumps({"error": {"class": e.error_class, "desc": str(e)}}))
                return 1
            print(json.dumps(ret), flush=True)
    finally:
        await client.disconnect()
    return 0


def main(argv):
    if len(argv) < 3:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    commands, rest = [], argv[2:]
    while rest:
        name, rest = rest[0], rest[1:]
        args = None
        if rest and rest[0].startswith("{"):
            args, rest = json.loads(rest[0]), rest[1:]
        commands.append((name, args))
    return asyncio.run(run(argv[1], commands))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
