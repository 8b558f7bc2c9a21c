#!/usr/bin/env node
// Encodes texts with Hugging Face's own tokenizers (npm `tokenizers`, the Rust library) as the reference for our
// tokenizer. Usage: node hf-tokenize.js REQUEST.json
//   request: {"tokenizer": "path/to/tokenizer.json", "texts": ["...", ...]}
//   prints:  [{"ids": [...], "idsSpecial": [...], "offsets": [[s, e], ...], "decoded": "...", "decodedSkip": "..."}, ...]
// Offsets are converted from the library's code-point offsets to UTF-16 offsets (what C# strings index).
// Bench mode: node hf-tokenize.js --bench TOKENIZER CORPUS REPEAT  (single-threaded encode of every corpus item)
'use strict';
process.env.RAYON_NUM_THREADS = process.env.RAYON_NUM_THREADS || '1';
const fs = require('fs');
const { Tokenizer } = require('tokenizers');

function utf16Index(text) {
  // codePointIndex -> UTF-16 index, one entry past the end.
  const map = [];
  let u = 0;
  for (const ch of text) { map.push(u); u += ch.length; }
  map.push(u);
  return map;
}

function readCorpus(path) {
  const text = fs.readFileSync(path, 'utf8');
  const lines = text.split('\n');
  if (text.endsWith('\n')) lines.pop();
  return lines.map(l => l.replace(/\\(n|r|\\)/g, (_, c) => (c === 'n' ? '\n' : c === 'r' ? '\r' : '\\')));
}

async function encodeRequest(requestPath) {
  const request = JSON.parse(fs.readFileSync(requestPath, 'utf8'));
  const tokenizer = Tokenizer.fromFile(request.tokenizer);
  const results = [];
  for (const text of request.texts) {
    const plain = await tokenizer.encode(text, null, { addSpecialTokens: false });
    const special = await tokenizer.encode(text, null, { addSpecialTokens: true });
    const map = utf16Index(text);
    results.push({
      ids: plain.getIds(),
      idsSpecial: special.getIds(),
      offsets: plain.getOffsets().map(([s, e]) => [map[s], map[e]]),
      decoded: await tokenizer.decode(plain.getIds(), false),
      decodedSkip: await tokenizer.decode(special.getIds(), true),
    });
  }
  process.stdout.write(JSON.stringify(results));
}

async function bench(tokenizerPath, corpusPath, repeat) {
  const t0 = process.hrtime.bigint();
  const tokenizer = Tokenizer.fromFile(tokenizerPath);
  const load = Number(process.hrtime.bigint() - t0) / 1e9;
  const items = readCorpus(corpusPath);
  const bytes = items.reduce((n, s) => n + Buffer.byteLength(s, 'utf8'), 0);
  // One encodeBatch call per round on a single Rayon thread: the Rust library's own speed, without the
  // per-call cost of the async JS binding (reported separately as per_item).
  let best = Infinity;
  let tokens = 0;
  for (let r = 0; r < repeat; r++) {
    const start = process.hrtime.bigint();
    const encodings = await tokenizer.encodeBatch(items, { addSpecialTokens: false });
    best = Math.min(best, Number(process.hrtime.bigint() - start) / 1e9);
    tokens = encodings.reduce((n, e) => n + e.getLength(), 0);
  }
  let perItem = Infinity;
  {
    const start = process.hrtime.bigint();
    for (const item of items) await tokenizer.encode(item, null, { addSpecialTokens: false });
    perItem = Number(process.hrtime.bigint() - start) / 1e9;
  }
  process.stderr.write(`load_s=${load.toFixed(3)} bytes=${bytes} items=${items.length} tokens=${tokens} best_s=${best.toFixed(3)} mb_per_s=${(bytes / 1e6 / best).toFixed(2)} per_item_mb_per_s=${(bytes / 1e6 / perItem).toFixed(2)}\n`);
}

(async () => {
  const args = process.argv.slice(2);
  if (args[0] === '--bench') await bench(args[1], args[2], parseInt(args[3] || '1', 10));
  else if (args.length === 1) await encodeRequest(args[0]);
  else { process.stderr.write('usage: hf-tokenize.js REQUEST.json | --bench TOKENIZER CORPUS REPEAT\n'); process.exit(2); }
})().catch(e => { process.stderr.write(String(e && e.stack || e) + '\n'); process.exit(1); });
