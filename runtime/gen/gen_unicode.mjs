// gen_unicode.mjs: writes runtime/rt_unicode_data.inc, the Unicode tables of
// rt_unicode.c, from the Unicode data built into Node.js (its RegExp \p{}
// properties and String.prototype.normalize, i.e. ICU).
//
//   node runtime/gen/gen_unicode.mjs > runtime/rt_unicode_data.inc
//
// Node's data is used, not Python's unicodedata, because the tokenizer's
// reference implementation (@huggingface/tokenizers) runs on the same
// RegExp engine: the same Node gives the same \p{L}. The header of the
// output names the Unicode version.
//
// Tables:
//   class ranges   every code point's class for the pre-tokenizer patterns:
//                  Lu Ll Lt Lm Lo, M (Mn Mc Me), N (Nd Nl No), White_Space
//                  (a property; no white-space character is L, M or N), other
//   ccc ranges     an order-preserving stand-in for the canonical combining
//                  class (1, 2, ... in the order of the real classes; 0 for
//                  starters). JavaScript does not expose the class itself, so
//                  it is recovered from how NFD reorders pairs of marks; the
//                  normalization algorithm only compares classes.
//   decompositions the full canonical decomposition (NFD) of every code point
//                  that has one, except Hangul syllables (algorithmic)
//   compositions   the primary composites: (first, second) -> composite
const MAX = 0x10ffff;
const isSurrogate = (cp) => cp >= 0xd800 && cp <= 0xdfff;
const isHangulSyllable = (cp) => cp >= 0xac00 && cp <= 0xd7a3;
const str = (cp) => String.fromCodePoint(cp);
const cps = (s) => [...s].map((c) => c.codePointAt(0));

// ---- classes ----
const CLASS = { OTHER: 0, LU: 1, LL: 2, LT: 3, LM: 4, LO: 5, M: 6, N: 7, SPACE: 8 };
const tests = [
  [/^\p{White_Space}$/u, CLASS.SPACE],
  [/^\p{Lu}$/u, CLASS.LU], [/^\p{Ll}$/u, CLASS.LL], [/^\p{Lt}$/u, CLASS.LT],
  [/^\p{Lm}$/u, CLASS.LM], [/^\p{Lo}$/u, CLASS.LO],
  [/^\p{M}$/u, CLASS.M], [/^\p{N}$/u, CLASS.N],
];
function classOf(cp) {
  if (isSurrogate(cp)) return CLASS.OTHER;
  const s = str(cp);
  for (const [re, c] of tests) if (re.test(s)) return c;
  return CLASS.OTHER;
}
// [start, value] pairs: value holds from start to the next start.
function ranges(valueOf) {
  const out = [];
  let prev = -1;
  for (let cp = 0; cp <= MAX; cp++) {
    const v = valueOf(cp);
    if (v !== prev) out.push([cp, v]);
    prev = v;
  }
  return out;
}
const classRanges = ranges(classOf);
for (let cp = 0; cp <= MAX; cp++) {
  if (classOf(cp) === CLASS.SPACE && /^[\p{L}\p{M}\p{N}]$/u.test(str(cp)))
    throw new Error(`white space U+${cp.toString(16)} is also L, M or N`);
}

// ---- canonical combining classes, recovered from NFD ----
// swaps(a, b): NFD reorders "ab" to "ba", i.e. ccc(a) > ccc(b) > 0.
const swaps = (a, b) => (str(a) + str(b)).normalize('NFD') === str(b) + str(a);
const CCC1 = 0x0334, CCC230 = 0x0301; // COMBINING TILDE OVERLAY (1), ACUTE (230)
if (!swaps(CCC230, CCC1)) throw new Error('U+0301 and U+0334 do not reorder');
const nonStarters = [];
for (let cp = 0; cp <= MAX; cp++) {
  if (isSurrogate(cp)) continue;
  if (str(cp).normalize('NFD') !== str(cp)) continue; // only NFD-stable ones occur after decomposition
  if (swaps(cp, CCC1) || swaps(CCC230, cp) || cp === CCC1 || cp === CCC230) nonStarters.push(cp);
}
nonStarters.sort((a, b) => (swaps(a, b) ? 1 : swaps(b, a) ? -1 : 0));
const rank = new Map();
let r = 0;
for (let i = 0; i < nonStarters.length; i++) {
  const cp = nonStarters[i];
  if (i === 0 || swaps(cp, nonStarters[i - 1])) r++;
  rank.set(cp, r);
}
if (r > 255) throw new Error('more than 255 combining classes');
// A total order check: every pair of neighbouring ranks really reorders.
for (let i = 1; i < nonStarters.length; i++) {
  const a = nonStarters[i - 1], b = nonStarters[i];
  if (rank.get(a) === rank.get(b) && (swaps(a, b) || swaps(b, a))) throw new Error('rank');
}
const cccRanges = ranges((cp) => rank.get(cp) ?? 0);

// ---- decompositions and compositions ----
const decomp = [];
const comp = [];
let maxDecomp = 0;
for (let cp = 0; cp <= MAX; cp++) {
  if (isSurrogate(cp) || isHangulSyllable(cp)) continue;
  const s = str(cp);
  const d = s.normalize('NFD');
  if (d === s) continue;
  const dc = cps(d);
  decomp.push([cp, dc]);
  maxDecomp = Math.max(maxDecomp, dc.length);
  if (s.normalize('NFC') !== s || dc.length < 2) continue; // excluded, or a singleton
  let found = false;
  for (let j = dc.length - 1; j >= 0 && !found; j--) {
    const rest = dc.filter((_, k) => k !== j).map(str).join('').normalize('NFC');
    if (cps(rest).length !== 1) continue;
    if ((rest + str(dc[j])).normalize('NFC') !== s) continue;
    comp.push([cps(rest)[0], dc[j], cp]);
    found = true;
  }
  if (!found) throw new Error(`no composition pair for U+${cp.toString(16)}`);
}
comp.sort((a, b) => a[0] - b[0] || a[1] - b[1]);

// ---- output ----
const hex = (n) => '0x' + n.toString(16).toUpperCase();
function rows(items, perLine) {
  const lines = [];
  for (let i = 0; i < items.length; i += perLine) lines.push('  ' + items.slice(i, i + perLine).join(', ') + ',');
  return lines.join('\n');
}
const out = [];
out.push(`/* rt_unicode_data.inc: generated by runtime/gen/gen_unicode.mjs from the
 * Unicode data of Node.js ${process.versions.node} (ICU ${process.versions.icu},
 * Unicode ${process.versions.unicode}). Do not edit; run the generator:
 *   node runtime/gen/gen_unicode.mjs > runtime/rt_unicode_data.inc
 * Included by rt_unicode.c only. */
#define RT_UNICODE_VERSION "${process.versions.unicode}"

/* (start << 8) | class: the class holds from start to the next entry. */
static const uint32_t rt_class_ranges[${classRanges.length}] = {
${rows(classRanges.map(([s, v]) => hex(s * 256 + v)), 8)}
};

/* (start << 8) | ccc rank, the same way. */
static const uint32_t rt_ccc_ranges[${cccRanges.length}] = {
${rows(cccRanges.map(([s, v]) => hex(s * 256 + v)), 8)}
};

/* Full canonical decompositions: code point rt_decomp_cp[i] decomposes to
 * rt_decomp_data[rt_decomp_off[i] .. rt_decomp_off[i + 1]). */
#define RT_DECOMP_MAX ${maxDecomp}
static const uint32_t rt_decomp_cp[${decomp.length}] = {
${rows(decomp.map(([c]) => hex(c)), 10)}
};`);
const offs = [0];
const data = [];
for (const [, d] of decomp) { data.push(...d); offs.push(data.length); }
out.push(`static const uint16_t rt_decomp_off[${offs.length}] = {
${rows(offs.map(String), 16)}
};
static const uint32_t rt_decomp_data[${data.length}] = {
${rows(data.map(hex), 10)}
};

/* Primary composites, sorted by (first, second). */
static const uint32_t rt_comp_first[${comp.length}] = {
${rows(comp.map((c) => hex(c[0])), 10)}
};
static const uint32_t rt_comp_second[${comp.length}] = {
${rows(comp.map((c) => hex(c[1])), 10)}
};
static const uint32_t rt_comp_result[${comp.length}] = {
${rows(comp.map((c) => hex(c[2])), 10)}
};
`);
process.stdout.write(out.join('\n'));
process.stderr.write(`gen_unicode: Unicode ${process.versions.unicode}: ${classRanges.length} class ranges, ` +
  `${r} combining classes in ${cccRanges.length} ranges, ${decomp.length} decompositions ` +
  `(at most ${maxDecomp} code points), ${comp.length} compositions\n`);
