/**
 * The README as a newcomer reads it: short, with the two commands first, a
 * quick start whose files are exactly the ones CI compiles and runs in a Nest
 * 12 CLI app (docs/quickstart, see test/package), and no dead links into the
 * repository or its guides.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const readme = readFileSync(join(root, 'README.md'), 'utf8');
const quickstart = join(root, 'docs/quickstart/src');

/** GitHub's heading anchors: lowercase, punctuation dropped, spaces to hyphens. */
function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const [, text] of markdown.matchAll(/^#{1,6} (.+)$/gm)) {
    const base = text!
      .trim()
      .toLowerCase()
      .replace(/[^\p{L}\p{N} _-]/gu, '')
      .replace(/ /g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n ? `${base}-${n}` : base);
  }
  return out;
}

describe('the README', () => {
  it('fits a newcomer: at most about 400 lines', () => {
    expect(readme.split('\n').length).toBeLessThanOrEqual(400);
  });

  it('starts with the two commands CI and a new user run', () => {
    const firstBlock = /```bash\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
    expect(firstBlock).toMatch(/^npm install && npm start\b/m);
    expect(firstBlock).toMatch(/^npm test\b/m);
  });

  it('shows every quick start file exactly as CI compiles and runs it', () => {
    const shown = new Map<string, string>();
    for (const [, body] of readme.matchAll(/```ts\n(\/\/ src\/[^\n]+\n[\s\S]*?)```/g)) {
      const name = /^\/\/ src\/(\S+)/.exec(body!)![1]!;
      shown.set(name, body!);
    }
    const files = readdirSync(quickstart).sort();
    expect([...shown.keys()].sort()).toEqual(files);
    for (const file of files) expect(shown.get(file)).toBe(readFileSync(join(quickstart, file), 'utf8'));
  });

  it('installs socket.io only through @nestjs/platform-socket.io', () => {
    const install = /```bash\n(npm install nestjs-socket-auth[^\n]*)/.exec(readme)?.[1];
    expect(install).toBeDefined();
    expect(install!.split(/\s+/).filter((word) => /^socket\.io(@|$)/.test(word))).toEqual([]);
  });

  it('has no dead links into the repository, its guides or their headings', () => {
    const docs = readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md'));
    const pages = ['README.md', ...docs.map((f) => `docs/${f}`)];
    const dead: string[] = [];
    for (const page of pages) {
      const text = readFileSync(join(root, page), 'utf8');
      for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^(https?:|mailto:)/.test(target!)) continue;
        const [path, hash] = target!.split('#');
        const file = path ? resolve(root, dirname(page), path) : join(root, page);
        if (!existsSync(file)) dead.push(`${page}: ${target}`);
        else if (hash && file.endsWith('.md') && !anchors(readFileSync(file, 'utf8')).has(hash))
          dead.push(`${page}: ${target} (no such heading)`);
      }
    }
    expect(dead).toEqual([]);
  });
});
