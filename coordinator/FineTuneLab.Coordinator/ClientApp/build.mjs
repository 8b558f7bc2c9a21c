// Builds the dashboard into the folder given (default ../obj/dashboard/wwwroot): our ES modules as they are, plus the
// vendored files of the pinned npm packages. Writes into a temporary folder and swaps it in, so a failed build never
// leaves a half-written one. The output stays under obj/ so that it never looks like a changed source file.
import { cpSync, mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = resolve(process.argv[2] ?? join(here, "..", "obj", "dashboard", "wwwroot"));
const staging = out + ".partial";

const vendored = {
  "node_modules/uplot/dist/uPlot.esm.js": "vendor/uPlot.esm.js",
  "node_modules/uplot/dist/uPlot.min.css": "vendor/uPlot.min.css",
  "node_modules/@xterm/xterm/lib/xterm.mjs": "vendor/xterm.mjs",
  "node_modules/@xterm/xterm/css/xterm.css": "vendor/xterm.css",
};

rmSync(staging, { recursive: true, force: true });
mkdirSync(dirname(out), { recursive: true });
cpSync(join(here, "src"), staging, { recursive: true });
mkdirSync(join(staging, "vendor"), { recursive: true });
for (const [from, to] of Object.entries(vendored)) cpSync(join(here, from), join(staging, to));
writeFileSync(join(staging, "build-stamp.txt"), new Date().toISOString() + "\n");
rmSync(out, { recursive: true, force: true });
renameSync(staging, out);
console.log(`dashboard built into ${out}`);
