/**
 * Runs `6to4-pmt cpe|relay|lab ...` from the compiled sources (out/) instead of the rollup bundle,
 * so integration tests exercise the same code without depending on `npm run build`:
 *   node out/test/support/daemon-runner.js cpe --enabled ...
 */
import { runCpe } from "../../module/cli/cpe.js";
import { runLab } from "../../module/cli/lab.js";
import { runRelay } from "../../module/cli/relay.js";

const COMMANDS: Record<string, (args: readonly string[]) => Promise<number>> = {
  cpe: runCpe,
  relay: runRelay,
  lab: runLab,
};

const [cmd, ...args] = process.argv.slice(2);
const run = COMMANDS[cmd ?? ""];
if (run === undefined) {
  process.stderr.write(`daemon-runner: unknown command "${cmd ?? ""}"\n`);
  process.exit(2);
}
run(args).then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`daemon-runner: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  },
);
