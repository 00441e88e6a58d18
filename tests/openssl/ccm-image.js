#!/usr/bin/env node
// ccm-image.js: an independent implementation of the mirage-block-ccm image
// format on top of OpenSSL's AES-CCM (node's crypto module), used by the Go
// tests to cross-check the ccm package and the ccmblock tool.
//
// Usage:
//   node ccm-image.js dec   --key-file K [--mac-len M] [--nonce-len N] [--sector-size P] -i ENC -o PLAIN
//   node ccm-image.js enc   --key-file K [--mac-len M] [--nonce-len N] [--sector-size P] -i PLAIN -o ENC
//   node ccm-image.js speed --key-file K [--mac-len M] [--nonce-len N] [--sector-size P] [--seconds S]
//
// Layout of logical sector n (bytes [2nP, 2nP+2P) of the image):
//   ciphertext (P) | tag (M) | nonce (N) | adata (P-M-N)
//
// dec writes floor(size/(2P)) plaintext sectors; a sector that fails
// authentication is written as zeros, and the script prints
// "bad sectors: a,b,c" and exits 1. enc needs a whole number of plaintext
// sectors and draws nonce and adata from crypto.randomBytes. speed prints
// "seal_MBps X" and "open_MBps Y" (10^6 plaintext bytes per second, one
// sector per CCM operation), then, if the openssl command is installed,
// "evp_seal_MBps" and "evp_open_MBps" from openssl speed (see evpSpeed).
//
// Key file: hex text (optional 0x prefix, surrounding whitespace ignored) or
// raw binary of 16, 24 or 32 bytes. Defaults: M 16, N 8, P 512.
'use strict';

const crypto = require('crypto');
const fs = require('fs');

function fail(msg) {
  process.stderr.write('ccm-image: ' + msg + '\n');
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { macLen: 16, nonceLen: 8, sectorSize: 512, seconds: 1 };
  const names = {
    '--key-file': 'keyFile', '--mac-len': 'macLen', '--nonce-len': 'nonceLen',
    '--sector-size': 'sectorSize', '--seconds': 'seconds',
    '-i': 'in', '--in': 'in', '-o': 'out', '--out': 'out',
  };
  const numeric = new Set(['macLen', 'nonceLen', 'sectorSize', 'seconds']);
  if (argv.length < 1) fail('usage: ccm-image.js dec|enc|speed --key-file K ...');
  opts.mode = argv[0];
  for (let i = 1; i < argv.length; i++) {
    let a = argv[i];
    let v;
    const eq = a.indexOf('=');
    if (a.startsWith('--') && eq > 0) {
      v = a.slice(eq + 1);
      a = a.slice(0, eq);
    }
    const name = names[a];
    if (!name) fail('unknown argument ' + a);
    if (v === undefined) {
      if (i + 1 >= argv.length) fail('missing value for ' + a);
      v = argv[++i];
    }
    if (numeric.has(name)) {
      const n = Number(v);
      if (!Number.isFinite(n)) fail('bad number for ' + a + ': ' + v);
      opts[name] = n;
    } else {
      opts[name] = v;
    }
  }
  return opts;
}

function readKey(path) {
  if (!path) fail('--key-file is required');
  const raw = fs.readFileSync(path);
  let text = raw.toString('latin1').trim();
  if (text.startsWith('0x') || text.startsWith('0X')) text = text.slice(2);
  if (/^[0-9a-fA-F]+$/.test(text) && [32, 48, 64].includes(text.length)) {
    return Buffer.from(text, 'hex');
  }
  if ([16, 24, 32].includes(raw.length)) return raw;
  fail('key file must hold 16, 24 or 32 bytes as hex or raw binary');
}

function checkParams(key, o) {
  const M = o.macLen, N = o.nonceLen, P = o.sectorSize;
  if (!Number.isInteger(M) || M < 4 || M > 16 || M % 2 !== 0) fail('mac length must be 4..16 and even');
  if (!Number.isInteger(N) || N < 7 || N > 13) fail('nonce length must be 7..13');
  if (!Number.isInteger(P) || P <= 2 * (M + N) || P % 16 !== 0) fail('bad sector size');
  return { algo: 'aes-' + key.length * 8 + '-ccm', key, M, N, P };
}

// seal encrypts one P-byte sector into the 2P-byte slot out.
function seal(g, plain, out, nonce, adata) {
  const c = crypto.createCipheriv(g.algo, g.key, nonce, { authTagLength: g.M });
  c.setAAD(adata, { plaintextLength: g.P });
  const ct = c.update(plain);
  c.final();
  ct.copy(out, 0);
  c.getAuthTag().copy(out, g.P);
  nonce.copy(out, g.P + g.M);
  adata.copy(out, g.P + g.M + g.N);
}

// open decrypts one 2P-byte slot; it returns the plaintext or null when the
// tag does not verify.
function open(g, slot) {
  const ct = slot.subarray(0, g.P);
  const tag = slot.subarray(g.P, g.P + g.M);
  const nonce = slot.subarray(g.P + g.M, g.P + g.M + g.N);
  const adata = slot.subarray(g.P + g.M + g.N, 2 * g.P);
  try {
    const d = crypto.createDecipheriv(g.algo, g.key, nonce, { authTagLength: g.M });
    d.setAuthTag(tag);
    d.setAAD(adata, { plaintextLength: g.P });
    const pt = d.update(ct);
    d.final();
    return pt;
  } catch (e) {
    return null;
  }
}

function dec(g, o) {
  if (!o.in || !o.out) fail('dec needs -i and -o');
  const enc = fs.readFileSync(o.in);
  const n = Math.floor(enc.length / (2 * g.P));
  const out = Buffer.alloc(n * g.P);
  const bad = [];
  for (let s = 0; s < n; s++) {
    const pt = open(g, enc.subarray(2 * g.P * s, 2 * g.P * (s + 1)));
    if (pt === null) bad.push(s);
    else pt.copy(out, s * g.P);
  }
  fs.writeFileSync(o.out, out);
  if (bad.length > 0) {
    process.stdout.write('bad sectors: ' + bad.join(',') + '\n');
    process.exit(1);
  }
}

function enc(g, o) {
  if (!o.in || !o.out) fail('enc needs -i and -o');
  const plain = fs.readFileSync(o.in);
  if (plain.length % g.P !== 0) fail('input is not a whole number of sectors');
  const n = plain.length / g.P;
  const out = Buffer.alloc(2 * plain.length);
  for (let s = 0; s < n; s++) {
    seal(g, plain.subarray(s * g.P, (s + 1) * g.P), out.subarray(2 * g.P * s, 2 * g.P * (s + 1)),
      crypto.randomBytes(g.N), crypto.randomBytes(g.P - g.M - g.N));
  }
  fs.writeFileSync(o.out, out);
}

// speed measures one CCM operation per sector, as the format does, with
// fresh random nonce and adata per sealed sector.
function speed(g, o) {
  const plain = crypto.randomBytes(g.P);
  const slot = Buffer.alloc(2 * g.P);
  const budget = Math.max(0.05, o.seconds) * 1e9;
  let count = 0;
  let t0 = process.hrtime.bigint();
  let elapsed = 0;
  while (elapsed < budget) {
    // One RAND call per 256 sectors, like a batched writer.
    const meta = crypto.randomBytes(256 * (g.P - g.M));
    for (let i = 0; i < 256; i++) {
      const m = meta.subarray(i * (g.P - g.M), (i + 1) * (g.P - g.M));
      seal(g, plain, slot, m.subarray(0, g.N), m.subarray(g.N));
    }
    count += 256;
    elapsed = Number(process.hrtime.bigint() - t0);
  }
  const sealMBps = count * g.P / (elapsed / 1e9) / 1e6;
  count = 0;
  t0 = process.hrtime.bigint();
  elapsed = 0;
  while (elapsed < budget) {
    for (let i = 0; i < 256; i++) {
      if (open(g, slot) === null) fail('speed: sector did not verify');
    }
    count += 256;
    elapsed = Number(process.hrtime.bigint() - t0);
  }
  const openMBps = count * g.P / (elapsed / 1e9) / 1e6;
  process.stdout.write('seal_MBps ' + sealMBps.toFixed(1) + '\n');
  process.stdout.write('open_MBps ' + openMBps.toFixed(1) + '\n');
  evpSpeed(g, o);
}

// evpSpeed runs OpenSSL's own speed command, when it is installed, to show
// the CCM speed without node's per-call cost (several microseconds, more
// than the CCM work of a sector). openssl speed has no adata option, so it
// times a message of roundup(2+A, 16) + P bytes, whose CBC-MAC has as many
// blocks as a sector's; its CTR covers the whole message, a little more
// work than a sector's. Results are converted to sectors and printed as
// "evp_seal_MBps X" and "evp_open_MBps Y" in plaintext MB/s.
function evpSpeed(g, o) {
  const { execFileSync } = require('child_process');
  const msgLen = Math.ceil((2 + g.P - g.M - g.N) / 16) * 16 + g.P;
  const secs = String(Math.max(1, Math.round(o.seconds)));
  for (const [name, extra] of [['evp_seal_MBps', []], ['evp_open_MBps', ['-decrypt']]]) {
    let out;
    try {
      out = execFileSync('openssl', ['speed', '-seconds', secs, '-bytes', String(msgLen)]
        .concat(extra, ['-evp', g.algo]), { stdio: ['ignore', 'pipe', 'ignore'] }).toString();
    } catch (e) {
      return; // no openssl command: the node figures stand alone
    }
    // The last line is "<ALGO> <n>k", n in 1000s of bytes per second.
    const m = /([0-9.]+)k\s*$/.exec(out.trim());
    if (!m) return;
    const sectorsPerSec = Number(m[1]) * 1000 / msgLen;
    process.stdout.write(name + ' ' + (sectorsPerSec * g.P / 1e6).toFixed(1) + '\n');
  }
}

function main() {
  const o = parseArgs(process.argv.slice(2));
  const g = checkParams(readKey(o.keyFile), o);
  switch (o.mode) {
    case 'dec': dec(g, o); break;
    case 'enc': enc(g, o); break;
    case 'speed': speed(g, o); break;
    default: fail('unknown mode ' + o.mode + ' (want dec, enc or speed)');
  }
}

try {
  main();
} catch (e) {
  fail(e.message);
}
