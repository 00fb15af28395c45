// A Node publisher and a C subscriber (examples/c/topic_subscriber.c, on include/unipc/topic.h) on one
// Topic: the C program is compiled here (cc), gets the topic's memfd as descriptor 3, and prints what it
// receives.
// Run: npx tsx examples/topic-c.ts   (needs a C compiler)
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawn, Topic } from 'unipc';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const program = path.join(os.tmpdir(), `unipc-topic-subscriber-${process.pid}`);
execFileSync('cc', [
  '-O2',
  '-I',
  path.join(root, 'include'),
  '-o',
  program,
  path.join(root, 'examples/c/topic_subscriber.c'),
]);
try {
  using topic = Topic.create({ capacity: 1 << 16 });
  const child = spawn(program, [], { stdio: ['ignore', 'inherit', 'inherit'], fds: [topic.fd] });
  while (topic.subscribers === 0) await new Promise((resolve) => setTimeout(resolve, 5));
  for (const word of ['shared', 'memory', 'from', 'Node']) await topic.send(word);
  topic.close(); // the C loop sees the end once it has all four
  await new Promise((resolve) => child.on('exit', resolve));
} finally {
  execFileSync('rm', ['-f', program]);
}
