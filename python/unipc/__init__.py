"""unipc for Python: the shared-memory Channel of unipc (docs/channel.md), standard library only.

Add node_modules/unipc/python to sys.path (or PYTHONPATH), then:

    from unipc import Channel

    with Channel.open("/jobs") as jobs:       # a channel Node made with Channel.create({ name: '/jobs' })
        for message in jobs:                  # bytes, until every producer has closed
            print(message)

See docs/python.md.
"""

from .channel import DEFAULT_SPIN, MAX_PRODUCERS, Channel

__all__ = ["Channel", "DEFAULT_SPIN", "MAX_PRODUCERS"]
