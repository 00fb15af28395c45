// Takes the channel handed over as descriptor 3, sends one message as its producer and closes it.
import { Channel } from '../../src/index.js';

const producer = Channel.fromFd(3);
producer.sendSync('from the child');
producer.close();
