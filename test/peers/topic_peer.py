"""A Python end of a unipc topic (python/unipc/topic.py), for test/topic-python.test.ts. TOPIC is a
descriptor number (a memfd handed over) or a POSIX shared memory name ('/name').

    topic_peer.py subscribe TOPIC SEED     join (print "joined"), receive until the end; check each message
                                           against message(i) of channel_peer.py; print
                                           {"n","sha256","intact","missed","end"}
    topic_peer.py numbered TOPIC [go]      join (print "joined"; with "go", then wait for a line on stdin
                                           before the first receive), receive until the end the messages
                                           of test/peers/channel-messages.ts (its number, then i % 200
                                           bytes of i & 255); print {"count","first","last","whole",
                                           "rising","gaps","missed","ending"}
    topic_peer.py hold TOPIC               join, print "joined", wait to be killed
    topic_peer.py publish TOPIC SEED N     attach as the publisher (print "attached"), send message(0 ...
                                           N - 1), close; print {"n","sha256"}
    topic_peer.py publish-numbered TOPIC FROM N
                                           attach as the publisher (print "attached"), send the
                                           messages FROM ... FROM + N - 1 of test/peers/channel-messages.ts,
                                           close; print {"n"}
    topic_peer.py publish-pause TOPIC N M  attach as the publisher, send the messages 0 ... N - 1 of
                                           test/peers/channel-messages.ts, print "paused", wait for a line on
                                           stdin; try_send the next M until one finds no room, print
                                           {"tried"} (how many it sent), send the rest, close; print {"n"}
    topic_peer.py edges TOPIC              a try on nothing, a receive that times out (50 ms), a second
                                           publisher; print what each gave
    topic_peer.py open TOPIC               open it and join; print what that gave ({"open"} or
                                           {"open","join"})

With UNIPC_PEER_NO_WAITV set, the module is made to believe that futex_waitv(2) is refused (its
FUTEX_WAIT_BITSET fallback). "sha256" is over each message's length (4 bytes, little-endian) and bytes.
"""

import errno
import hashlib
import json
import os
import signal
import struct
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the checkout
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))

from channel_peer import message  # noqa: E402  (this directory is sys.path[0])
from unipc import Topic, _shared  # noqa: E402

if os.environ.get("UNIPC_PEER_NO_WAITV"):
    _shared._waitv_works = False

TIMEOUT = 30.0


def open_topic(which: str) -> Topic:
    return Topic.open(which) if which.startswith("/") else Topic.from_fd(int(which))


def error_name(error: OSError) -> str:
    return errno.errorcode.get(error.errno or 0, str(error))


def say(value) -> None:
    print(value if isinstance(value, str) else json.dumps(value), flush=True)


def numbered(i: int) -> bytes:
    """message(i) of test/peers/channel-messages.ts."""
    return struct.pack("<I", i) + bytes([i & 255]) * (i % 200)


def subscribe(topic: Topic, seed: int) -> None:
    topic.claim("subscriber")
    say("joined")
    digest = hashlib.sha256()
    n = 0
    intact = True
    end = "end"
    try:
        for received in iter(lambda: topic.receive(TIMEOUT), None):
            if received != message(n, seed, topic.max_message_size):
                intact = False
            digest.update(struct.pack("<I", len(received)))
            digest.update(received)
            n += 1
    except OSError as error:
        end = error_name(error)
    say({"n": n, "sha256": digest.hexdigest(), "intact": intact, "missed": topic.missed, "end": end})


def subscribe_numbered(topic: Topic, go: bool) -> None:
    topic.claim("subscriber")
    say("joined")
    if go:
        sys.stdin.readline()
    count, first, last, gaps = 0, -1, -1, 0
    whole = rising = True
    ending = "end"
    try:
        for received in iter(lambda: topic.receive(TIMEOUT), None):
            i = struct.unpack_from("<I", received)[0] if len(received) >= 4 else -1
            if received != numbered(i):
                whole = False
            if first < 0:
                first = i
            elif i <= last:
                rising = False
            else:
                gaps += i - last - 1
            last = i
            count += 1
    except OSError as error:
        ending = error_name(error)
    say({"count": count, "first": first, "last": last, "whole": whole, "rising": rising, "gaps": gaps,
         "missed": topic.missed, "ending": ending})


def main() -> int:
    command, which, *rest = sys.argv[1:]
    if command == "open":
        try:
            topic = open_topic(which)
        except OSError as error:
            say({"open": error_name(error)})
            return 0
        try:
            topic.claim("subscriber")
            result = "ok"
        except OSError as error:
            result = error_name(error)
        say({"open": "ok", "join": result})
        topic.close()
        return 0
    topic = open_topic(which)
    if command == "subscribe":
        subscribe(topic, int(rest[0]))
    elif command == "numbered":
        subscribe_numbered(topic, rest[:1] == ["go"])
    elif command == "hold":
        topic.claim("subscriber")
        say("joined")
        signal.pause()
    elif command == "publish":
        seed, count = int(rest[0]), int(rest[1])
        topic.claim("publisher")
        say("attached")
        digest = hashlib.sha256()
        for i in range(count):
            data = message(i, seed, topic.max_message_size)
            topic.send(data, TIMEOUT)
            digest.update(struct.pack("<I", len(data)))
            digest.update(data)
        topic.close()
        say({"n": count, "sha256": digest.hexdigest()})
        return 0
    elif command == "publish-numbered":
        start, count = int(rest[0]), int(rest[1])
        topic.claim("publisher")
        say("attached")
        for i in range(start, start + count):
            topic.send(numbered(i), TIMEOUT)
        topic.close()
        say({"n": count})
        return 0
    elif command == "publish-pause":
        before, count = int(rest[0]), int(rest[1])
        topic.claim("publisher")
        for i in range(before):
            topic.send(numbered(i), TIMEOUT)
        say("paused")
        sys.stdin.readline()
        i = before
        while i < before + count and topic.try_send(numbered(i)):
            i += 1
        say({"tried": i - before})
        for j in range(i, before + count):
            topic.send(numbered(j), TIMEOUT)
        topic.close()
        say({"n": before + count})
        return 0
    elif command == "edges":
        edges = {}
        for name, attempt in (
            ("try", topic.try_receive),
            ("timeout", lambda: topic.receive(timeout=0.05)),
            ("publish", lambda: open_topic(which).send(b"second publisher")),
        ):
            try:
                attempt()
                edges[name] = "ok"
            except OSError as error:
                edges[name] = error_name(error)
        say(edges)
    else:
        return 2
    topic.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
