// tests/mpvm/repl.mjs: the MicroPython WebAssembly port's own REPL served on stdin/stdout, byte for byte,
// so that tests/mpvm_repl.py can put it behind a pseudo-terminal and mpremote (and `threadbeat flash`)
// talk to it as to a board on a serial port.
//
// usage: node tests/mpvm/repl.mjs [--root DIR] [--quota BYTES] [--heap BYTES] [--no-raw-paste] [--run-main]
//                                 [--romfs BYTES]
//   --root DIR     host files copied into the VM's filesystem at / before start (a board's flash contents)
//   --quota BYTES  the filesystem holds at most this many bytes of files: a write past it fails with
//                  ENOSPC (OSError 28, as a full flash does) and os.statvfs('/') reports the quota
//   --heap BYTES   initial GC heap (default 256 kB; the port grows it on demand)
//   --no-raw-paste refuse raw-paste mode (a board built without it)
//   --romfs BYTES  a ROMFS partition of this size: vfs.rom_ioctl as on a board built with MICROPY_VFS_ROM
//                  (tests/mpvm/board/vfs_rom.py, installed at every boot; mpremote romfs deploy works)
//   --run-main     after a soft reset in the friendly REPL, run /main.py (a board does; off by default
//                  because a main.py that loops forever can never be interrupted here, see below)
//
// What is the port's own and what is emulated here:
// - friendly REPL, raw REPL (Ctrl-A, Ctrl-B, Ctrl-C clears, Ctrl-D executes) are the port's
//   (pyexec's event-driven REPL, fed one byte at a time with replProcessChar).
// - raw-paste (Ctrl-E A Ctrl-A in raw mode): the port answers "R\x01" but then reads the data with the
//   blocking stdin reader, which has no input in this port, and hangs. So this server speaks raw-paste
//   itself (window of 256 bytes, \x01 flow control, \x04 end and acknowledgement) and runs the code
//   through the port's plain raw REPL. With --no-raw-paste it answers "R\x00" (understood, not
//   supported) as a board built without it does; mpremote then falls back to the plain raw REPL.
// - soft reset (Ctrl-D on an empty line, or sys.exit() in the raw REPL): the port only returns a flag.
//   This server emulates the board: a fresh interpreter (RAM cleared), the same files (flash kept),
//   "MPY: soft reboot", boot.py, main.py with --run-main in the friendly REPL, then the REPL the host
//   was in (raw or friendly).
// - errno: the port numbers errors as WASI does (ENOENT 44) and prints "OSError: 44"; tracebacks are
//   rewritten to a board's "OSError: [Errno 2] ENOENT", which mpremote reads (e.g. "no such file").
// - Ctrl-C cannot interrupt running code: execution is synchronous inside replProcessChar and input is
//   only read between calls. machine, neopixel and I2S do not exist in this port.
// Exit: when stdin closes (0), or 2 on a usage error.
import fs from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";

const PKG = "@micropython/micropython-webassembly-pyscript";
const ENOSPC = 51; // Emscripten/WASI numbering (Linux and MicroPython boards: 28)
const SKIP = new Set(["/dev", "/proc"]);

function fail(msg) {
  process.stderr.write(`mpvm-repl: ${msg}\n`);
  process.exit(2);
}

let args;
try {
  args = parseArgs({
    options: {
      root: { type: "string" },
      quota: { type: "string" },
      heap: { type: "string", default: String(256 * 1024) },
      "run-main": { type: "boolean", default: false },
      "no-raw-paste": { type: "boolean", default: false },
      romfs: { type: "string" },
    },
  }).values;
} catch (e) {
  fail(e.message);
}
const quota = args.quota === undefined ? 0 : Number(args.quota);
if (!Number.isInteger(quota) || quota < 0) fail(`bad --quota ${args.quota}`);
const noPaste = args["no-raw-paste"];
const romfs = args.romfs === undefined ? 0 : Number(args.romfs);
if (!Number.isInteger(romfs) || romfs < 0) fail(`bad --romfs ${args.romfs}`);
const ROMFS_STUB = romfs
  ? fs.readFileSync(new URL("./board/vfs_rom.py", import.meta.url), "utf8") + `\n_tb_install(${romfs})\ndel _tb_install\n`
  : "";
const heap = Number(args.heap);
if (!Number.isInteger(heap) || heap < 16384) fail(`bad --heap ${args.heap}`);

let loadMicroPython;
try {
  ({ loadMicroPython } = await import(PKG));
} catch (e) {
  fail(`cannot load ${PKG} (${e.code || e.message}): run \`npm ci\` in the repo root`);
}

let raw = false; // which REPL the port is in, followed from its own output
let rawLen = 0; // bytes of the raw REPL's current command
let probe = ""; // raw-paste request bytes seen so far ("\x05", "\x05A")
let tail = "";
const WINDOW = 256;
let paste = null; // bytes of the code being pasted, or null
let pasteCount = 0;
let dropOK = 0;

const watch = (bytes) => {
  // Follow the mode from what the port prints (last 64 characters kept across chunks).
  tail = (tail + Buffer.from(bytes).toString("latin1")).slice(-64);
  if (tail.includes("raw REPL; CTRL-B to exit")) {
    raw = true;
    rawLen = 0;
    tail = "";
  } else if (tail.includes('Type "help()"')) {
    raw = false;
    tail = "";
  }
};
let mute = false;
const LOG = process.env.MPVM_REPL_LOG; // debugging: every byte in (<) and out (>) appended to this file
const log = (dir, bytes) => {
  if (LOG) fs.appendFileSync(LOG, dir + JSON.stringify(Buffer.from(bytes).toString("latin1")) + "\n");
};
// The port prints byte by byte: output is gathered in one growing buffer, followed by `watch`
// lazily (before each input byte is handled, see scan) and sent in one write per input chunk.
let out = Buffer.alloc(1 << 16);
let outLen = 0;
let scanned = 0;
const write = (bytes) => {
  if (mute) return;
  for (const b of bytes) {
    if (dropOK) {
      dropOK--;
      continue;
    }
    if (outLen === out.length) {
      const bigger = Buffer.alloc(out.length * 2);
      out.copy(bigger, 0, 0, outLen);
      out = bigger;
    }
    out[outLen++] = b;
  }
};
const scan = () => {
  if (scanned < outLen) watch(out.subarray(scanned, outLen));
  scanned = outLen;
};
const flush = () => {
  scan();
  if (!outLen) return;
  const data = Buffer.from(out.subarray(0, outLen));
  outLen = scanned = 0;
  log(">", data);
  process.stdout.write(boardErrno(data));
};

// This port's errno values are WASI's (ENOENT 44) and it prints "OSError: 44"; a board prints
// MicroPython's numbers ("OSError: [Errno 2] ENOENT"), which mpremote reads to tell "no such file"
// (fs cp to a new path) from a real failure. Traceback last lines are rewritten to the board's form.
const WASI_ERRNO = {
  63: [1, "EPERM"], 44: [2, "ENOENT"], 29: [5, "EIO"], 8: [9, "EBADF"], 6: [11, "EAGAIN"], 48: [12, "ENOMEM"],
  2: [13, "EACCES"], 10: [16, "EBUSY"], 20: [17, "EEXIST"], 43: [19, "ENODEV"], 54: [20, "ENOTDIR"],
  31: [21, "EISDIR"], 28: [22, "EINVAL"], 22: [27, "EFBIG"], 51: [28, "ENOSPC"], 69: [30, "EROFS"],
};
function boardErrno(data) {
  const text = data.toString("latin1");
  if (!text.includes("OSError: ")) return data;
  return Buffer.from(
    text.replace(/(^|\n)OSError: (\d+)(?=\r?\n)/g, (m, pre, n) =>
      WASI_ERRNO[n] ? `${pre}OSError: [Errno ${WASI_ERRNO[n][0]}] ${WASI_ERRNO[n][1]}` : m,
    ),
    "latin1",
  );
}

// Every regular file of the VM filesystem: [[path, Uint8Array]] (skipping /dev and /proc).
function files(FS, dir = "/", out = []) {
  for (const name of FS.readdir(dir)) {
    if (name === "." || name === "..") continue;
    const p = dir === "/" ? "/" + name : dir + "/" + name;
    if (SKIP.has(p)) continue;
    const st = FS.stat(p);
    if (FS.isDir(st.mode)) {
      out.push([p, null]);
      files(FS, p, out);
    } else if (FS.isFile(st.mode)) out.push([p, FS.readFile(p)]);
  }
  return out;
}

function usedBytes(FS, dir = "/") {
  let n = 0;
  for (const name of FS.readdir(dir)) {
    if (name === "." || name === "..") continue;
    const p = dir === "/" ? "/" + name : dir + "/" + name;
    if (SKIP.has(p)) continue;
    const node = FS.lookupPath(p).node;
    if (FS.isDir(node.mode)) n += usedBytes(FS, p);
    else if (FS.isFile(node.mode)) n += node.usedBytes || 0;
  }
  return n;
}

// Make the VM's filesystem a small flash: writes past `quota` bytes fail with ENOSPC; statvfs shows it.
function limit(FS) {
  const write0 = FS.write;
  FS.write = function (stream, buffer, offset, length, position, canOwn) {
    const node = stream.node;
    if (FS.isFile(node.mode) && length > 0) {
      const pos = typeof position === "number" ? position : stream.position;
      const grow = Math.max(0, pos + length - (node.usedBytes || 0));
      if (grow && usedBytes(FS) + grow > quota) throw new FS.ErrnoError(ENOSPC);
    }
    return write0.apply(this, arguments);
  };
  if (typeof FS.statfs === "function") {
    const statfs0 = FS.statfs;
    FS.statfs = function (p) {
      const st = { ...statfs0.apply(this, arguments) };
      st.bsize = st.frsize = 4096;
      st.blocks = Math.floor(quota / 4096);
      st.bfree = st.bavail = Math.max(0, Math.floor((quota - usedBytes(FS)) / 4096));
      return st;
    };
  }
}

async function boot(previous) {
  const mp = await loadMicroPython({ heapsize: heap, linebuffer: false, stdout: write, stderr: write });
  if (quota) limit(mp.FS);
  for (const [p, data] of previous) {
    if (data === null) mp.FS.mkdirTree(p);
    else mp.FS.writeFile(p, data);
  }
  if (romfs) mp.runPython(ROMFS_STUB);
  return mp;
}

function runFile(mp, p) {
  try {
    mp.FS.stat(p);
  } catch {
    return;
  }
  try {
    mp.runPython(`exec(open(${JSON.stringify(p)}).read(), {'__name__': '__main__'})`);
  } catch (e) {
    if (e?.name !== "PythonError") throw e;
    write(Buffer.from(e.message.replace(/\n/g, "\r\n")));
  }
}

// Host files given with --root become the initial flash contents.
function hostTree(src, dst = "", out = []) {
  for (const ent of fs.readdirSync(src, { withFileTypes: true })) {
    const p = dst + "/" + ent.name;
    if (ent.isDirectory()) {
      out.push([p, null]);
      hostTree(path.join(src, ent.name), p, out);
    } else if (ent.isFile()) out.push([p, fs.readFileSync(path.join(src, ent.name))]);
  }
  return out;
}

let mp = await boot(args.root ? hostTree(path.resolve(args.root)) : []);
mp.replInit();
flush();

const show = write;

async function softReset() {
  const wasRaw = raw;
  mute = true;
  const kept = files(mp.FS);
  mp = await boot(kept);
  mute = false;
  show(Buffer.from("MPY: soft reboot\r\n"));
  runFile(mp, "/boot.py");
  if (!wasRaw && args["run-main"]) runFile(mp, "/main.py");
  if (wasRaw) {
    mute = true;
    mp.replInit();
    mute = false;
    feed(0x01);
  } else {
    raw = false;
    mp.replInit();
  }
  rawLen = 0;
}

function feed(c) {
  if (raw) {
    if (c === 0x01 || c === 0x03) rawLen = 0;
    else if (c !== 0x02 && c !== 0x04) rawLen++;
  }
  const ret = mp.replProcessChar(c);
  if (raw && c === 0x04) rawLen = 0;
  return ret;
}

// Raw-paste, served here (the port's own hangs, see the top): "R\x01" and the window size; the
// host sends at most a window of bytes until we grant another with \x01, then \x04 ends the code.
// We acknowledge with \x04 and run the code through the port's raw REPL, dropping its "OK" (raw-paste
// replies start directly with the output).

async function onByte(c) {
  scan();
  if (paste !== null) {
    if (c === 0x04) {
      show(Buffer.from("\x04"));
      const code = paste;
      paste = null;
      for (const b of code) feed(b);
      dropOK = 2;
      if (feed(0x04)) await softReset();
      dropOK = 0;
      return;
    }
    if (c === 0x03) {
      // Ctrl-C aborts the paste (a board answers \x04 and discards it)
      paste = null;
      show(Buffer.from("\x04"));
      return;
    }
    paste.push(c);
    if (++pasteCount % WINDOW === 0) show(Buffer.from("\x01"));
    return;
  }
  if (raw && (probe || (c === 0x05 && rawLen === 0))) {
    probe += String.fromCharCode(c);
    if (probe === "\x05" || probe === "\x05A") return;
    if (probe === "\x05A\x01") {
      probe = "";
      if (noPaste) {
        show(Buffer.from("R\x00"));
        return;
      }
      paste = [];
      pasteCount = 0;
      show(Buffer.from([0x52, 0x01, WINDOW & 0xff, WINDOW >> 8]));
      return;
    }
    const held = probe;
    probe = "";
    for (const ch of held) if (feed(ch.charCodeAt(0))) await softReset();
    return;
  }
  if (feed(c)) await softReset();
}

let queue = Promise.resolve();
process.stdin.on("data", (data) => {
  log("<", data);
  queue = queue.then(async () => {
    for (const c of data) {
      await onByte(c);
      if (outLen > 1 << 20) flush(); // tracebacks come whole within one flush
    }
    flush();
  });
});
process.stdin.on("end", () => {
  queue.then(() => process.exit(0));
});
