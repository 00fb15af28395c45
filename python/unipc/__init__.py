"""unipc for Python: the shared-memory Channel and Topic of unipc (docs/channel.md), standard library only.

Add node_modules/unipc/python to sys.path (or PYTHONPATH), then:

    from unipc import Channel

    with Channel.open("/jobs") as jobs:       # a channel Node made with Channel.create({ name: '/jobs' })
        for message in jobs:                  # bytes, until every producer has closed
            print(message)

    from unipc import Topic

    with Topic.open("/prices") as prices:     # a topic Node made with Topic.create({ name: '/prices' })
        for tick in prices:                   # bytes, until the publisher closes
            print(tick)

See docs/python.md.
"""

from .channel import DEFAULT_SPIN, MAX_PRODUCERS, Channel
from .topic import MAX_HISTORY, MAX_SUBSCRIBERS, Topic

__all__ = ["Channel", "DEFAULT_SPIN", "MAX_HISTORY", "MAX_PRODUCERS", "MAX_SUBSCRIBERS", "Topic"]
