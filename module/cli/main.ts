import { VERSION } from "./version.js";

process.stdout.write(`6to4-pmt ${VERSION}\n`);
