// Shrinks a file to nothing: what another process does to a file someone has mapped.
import fs from 'node:fs';

fs.truncateSync(process.argv[2], 0);
