// tests/mpvm/run.mjs: runs a Python script on the real MicroPython WebAssembly port (npm package pinned in package.json).
// Lets host tests prove firmware code runs on MicroPython itself, not just CPython; tests/mpvm.py is its Python wrapper.
//
// usage: node tests/mpvm/run.mjs [--root DIR] [--heap BYTES] [--pystack WORDS]
//                                [--collect VMPATH[=HOSTPATH]]... SCRIPT.py|-
//   --root DIR     host tree copied into the VM at /app (default: repo root); only .py .json .pcm .bin files,
//                  skipping dot-dirs (.git .venv ...), __pycache__, node_modules and the top-level out/ and build/
//                  (generated output: a stale copy must never be "collected" as if the script had written it).
//                  The script runs with cwd /app and /app first on sys.path, so `import firmware.x` works.
//   --heap BYTES   initial GC heap (default 4 MiB). NB: this port grows its heap on demand, so it is no cap.
//   --pystack N    Python call-stack size in words (default 2048, the package default: about 150 nested calls).
//   --collect P    after a successful run copy VM file P (relative to /app, or absolute) byte-exact to HOSTPATH
//                  (default: P relative to /app, resolved against the host cwd). Repeatable.
//   SCRIPT.py      host file whose text runs as __main__; `-` reads it from stdin.
// Exit: 0 ok; 1 uncaught Python exception (traceback on stderr); N for sys.exit(N); 2 harness/usage error.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const PKG = "@micropython/micropython-webassembly-pyscript";
const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const VM_APP = "/app";
const COPY_EXTS = new Set([".py", ".json", ".pcm", ".bin"]);
const SKIP_DIRS = new Set(["__pycache__", "node_modules"]);
const SKIP_TOP_DIRS = new Set(["out", "build"]);

function fail(msg) {
  process.stderr.write(`mpvm: ${msg}\n`);
  process.exit(2);
}

// Byte-exact, chunked sink for the VM's per-byte stdout/stderr callbacks.
function byteSink(stream) {
  const buf = Buffer.alloc(65536);
  let n = 0;
  const flush = () => {
    if (n) stream.write(Buffer.from(buf.subarray(0, n)));
    n = 0;
  };
  const put = (bytes) => {
    for (const b of bytes) {
      buf[n++] = b;
      if (n === buf.length) flush();
    }
  };
  return { put, flush };
}

// Copy the host tree `src` into the VM filesystem at `dst` (filtered, see usage).
function mirror(FS, src, dst, top) {
  FS.mkdirTree(dst);
  for (const ent of fs.readdirSync(src, { withFileTypes: true })) {
    const from = path.join(src, ent.name);
    const to = `${dst}/${ent.name}`;
    if (ent.isDirectory()) {
      if (ent.name.startsWith(".") || SKIP_DIRS.has(ent.name)) continue;
      if (top && SKIP_TOP_DIRS.has(ent.name)) continue;
      mirror(FS, from, to, false);
    } else if (ent.isFile() && COPY_EXTS.has(path.extname(ent.name))) {
      FS.writeFile(to, fs.readFileSync(from));
    }
  }
}

function parseCli() {
  let parsed;
  try {
    parsed = parseArgs({
      allowPositionals: true,
      options: {
        root: { type: "string", default: REPO_ROOT },
        heap: { type: "string", default: String(4 * 1024 * 1024) },
        pystack: { type: "string", default: "2048" },
        collect: { type: "string", multiple: true, default: [] },
      },
    });
  } catch (e) {
    fail(e.message);
  }
  const { values, positionals } = parsed;
  if (positionals.length !== 1) fail("expected exactly one SCRIPT.py (or - for stdin)");
  const heap = Number(values.heap);
  const pystack = Number(values.pystack);
  if (!Number.isInteger(heap) || heap < 16384) fail(`bad --heap ${values.heap}`);
  if (!Number.isInteger(pystack) || pystack < 256) fail(`bad --pystack ${values.pystack}`);
  const root = path.resolve(values.root);
  if (!fs.statSync(root, { throwIfNoEntry: false })?.isDirectory()) fail(`--root ${root} is not a directory`);
  const collect = values.collect.map((spec) => {
    const eq = spec.indexOf("=");
    const vmArg = eq < 0 ? spec : spec.slice(0, eq);
    const vmPath = path.posix.resolve(VM_APP, vmArg);
    let host = eq < 0 ? null : spec.slice(eq + 1);
    if (host === null) {
      if (!vmPath.startsWith(VM_APP + "/")) fail(`--collect ${spec}: a path outside ${VM_APP} needs =HOSTPATH`);
      host = vmPath.slice(VM_APP.length + 1);
    }
    return { vmPath, host: path.resolve(host) };
  });
  const script = positionals[0];
  let src;
  try {
    src = fs.readFileSync(script === "-" ? 0 : script, "utf8");
  } catch (e) {
    fail(`cannot read script ${script}: ${e.message}`);
  }
  const name = script === "-" ? "<mpvm>" : path.basename(script);
  return { root, heap, pystack, collect, src, name };
}

async function main() {
  const opts = parseCli();
  let loadMicroPython;
  try {
    ({ loadMicroPython } = await import(PKG));
  } catch (e) {
    fail(`cannot load ${PKG} (${e.code || e.message}): run \`npm ci\` in the repo root (${REPO_ROOT})`);
  }
  const out = byteSink(process.stdout);
  const err = byteSink(process.stderr);
  const mp = await loadMicroPython({
    heapsize: opts.heap,
    pystack: opts.pystack,
    linebuffer: false, // raw bytes, so sys.stdout.buffer output stays binary-exact
    stdout: out.put,
    stderr: err.put,
  });
  mirror(mp.FS, opts.root, VM_APP, true);

  let code = 0;
  try {
    mp.runPython(
      `import os, sys\nos.chdir(${JSON.stringify(VM_APP)})\n` +
        `if ${JSON.stringify(VM_APP)} not in sys.path: sys.path.insert(0, ${JSON.stringify(VM_APP)})\n` +
        `del os, sys\n`,
    );
    // Compile under the script's own name so tracebacks point at it; pop the source so no helper name leaks.
    mp.globals.set("__mpvm_src", opts.src);
    mp.runPython(`exec(compile(globals().pop('__mpvm_src'), ${JSON.stringify(opts.name)}, 'exec'))`);
  } catch (e) {
    if (e?.name !== "PythonError") {
      out.flush();
      err.flush();
      fail(`VM crashed: ${e?.stack || e}`);
    }
    // Drop the synthetic frame of the exec() line above; keep the rest of the traceback verbatim.
    const tb = e.message.replace(/^(Traceback \(most recent call last\):\n) {2}File "<stdin>", line 1, in <module>\n/, "$1");
    if (e.type === "SystemExit") {
      const arg = tb.trimEnd().split("\n").pop().replace(/^SystemExit:? ?/, "");
      if (arg === "" || arg === "None") code = 0;
      else if (/^-?\d+$/.test(arg)) code = Number(arg) & 0xff;
      else {
        err.put(Buffer.from(arg + "\n"));
        code = 1;
      }
    } else {
      err.put(Buffer.from(tb.endsWith("\n") ? tb : tb + "\n"));
      code = 1;
    }
  }
  out.flush();
  err.flush();

  if (code === 0) {
    for (const { vmPath, host } of opts.collect) {
      let data;
      try {
        data = mp.FS.readFile(vmPath); // Uint8Array, byte-exact
      } catch {
        fail(`--collect: the script did not leave ${vmPath} in the VM filesystem`);
      }
      fs.mkdirSync(path.dirname(host), { recursive: true });
      fs.writeFileSync(host, data);
    }
  }
  process.exitCode = code;
}

await main();
