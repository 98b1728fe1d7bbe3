// Entry point of the `xfrmd` binary: `xfrmd <command> [args…]`.
// Each command lives in its own module under src/cli/ and exports `main(argv): Promise<number>`.

type CommandModule = { main(argv: string[]): Promise<number> };

const commands: Record<string, { summary: string; load: () => Promise<CommandModule> }> = {
  run: { summary: 'run the daemon (netifd protocol handler for proto xfrm)', load: () => import('./cli/run.ts') },
  apply: { summary: 'standalone: bring the kernel in line with a UCI network file (--dry-run prints the plan)', load: () => import('./cli/apply.ts') },
  down: { summary: 'standalone: remove everything xfrmd installed', load: () => import('./cli/down.ts') },
  status: { summary: 'show the interfaces xfrmd manages', load: () => import('./cli/status.ts') },
  ubus: { summary: 'talk to ubusd like ubus(1): list, call, listen, send, subscribe, wait_for', load: () => import('./cli/ubus.ts') },
};

function usage(): string {
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(8)} ${c.summary}`);
  return `Usage: xfrmd <command> [args…]\n\nCommands:\n${lines.join('\n')}\n`;
}

async function run(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '-h' || name === '--help') {
    process.stdout.write(usage());
    return name === undefined ? 1 : 0;
  }
  const command = commands[name];
  if (!command) {
    process.stderr.write(`xfrmd: unknown command '${name}'\n${usage()}`);
    return 1;
  }
  // `xfrmd … | head`: a closed pipe ends the output, not the process with a stack trace. Not for
  // the daemon: it logs with plain writes to fd 1, and process.stdout alone costs it 1.4 MB.
  if (name !== 'run') {
    process.stdout.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    });
  }
  const mod = await command.load();
  return mod.main(rest);
}

run(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`xfrmd: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
