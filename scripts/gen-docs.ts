// Prints the README option table from the schema: `npx tsx scripts/gen-docs.ts`.
// `--dump` prints the netifd dump line instead.
import { renderOptionTable } from '../src/config/options-doc.ts';
import { dumpLine } from '../src/config/schema.ts';

process.stdout.write(process.argv.includes('--dump') ? `${dumpLine()}\n` : renderOptionTable());
