// check_tokenizer.mjs: loads a tokenizer.json with @huggingface/tokenizers
// (the JavaScript implementation kiln's own tokenizer is tested against) and
// checks it against the ids that train_tokenizer.py's encoder gave.
//
//   node check_tokenizer.mjs TOKENIZER.json CASES.json
//
// CASES.json: {"cases": [{"text": "...", "ids": [...], "ids_bos": [...]}]}
// (check_tokenizer.py writes it and runs this). For each case: encode without
// special tokens must give "ids", encode with them must give "ids_bos", and
// decode("ids") must give the text back. Prints the first mismatches and a
// closing "N passed, N failed" line; exits 1 on any mismatch.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const MODULE = path.join(here, '..', '..', 'tests', 'tokenizer', 'node_modules', '@huggingface',
  'tokenizers', 'dist', 'tokenizers.mjs');
const SHOW = 5;

const [jsonPath, casesPath] = process.argv.slice(2);
if (!jsonPath || !casesPath) {
  console.error('usage: node check_tokenizer.mjs TOKENIZER.json CASES.json');
  process.exit(2);
}
if (!fs.existsSync(MODULE)) {
  console.error(`check_tokenizer: ${MODULE} not found (run 'npm ci' in tests/tokenizer)`);
  process.exit(2);
}
const { Tokenizer } = await import(pathToFileURL(MODULE).href);
const tok = new Tokenizer(JSON.parse(fs.readFileSync(jsonPath, 'utf8')), {});
const cases = JSON.parse(fs.readFileSync(casesPath, 'utf8')).cases;

const same = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
const show = (s) => JSON.stringify(s.length > 100 ? s.slice(0, 100) + '...' : s);
let passed = 0;
const failures = [];
for (const c of cases) {
  const ids = tok.encode(c.text, { add_special_tokens: false }).ids;
  const idsBos = tok.encode(c.text, { add_special_tokens: true }).ids;
  const back = ids.length ? tok.decode(ids, { clean_up_tokenization_spaces: false }) : '';
  const why = [];
  if (!same(ids, c.ids)) why.push(`encode: js ${JSON.stringify(ids)} python ${JSON.stringify(c.ids)}`);
  if (!same(idsBos, c.ids_bos)) why.push(`with BOS: js ${JSON.stringify(idsBos)} python ${JSON.stringify(c.ids_bos)}`);
  if (back !== c.text) why.push(`decode gave ${show(back)}`);
  if (why.length) failures.push(`${show(c.text)}\n    ${why.join('\n    ')}`);
  else passed++;
}
for (const f of failures.slice(0, SHOW)) console.log(`mismatch: ${f}`);
console.log(`${passed} passed, ${failures.length} failed`);
process.exit(failures.length ? 1 : 0);
