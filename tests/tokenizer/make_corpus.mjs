// make_corpus.mjs: writes corpus.json, the strings compare.mjs tokenizes
// with kiln and with @huggingface/tokenizers. Deterministic (a fixed-seed
// generator), so the committed corpus.json is what this script writes:
//
//   node tests/tokenizer/make_corpus.mjs > tests/tokenizer/corpus.json
//
// Each case is {"class": ..., "text": ...} or, for bytes that are not
// valid UTF-8, {"class": "bytes", "hex": ...} (kiln reads the raw bytes;
// the reference reads what a TextDecoder makes of them). Lone UTF-16
// surrogates are left out: UTF-8 text cannot hold them.
const cases = [];
const add = (cls, ...texts) => texts.forEach((text) => cases.push({ class: cls, text }));

// A small deterministic generator (mulberry32).
let seed = 0x6b696c6e;
function rand() {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = (a) => a[Math.floor(rand() * a.length)];

// ---- ASCII prose ----
add('prose',
  'Hello world', 'Hello world!', 'hello', 'Hello', 'HELLO WORLD', 'The quick brown fox jumps over the lazy dog.',
  'It was the best of times, it was the worst of times.', 'A', 'a', 'I', 'Yes.', 'No!', 'Why?',
  'Once upon a time, there was a little girl who lived in a village near the forest.',
  'The meeting is scheduled for Tuesday; please bring your notes (and a pen).',
  'She said, "I will be there at noon," but she never came.',
  'E-mail: someone@example.com, web: https://example.org/path?query=1&x=y#frag',
  'Mr. Smith went to Washington D.C. in the U.S.A.',
  'To be, or not to be: that is the question.',
  'In 1492, Columbus sailed the ocean blue.',
  'Transformers are a type of neural network architecture.',
  'tokenization tokenizer tokenize tokens token',
  'supercalifragilisticexpialidocious', 'antidisestablishmentarianism', 'pneumonoultramicroscopicsilicovolcanoconiosis',
  'CamelCaseIdentifier', 'snake_case_identifier', 'kebab-case-identifier', 'SCREAMING_SNAKE_CASE', 'mIxEd CaSe TeXt',
  'iPhone iOS macOS eBay', 'HTTPServerError', 'XMLHttpRequest', 'getElementById',
  '...', '!!!', '???', '?!', '--', '---', '—', '–', '•', '…', '&&', '||', '::', '->', '=>', '<=', '>=', '!=', '==', '===',
  'a.b.c', 'a,b,c', 'a;b;c', 'a/b/c', 'a\\b\\c', '(a)', '[a]', '{a}', '<a>', '"quoted"', "'single'", '`backtick`',
  'end.', 'end. ', ' start', '  two leading', 'trailing two  ', 'x', 'xy', 'xyz',
  'The year 2024 was a leap year; 2025 is not.',
  'Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua.',
  'Q: What is 2+2?\nA: 4.', 'First line\nSecond line\nThird line', 'Title\n\nParagraph one.\n\nParagraph two.',
  '# Heading\n\n- item one\n- item two\n\n1. first\n2. second\n', '> quoted text\n>> nested quote',
  '**bold** _italic_ `code` ~~strike~~', '[link](http://example.com) ![img](a.png)',
  'user: hi\nassistant: hello, how can I help?', 'Dear Sir or Madam,\n\nI am writing to...\n\nSincerely,\nMe',
);

// ---- contractions ----
add('contractions',
  "I'm", "you're", "they've", "we'll", "he'd", "it's", "don't", "can't", "won't", "shouldn't've",
  "I'M", "YOU'RE", "THEY'VE", "WE'LL", "HE'D", "IT'S", "DON'T", "We'Ll", "i'M", "'s", "'S", "'t", "'re", "'ve", "'m", "'ll", "'d",
  "O'Neil", "rock'n'roll", "''", "'''", "' s", "'x", "the dog's bone", "the dogs' bones", "'tis", "y'all'd've",
  "l'homme d'affaires", "Ma'am", "it’s (curly)", "’s", "'5", "'é", "'ſ", "'K", "can't'", "'S'",
);

// ---- code ----
add('code',
  'int main(void) {\n  printf("Hello, world!\\n");\n  return 0;\n}\n',
  'def fib(n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n',
  'for (let i = 0; i < 10; i++) { console.log(i * 2); }',
  'fn main() {\n    let v: Vec<u32> = (0..10).map(|x| x * x).collect();\n    println!("{:?}", v);\n}',
  '#!/bin/bash\nset -euo pipefail\nfor f in *.txt; do\n  echo "$f"\ndone\n',
  '{"name": "kiln", "version": "0.1.0", "tags": ["compiler", "llm"], "nested": {"a": 1, "b": [true, false, null]}}',
  '<!DOCTYPE html>\n<html>\n<head><title>Test</title></head>\n<body><p class="x">Hi</p></body>\n</html>',
  'SELECT id, name FROM users WHERE age >= 18 AND name LIKE \'%son\' ORDER BY id DESC LIMIT 10;',
  '^(?:[a-z0-9!#$%&\'*+/=?^_`{|}~-]+(?:\\.[a-z0-9!#$%&\'*+/=?^_`{|}~-]+)*)$',
  'x = [1, 2, 3]\ny = {k: v for k, v in zip("abc", x)}\nprint(y)',
  '    indented with four spaces', '\tindented with a tab', '\t\t\tthree tabs', '        eight spaces',
  'if (a && b || !c) { return a ? b : c; }', 'a += 1; b -= 2; c *= 3; d /= 4; e %= 5; f **= 6;',
  'std::vector<std::string> v{"a", "b"};', 'template <typename T> T max(T a, T b) { return a > b ? a : b; }',
  '// comment\n/* block\n   comment */\n', '# python comment\n"""docstring"""\n',
  'git commit -m "Fix bug #123" && git push origin main', 'curl -sSL https://example.com/install.sh | sh',
  'C:\\Users\\name\\Documents\\file.txt', '/usr/local/bin/python3 --version', 'path/to/some/file.tar.gz',
  'matrix[i][j] = sum(a[i][k] * b[k][j] for k in range(n))', 'lambda x: x**2 + 2*x + 1',
  'const re = /\\d{3}-\\d{4}/g;', 'SELECT * FROM t;\n\n\nSELECT 1;', '0b1010 0o777 0xDEADBEEF 1_000_000',
  '}}}}]]]]))))', '((((((((((', '<<<<>>>>', '/**/', '*/\n', '//\n//\n', 'x/y/z//w', 'a/\n', 'end */\r\n',
  'println!("{}", x);\r\n', 'if x:\r\n    pass\r\n', '\n\n\n\n', '\r\n\r\n', 'key: value\n  - item\n  - item2\n',
);

// ---- numbers ----
add('numbers',
  '0', '1', '12', '123', '1234', '12345', '123456', '1234567', '12345678901234567890', '3.14159', '-42', '+7',
  '1,000,000', '1.000.000,00', '1e10', '6.02e23', '1/2', '50%', '$1,299.99', '€5', '¥100', '£3.50',
  '2024-01-15', '10:30:45', '12/31/1999', '+1 (555) 123-4567', 'v1.2.3', 'RFC 2616', 'Windows 10', 'x86_64',
  'abc123def', '123abc', 'a1b2c3', '1a', '0.0001', '1000000000000', '007', '2^10 = 1024', '3x4=12',
  '١٢٣٤٥', '۱۲۳', '१२३४', '১২৩', '๑๒๓', '一二三', 'Ⅻ', 'ⅻ', '½', '¾', '²', '³', '①②③', '𝟙𝟚𝟛', '１２３４', '٣.١٤',
  '999999999', 'pi is 3.14159265358979323846', 'The total is 12345.67 USD.',
);

// ---- white space ----
add('whitespace',
  ' ', '  ', '   ', '    ', ' '.repeat(16), ' '.repeat(100), 'a b', 'a  b', 'a   b', 'a    b', ' a', '  a', 'a ', 'a  ',
  ' a ', '  a  ', '\t', '\t\t', 'a\tb', 'a\t\tb', ' \t ', '\t \t', '\n', '\n\n', '\n\n\n', 'a\nb', 'a\n\nb', 'a\n\n\nb',
  '\r\n', 'a\r\nb', '\r', 'a\rb', '\r\r\n\n', ' \n', '\n ', ' \n ', '  \n\n  x', 'x\n  y', 'x  \ny', 'x \n \n y',
  '\u00a0', 'a\u00a0b', '\u3000', '日本\u3000語', '\u2003x', 'x\u2002y', '\u2009thin', '\u200b', 'a\u200bb', '\ufeff', '\ufeffBOM',
  'x\u0085y', '\u0085', '\u2028', 'a\u2029b', '\u000b', '\u000c', 'a\u000b\u000cb', '\u1680', '\u202f', '\u205f',
  ' \u00a0 ', '\t\n\t', '\n\t\n', '    \n    \n', 'word\n', '\nword', ' word\n', '\n\n\nword   \n\n', ' \r\n ',
  'trailing spaces   ', '   leading spaces', 'multiple    internal     spaces', '\n'.repeat(40), '\t'.repeat(12),
  ' \n\n \n', 'a\n \nb', '\u00a0\u00a0x', 'x\u00a0\u00a0',
);

// ---- accented Latin ----
add('latin',
  'café', 'naïve', 'résumé', 'Ærøskøbing', 'Straße', 'Ça va?', 'señor', 'São Paulo', 'Zürich', 'Kraków', 'Łódź',
  'Ångström', 'Øresund', 'İstanbul', 'ıi', 'Dvořák', 'Škoda', 'Tiếng Việt', 'Nguyễn', 'ﬁne ﬂow', 'œuvre', 'Œdipus',
  'cafe\u0301', 'n\u0303', 'a\u0301\u0302\u0303', 'e\u0301e\u0301', 'A\u030a', 'o\u0308', 'u\u0308\u0301', 's\u0323\u0307',
  '\u0301alone', 'x\u0301', '\u212b', '\u2126', 'K\u0301', '\u1e69', 's\u0307\u0323', 'Ω', 'µ', 'ǅ', 'ǆ', 'Ǆ',
  'Français: àâæçéèêëîïôœùûüÿ', 'Español: áéíóúñü¿¡', 'Deutsch: äöüßÄÖÜẞ', 'Português: ãõâêôáéíóúç',
  'Čeština: ěščřžýáíéůú', 'Română: ăâîșț', 'Magyar: őű', 'Íslenska: ðþæ', 'Eesti: õäöü', 'Lietuvių: ąčęėįšųūž',
  'ĀāĒēĪīŌōŪū', 'Ḁḁ ẞ ǰ ǈ', 'ȧ ȩ ḙ', 'hôtel naïf Noël', 'CAFÉ NAÏVE',
);

// ---- other scripts ----
add('scripts',
  'Ελληνικά: Καλημέρα κόσμε', 'Русский: Привет, мир!', 'Українська: Добрий день', 'Български: Здравей',
  'العربية: مرحبا بالعالم', 'עברית: שלום עולם', 'हिन्दी: नमस्ते दुनिया', 'বাংলা: ওহে বিশ্ব', 'தமிழ்: வணக்கம்',
  'ไทย: สวัสดีชาวโลก', 'ქართული: გამარჯობა', 'Հայերեն: Բարեւ', 'አማርኛ: ሰላም', 'ಕನ್ನಡ', 'తెలుగు', 'മലയാളം',
  'ગુજરાતી', 'ਪੰਜਾਬੀ', 'ଓଡ଼ିଆ', 'සිංහල', 'မြန်မာ', 'ខ្មែរ', 'ລາວ', 'བོད་ཡིག', 'ᓀᐦᐃᔭᐍᐏᐣ', 'ᚠᚢᚦᚨᚱᚲ', '𐌰𐌱𐌲',
  'Mongolian: ᠮᠣᠩᠭᠣᠯ', 'Cherokee: ᏣᎳᎩ', 'Syriac: ܫܠܡܐ', 'Thaana: ދިވެހި', 'N\u2019Ko: ߒߞߏ', 'Javanese: ꦗꦮ',
  'Mixed: Hello Привет 你好 مرحبا', 'αβγδε ΑΒΓΔΕ', 'ǅungla', 'Ꭰ', 'ꭰ', 'ﬀ', 'ﬃ', '𝐇𝐞𝐥𝐥𝐨', '𝔉𝔯𝔞𝔨𝔱𝔲𝔯', 'Ⓐⓑⓒ',
);

// ---- CJK ----
add('cjk',
  '你好', '你好，世界！', '我爱自然语言处理。', '今天天气很好，我们去公园散步吧。', '中华人民共和国', '機械学習',
  'こんにちは', 'こんにちは世界', 'カタカナ', 'ひらがなとカタカナと漢字', '東京都渋谷区', 'ｶﾀｶﾅ', 'ラーメン',
  '안녕하세요', '한국어 텍스트', '대한민국', '\u1100\u1161\u11a8', '\u1112\u1161\u11ab\u1100\u1173\u11af', 'ㄱㄴㄷ', '가각갂',
  '𠀀𠀁𠀂', '𪚥', '𫝀', '丂丄丅', 'ＡＢＣ１２３', '全角スペース\u3000です', '「引用」', '『書名』', '【注意】', '〜〜〜',
  '中文English混合text', '日本語とEnglish', 'GPT-4は強力です', '第1章', '２０２４年１月１５日', '价格：¥1,299元',
  '这是一个很长的中文句子，用来测试分词器在处理连续汉字时的行为，其中没有任何空格。',
  '漢字かなカナ한글abc123', '、。・ー', '㈱㈲', '㊗㊙', '〇', '々', '〆', 'ヶ', '・',
);

// ---- emoji ----
add('emoji',
  '😀', '😀😃😄', 'Hello 😀', '👍', '👍🏽', '👍🏿', '👨‍👩‍👧‍👦', '👩‍💻', '🧑‍🤝‍🧑', '🏳️‍🌈', '🏴‍☠️', '❤️', '❤', '♥️',
  '🇺🇸', '🇯🇵🇩🇪🇫🇷', '🇺', '1️⃣', '#️⃣', '*️⃣', '🔥🔥🔥', '🎉 Party!', 'I ❤️ NY', '☕️', '⚽', '✔️', '✅', '❌',
  '🙏🏻', '👋🏼 hi', '🤷‍♀️', '🤷🏽‍♂️', '🧔‍♂️', '👁️‍🗨️', '😶‍🌫️', '🫠', '🫶🏾', '🦀 Rust', '🐍 Python', '🎌',
  'emoji at end 🚀', '🚀emoji at start', 'mid🚀dle', '😀 😀', '😀\n😀', '👨‍👩‍👧‍👦👨‍👩‍👧‍👦', '\u{1F600}\u{FE0F}', '\u200d', 'a\u200db',
  '©®™', '↑↓←→', '∀∃∈∉∑∏√∞', '≠≤≥≈', '°C °F', '♠♣♥♦', '★☆', '☺☻', '⌘⌥⇧', '♪♫',
);

// ---- invalid-looking and unusual ----
add('odd',
  'Ã©', 'Ã¨', 'â€™', 'â€œquotedâ€\u009d', 'Ã¤Ã¶Ã¼', '\ufffd', 'a\ufffdb', '\ufffd\ufffd', '\u0000', 'a\u0000b',
  '\u0001\u0002\u0003', '\u007f', '\u001b[31mred\u001b[0m', '\u0080\u0081\u009f', '\u00ad', 'soft\u00adhyphen',
  '\u2060', '\u180e', '\ue000', '\uf8ff', '\u{f0000}', '\u{10ffff}', '\ufdd0', '\uffff', '\ufffe', '\u{1fffe}',
  '\u034f', '\u200e\u200f', '\u202a\u202c', 'x\u0300\u0300\u0300\u0300\u0300', '\u0300', '\u20dd', 'e\u20dd',
  'Z̷̧̛̫̮̖a̸̡͎l̶g̵o̴', '<0x41>', '<0x0A>', '<0xZZ>', '\\u0041', '\\n', '\\x41', '%20%3D', '&amp;&lt;&gt;', '&#128512;',
  '\u00e9\u0301', 'A\u0308\u0304', '\u0627\u0644\u0652', '\u05d0\u05b8', '\u0915\u094d\u0937', '\u0e01\u0e33',
);

// ---- special tokens inside text ----
add('special',
  '<s>', '</s>', '<unk>', '<s>Hello', 'Hello</s>', '<s> Hello', 'Hello <s>', 'a<s>b', 'a <s> b', '<s><s>', '</s></s>',
  '<s>[INST] What is 2+2? [/INST]', '< s>', '<s >', '<<s>>', '<s', 's>', '<S>', '<|begin_of_text|>', '<|begin_of_text|>Hello',
  '<|start_header_id|>user<|end_header_id|>\n\nWhat is the capital of France?<|eot_id|>',
  '<|start_header_id|>assistant<|end_header_id|>\n\n', '<|eot_id|><|eot_id|>', '<|end_of_text|>', '<|reserved_special_token_0|>',
  '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHi!<|im_end|>\n<|im_start|>assistant\n',
  '<|im_start|>', '<|im_end|>', '<|im_start', 'im_start|>', '<|endoftext|>', 'text<|endoftext|>more', '<|endofprompt|>',
  '<think>\nreasoning\n</think>\n\nanswer', '<tool_call>{"name": "f"}</tool_call>', '<|fim_prefix|>x<|fim_suffix|>y<|fim_middle|>',
  '<bos>', '<eos>', '<pad>', '<start_of_turn>user\nHello<end_of_turn>\n<start_of_turn>model\n', '<unused0>', '<unused99>',
  '<mask>', '[multimodal]', '<table><tr><td>x</td></tr></table>', '<image_soft_token>', '<start_of_image>',
  '\n\n', '\t\t', '▁', '▁▁', '▁▁▁x', 'x▁y', '<|begin_of_text|><|begin_of_text|>', '<|eot_id|> trailing', ' <|im_end|> ',
);

// ---- long ----
add('long',
  'a'.repeat(1000), 'ab'.repeat(500), 'The quick brown fox. '.repeat(60), '1234567890'.repeat(30), ' '.repeat(300) + 'x',
  'x' + '\n'.repeat(100), '😀'.repeat(100), '你好'.repeat(200), 'é'.repeat(300), 'e\u0301'.repeat(200), '-'.repeat(500), '=-'.repeat(200),
  Array.from({ length: 200 }, (_, i) => `word${i}`).join(' '),
  'antidisestablishmentarianism'.repeat(20),
);

// ---- random mixtures ----
const pools = [
  'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ', '0123456789', ' \t\n\r', '.,;:!?\'"()[]{}<>/\\|-_=+*&^%$#@~`',
  'éèêëàâäôöûüçñßøåæœ', '\u0300\u0301\u0308\u0323\u0327\u0338', '你好世界中文字符', 'ひらがなカタカナ', '한국어글자',
  'αβγΔΩπ', 'абвгдЖЯ', 'ابتثج', 'אבגד', 'कखगघ्ा', '😀👍🏽❤️🇺🇸👨‍👩‍👧', '\u00a0\u3000\u2003\u0085\u200b', '½²①Ⅻ١٢',
];
for (let i = 0; i < 160; i++) {
  const len = 1 + Math.floor(rand() * 40);
  let s = '';
  for (let k = 0; k < len; k++) s += pick([...pick(pools)]);
  add('random', s);
}
for (let i = 0; i < 40; i++) { // words with spacing and specials
  const parts = [];
  const n = 2 + Math.floor(rand() * 8);
  for (let k = 0; k < n; k++)
    parts.push(pick(['the', 'The', 'of', "it's", 'HTTP', 'naïve', '你好', '😀', '123', '4567', ' ', '  ', '\n', '\t', '<s>', '<|im_end|>',
      '<|eot_id|>', '<|endoftext|>', '<start_of_turn>', 'x', '.', '...', '/*', '*/', 'π', 'Δ', '\u0301']));
  add('random', parts.join(pick(['', ' ', '  '])));
}

// ---- bytes that are not UTF-8 ----
const bytes = [
  'ff', 'fe', 'c3', 'c328', 'e282', 'e28228', 'f09f98', 'f09f9828', 'eda080', 'edbfbf', 'c0af', 'e080af', 'f08080af',
  'f5808080', 'f4908080', '80', 'bf', '8080', '61806263', '68656c6c6fff776f726c64', 'e4b8', 'e4b8e4b8ad', 'c2',
  'f0', 'e0a0', 'f090', '20ff20', '0aff0a', 'ffffffff', '41c3a942ff43',
];
for (const hex of bytes) cases.push({ class: 'bytes', hex });

// One case a line, so that diffs of the corpus read well.
process.stdout.write('{"version": 1, "cases": [\n' + cases.map((c) => JSON.stringify(c)).join(',\n') + '\n]}\n');
process.stderr.write(`make_corpus: ${cases.length} cases\n`);
