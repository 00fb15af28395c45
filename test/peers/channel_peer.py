"""A Python end of a unipc channel (python/unipc/channel.py), for test/channel-python.test.ts. CHANNEL is a
descriptor number (a memfd handed over) or a POSIX shared memory name ('/name').

    channel_peer.py consume CHANNEL SEED          receive until the end; check each message against
                                                  message(i) below; print {"n","sha256","intact","end"}
    channel_peer.py produce CHANNEL SEED N        send message(0 ... N - 1), close; print {"n","sha256"} (or
                                                  {"sent","error"} and exit 1 when a send fails)
    channel_peer.py produce-resume CHANNEL SEED N as produce, claiming the producer role with resume=True
                                                  first (it continues a dead producer's stream)
    channel_peer.py produce-tagged CHANNEL ID N   send tagged(ID, 0 ... N - 1) (test/peers/channel-messages.ts),
                                                  close; print {"n"}
    channel_peer.py produce-forever CHANNEL       send tagged(0, 0, 1, ...) until killed; print "sending"
                                                  after the first
    channel_peer.py produce-and-hang CHANNEL      send b"one", print "sent", wait to be killed (as
                                                  test/peers/channel-peer.ts produce-and-hang)
    channel_peer.py hold-consumer CHANNEL         receive one message, print "holding", wait to be killed
    channel_peer.py create-consume NAME SEED      make a named channel of 16 KiB (maxMessageSize 4096),
                                                  print "ready", then as consume
    channel_peer.py edges CHANNEL                 a try on the empty ring, a receive that times out (50 ms),
                                                  print "waiting", then receive until the end; print what
                                                  each gave
    channel_peer.py send-edges CHANNEL            a message too long (EMSGSIZE), fill the ring with
                                                  try_send of numbered(0, 1, ...), a send that times out (50 ms), close; print
                                                  {"sent","long","full","timeout"}
    channel_peer.py open CHANNEL                  open it and receive once without waiting; print what
                                                  that gave ({"open"} or {"open","receive"})

With UNIPC_PEER_NO_WAITV set, the module is made to believe that futex_waitv(2) is refused (its
FUTEX_WAIT_BITSET fallback).
message(i): i % 100 == 0 is empty, i % 100 == 1 is maxMessageSize long, others mix(i ^ SEED) %
(maxMessageSize + 1) bytes; byte j is (i * 131 + j * 7 + SEED) & 255 (as test/peers/channel_peer.c).
"sha256" is over each message's length (4 bytes, little-endian) and bytes.
"""

import errno
import hashlib
import json
import os
import signal
import struct
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the checkout
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))

from unipc import Channel  # noqa: E402
from unipc import _shared  # noqa: E402

if os.environ.get("UNIPC_PEER_NO_WAITV"):
    _shared._waitv_works = False

TIMEOUT = 30.0
U32 = 0xFFFFFFFF
PATTERN = bytes((7 * j) & 255 for j in range(256)) * 64  # 16 KiB: byte j of a message before its offset
SHIFTS = [bytes((k + shift) & 255 for k in range(256)) for shift in range(256)]


def mix(x: int) -> int:
    x &= U32
    x ^= x >> 16
    x = (x * 0x7FEB352D) & U32
    x ^= x >> 15
    x = (x * 0x846CA68B) & U32
    x ^= x >> 16
    return x


def message(i: int, seed: int, longest: int) -> bytes:
    size = 0 if i % 100 == 0 else longest if i % 100 == 1 else mix(i ^ seed) % (longest + 1)
    return PATTERN[:size].translate(SHIFTS[(i * 131 + seed) & 255])


def tagged(ident: int, seq: int) -> bytes:
    size = 8 + (seq * 7 + ident) % 100
    return struct.pack("<II", ident, seq) + bytes([(ident * 31 + seq) & 255]) * (size - 8)


def numbered(seq: int) -> bytes:
    """100 bytes: seq (little-endian), then zeros; a ring full of them has no room for one more."""
    return struct.pack("<I", seq) + bytes(96)


def open_channel(which: str) -> Channel:
    return Channel.open(which) if which.startswith("/") else Channel.from_fd(int(which))


def error_name(error: OSError) -> str:
    return errno.errorcode.get(error.errno or 0, str(error))


def say(value) -> None:
    print(value if isinstance(value, str) else json.dumps(value), flush=True)


def consume(channel: Channel, seed: int) -> int:
    digest = hashlib.sha256()
    n = 0
    intact = True
    end = "end"
    try:
        while True:
            received = channel.receive(TIMEOUT)
            if received is None:
                break
            if received != message(n, seed, channel.max_message_size):
                intact = False
            digest.update(struct.pack("<I", len(received)))
            digest.update(received)
            n += 1
    except OSError as error:
        end = error_name(error)
    say({"n": n, "sha256": digest.hexdigest(), "intact": intact, "end": end})
    channel.close()
    return 0


def main() -> int:
    command, which, *rest = sys.argv[1:]
    if command == "create-consume":
        channel = Channel.create(which, capacity=1 << 14, max_message_size=4096)
        say("ready")
        return consume(channel, int(rest[0]))
    if command == "open":
        try:
            channel = open_channel(which)
        except OSError as error:
            say({"open": error_name(error)})
            return 0
        try:
            channel.try_receive()
            result = "message"
        except OSError as error:
            result = error_name(error)
        say({"open": "ok", "receive": result})
        channel.close()
        return 0
    channel = open_channel(which)
    if command == "consume":
        return consume(channel, int(rest[0]))
    if command in ("produce", "produce-resume"):
        seed, count = int(rest[0]), int(rest[1])
        if command == "produce-resume":
            channel.claim("producer", resume=True)
        digest = hashlib.sha256()
        for i in range(count):
            data = message(i, seed, channel.max_message_size)
            try:
                channel.send(data, TIMEOUT)
            except OSError as error:
                say({"sent": i, "error": error_name(error)})
                return 1
            digest.update(struct.pack("<I", len(data)))
            digest.update(data)
        channel.close()
        say({"n": count, "sha256": digest.hexdigest()})
        return 0
    if command == "produce-tagged":
        ident, count = int(rest[0]), int(rest[1])
        for seq in range(count):
            channel.send(tagged(ident, seq), TIMEOUT)
        channel.close()
        say({"n": count})
        return 0
    if command == "produce-forever":
        seq = 0
        while True:
            channel.send(tagged(0, seq), TIMEOUT)
            if seq == 0:
                say("sending")
            seq += 1
    if command == "produce-and-hang":
        channel.send(b"one", TIMEOUT)
        say("sent")
        signal.pause()
        return 0
    if command == "hold-consumer":
        channel.receive(TIMEOUT)
        say("holding")
        signal.pause()
        return 0
    if command == "edges":
        edges = {}
        try:
            channel.try_receive()
            edges["try"] = "message"
        except OSError as error:
            edges["try"] = error_name(error)
        started = time.monotonic()
        try:
            channel.receive(timeout=0.05)
            edges["timeout"] = "message"
        except OSError as error:
            edges["timeout"] = error_name(error)
        edges["ms"] = round((time.monotonic() - started) * 1000)
        say("waiting")
        received = []
        for data in channel:
            received.append(len(data))
        edges["received"] = received
        edges["end"] = "end"
        say(edges)
        channel.close()
        return 0
    if command == "send-edges":
        edges = {}
        try:
            channel.send(bytes(channel.max_message_size + 1))
            edges["long"] = "sent"
        except OSError as error:
            edges["long"] = error_name(error)
        sent = 0
        while channel.try_send(numbered(sent)):
            sent += 1
        edges["sent"] = sent
        edges["full"] = "EAGAIN" if not channel.try_send(numbered(sent)) else "sent"
        try:
            channel.send(numbered(sent), timeout=0.05)
            edges["timeout"] = "sent"
        except OSError as error:
            edges["timeout"] = error_name(error)
        channel.close()
        say(edges)
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
