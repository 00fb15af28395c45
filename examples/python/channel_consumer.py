# A Channel consumer in Python (python/unipc): it prints every message of the channel handed over as
# descriptor 3 until the producers close. examples/channel-python.ts runs it with PYTHONPATH set to the
# package's python/ directory.
import os

from unipc import Channel

with Channel.from_fd(3) as channel:
    for message in channel:  # bytes; the loop ends when every producer has closed
        print(f"Python consumer {os.getpid()} got: {message.decode()}", flush=True)
