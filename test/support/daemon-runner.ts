/**
 * Runs `6to4-pmt cpe|relay|lab ...` from the compiled sources (out/) instead of the rollup bundle,
 * so integration tests exercise the same code without depending on `npm run build`:
 *   node out/test/support/daemon-runner.js cpe --enabled ...
 * It is the CLI's own entry point (module/cli/main.ts `main`), with the same exit codes.
 */
import { main } from "../../module/cli/main.js";

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`daemon-runner: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  },
);
