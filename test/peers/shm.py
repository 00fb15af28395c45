"""A Python peer for POSIX shared memory, standard library only (multiprocessing.shared_memory).

    python3 shm.py create NAME SIZE   creates NAME with SIZE bytes, copies stdin into it; prints {"name","size"}
    python3 shm.py read NAME          attaches and prints {"name","size","hex"} of the whole object
    python3 shm.py write NAME OFFSET  attaches and copies stdin into it at OFFSET

Python prepends '/' to NAME. Python 3.11's resource_tracker registers every segment a process creates
or attaches to and unlinks it (with a warning) when the process exits; each command unregisters it at
once, so that the test, not the tracker, decides when the object goes.
"""
import json
import sys
from multiprocessing import resource_tracker, shared_memory


def untracked(shm: shared_memory.SharedMemory) -> shared_memory.SharedMemory:
    resource_tracker.unregister(shm._name, "shared_memory")  # type: ignore[attr-defined]
    return shm


def main() -> int:
    command, name, *rest = sys.argv[1:]
    if command == "create":
        data = sys.stdin.buffer.read()
        shm = untracked(shared_memory.SharedMemory(name=name, create=True, size=int(rest[0])))
        shm.buf[: len(data)] = data
        print(json.dumps({"name": shm.name, "size": shm.size}))
        shm.close()
    elif command == "read":
        shm = untracked(shared_memory.SharedMemory(name=name, create=False))
        print(json.dumps({"name": shm.name, "size": shm.size, "hex": bytes(shm.buf).hex()}))
        shm.close()
    elif command == "write":
        data = sys.stdin.buffer.read()
        shm = untracked(shared_memory.SharedMemory(name=name, create=False))
        offset = int(rest[0])
        shm.buf[offset : offset + len(data)] = data
        shm.close()
    else:
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
