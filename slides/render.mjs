// Turn slide Markdown into HTML at build time: marked for the Markdown, KaTeX for the math,
// highlight.js for the code. Called once per build by build.py.
//
// stdin:  {"items": [{"markdown": "... KATEXMATH0Z ...", "math": [{"tex": "...", "display": true}]}]}
// stdout: {"html": ["<h2>...</h2>...", ...]}
//
// build.py has already cut every equation out of the Markdown and left a placeholder
// KATEXMATH<i>Z in its place (so marked cannot mangle the TeX); here each placeholder becomes
// KaTeX's HTML. A TeX error stops the build with the deck's equation in the message.
import hljs from "highlight.js";
import katex from "katex";
import { Marked } from "marked";

const marked = new Marked({
  gfm: true,
  renderer: {
    code({ text, lang }) {
      const language = (lang || "").trim().split(/\s+/)[0];
      const body = language && hljs.getLanguage(language)
        ? hljs.highlight(text, { language, ignoreIllegals: true }).value
        : hljs.highlightAuto(text, ["python", "bash"]).value;
      return `<pre><code class="hljs language-${language || "text"}">${body}</code></pre>\n`;
    },
  },
});

function renderItem(item, index) {
  const rendered = item.math.map((m, j) => {
    try {
      return katex.renderToString(m.tex, {
        displayMode: Boolean(m.display),
        throwOnError: true,
        strict: "error",
        output: "htmlAndMathml",
      });
    } catch (err) {
      throw new Error(`item ${index}, equation ${j} (${JSON.stringify(m.tex)}): ${err.message}`);
    }
  });
  let html = marked.parse(item.markdown);
  const seen = new Set();
  const put = (k) => {
    const i = Number(k);
    if (i >= rendered.length) throw new Error(`item ${index}: unknown math placeholder ${i}`);
    seen.add(i);
    return rendered[i];
  };
  // A display equation alone in a paragraph replaces the whole <p> (a block is not put in a <p>).
  html = html.replace(/<p>KATEXMATH(\d+)Z<\/p>/g, (whole, k) => (item.math[Number(k)]?.display ? put(k) : whole));
  html = html.replace(/KATEXMATH(\d+)Z/g, (_, k) => put(k));
  if (seen.size !== rendered.length) {
    throw new Error(`item ${index}: ${rendered.length - seen.size} equation(s) lost by the Markdown renderer`);
  }
  return html;
}

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const input = JSON.parse(Buffer.concat(chunks).toString("utf8"));
const html = input.items.map(renderItem);
process.stdout.write(JSON.stringify({ html }));
