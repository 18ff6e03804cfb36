/** The small XML reader for Braintree payloads, mirrored from `crates/core/src/xml.rs`. */

export const MAX_XML_DEPTH = 32;
export const MAX_XML_ELEMENTS = 4096;

export interface Element {
  name: string;
  attrs: [string, string][];
  children: Element[];
  text: string;
}

export const child = (e: Element, name: string): Element | undefined => e.children.find((c) => c.name === name);
export const attr = (e: Element, name: string): string | undefined => e.attrs.find(([k]) => k === name)?.[1];

const trimWs = (s: string) => s.replace(/^[ \t\n\r]+|[ \t\n\r]+$/g, '');

export function childText(e: Element, name: string): string | undefined {
  const raw = childRawText(e, name);
  return raw === undefined ? undefined : trimWs(raw);
}

/** The text of a child element exactly as written (no whitespace trimmed); undefined when absent or nil="true". */
export function childRawText(e: Element, name: string): string | undefined {
  const c = child(e, name);
  if (c === undefined || attr(c, 'nil') === 'true') return undefined;
  return c.text;
}

class XmlError extends Error {}
const fail = (): never => {
  throw new XmlError();
};

const isWs = (c: number) => c === 32 || c === 9 || c === 10 || c === 13;
const isAlpha = (c: number) => (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
const isDigit = (c: number) => c >= 48 && c <= 57;
const isNameStart = (c: number) => isAlpha(c) || c === 95;
const isNameChar = (c: number) => isAlpha(c) || isDigit(c) || c === 95 || c === 45 || c === 46 || c === 58;

function unescapeXml(s: string): string {
  if (!s.includes('&')) return s;
  let out = '';
  let rest = s;
  for (let p = rest.indexOf('&'); p >= 0; p = rest.indexOf('&')) {
    out += rest.slice(0, p);
    const after = rest.slice(p + 1);
    const end = after.indexOf(';');
    if (end < 0) fail();
    const ent = after.slice(0, end);
    let ch: string;
    if (ent === 'lt') ch = '<';
    else if (ent === 'gt') ch = '>';
    else if (ent === 'amp') ch = '&';
    else if (ent === 'quot') ch = '"';
    else if (ent === 'apos') ch = "'";
    else {
      let n: number;
      if (ent.startsWith('#x')) {
        const h = ent.slice(2);
        if (h.length === 0 || h.length > 6 || !/^[0-9a-fA-F]+$/.test(h)) fail();
        n = Number.parseInt(h, 16);
      } else if (ent.startsWith('#')) {
        const d = ent.slice(1);
        if (d.length === 0 || d.length > 7 || !/^[0-9]+$/.test(d)) fail();
        n = Number.parseInt(d, 10);
      } else return fail();
      // char::from_u32: no surrogates, nothing above U+10FFFF; and never NUL.
      if (n === 0 || n > 0x10ffff || (n >= 0xd800 && n <= 0xdfff)) fail();
      ch = String.fromCodePoint(n);
    }
    out += ch;
    rest = after.slice(end + 1);
  }
  return out + rest;
}

class Reader {
  i = 0;
  elements = 0;
  constructor(readonly s: string) {}
  peek(): number | undefined {
    return this.i < this.s.length ? this.s.charCodeAt(this.i) : undefined;
  }
  starts(p: string): boolean {
    return this.s.startsWith(p, this.i);
  }
  skipWs(): void {
    while (this.i < this.s.length && isWs(this.s.charCodeAt(this.i))) this.i++;
  }
  skipMisc(prolog: boolean): void {
    if (prolog && this.starts('<?xml')) {
      const end = this.s.indexOf('?>', this.i);
      if (end < 0) fail();
      this.i = end + 2;
    }
    for (;;) {
      this.skipWs();
      if (!this.starts('<!--')) return;
      const end = this.s.indexOf('-->', this.i + 4);
      if (end < 0) fail();
      this.i = end + 3;
    }
  }
  name(): string {
    const start = this.i;
    const c = this.peek();
    if (c === undefined || !isNameStart(c)) fail();
    while (this.i < this.s.length && isNameChar(this.s.charCodeAt(this.i))) this.i++;
    return this.s.slice(start, this.i);
  }
  element(depth: number): Element {
    if (depth > MAX_XML_DEPTH) fail();
    if (++this.elements > MAX_XML_ELEMENTS) fail();
    this.i++;
    const el: Element = { name: this.name(), attrs: [], children: [], text: '' };
    for (;;) {
      const c0 = this.peek();
      const hadWs = c0 !== undefined && isWs(c0);
      this.skipWs();
      const c = this.peek();
      if (c === undefined) fail();
      if (c === 47) {
        if (this.s.charCodeAt(this.i + 1) !== 62) fail();
        this.i += 2;
        return el;
      }
      if (c === 62) {
        this.i++;
        break;
      }
      if (!hadWs) fail();
      const k = this.name();
      this.skipWs();
      if (this.peek() !== 61) fail();
      this.i++;
      this.skipWs();
      const q = this.peek();
      if (q !== 34 && q !== 39) fail();
      this.i++;
      const start = this.i;
      for (;;) {
        const x = this.peek();
        if (x === undefined) fail();
        if (x === q) break;
        if (x === 60) fail();
        this.i++;
      }
      const v = unescapeXml(this.s.slice(start, this.i));
      this.i++;
      if (el.attrs.some(([n]) => n === k)) fail();
      el.attrs.push([k, v]);
    }
    for (;;) {
      const start = this.i;
      const lt = this.s.indexOf('<', this.i);
      this.i = lt < 0 ? this.s.length : lt;
      if (this.i > start) el.text += unescapeXml(this.s.slice(start, this.i));
      if (this.i >= this.s.length) fail();
      if (this.starts('</')) {
        this.i += 2;
        if (this.name() !== el.name) fail();
        this.skipWs();
        if (this.peek() !== 62) fail();
        this.i++;
        return el;
      }
      if (this.starts('<!--')) {
        const end = this.s.indexOf('-->', this.i + 4);
        if (end < 0) fail();
        this.i = end + 3;
      } else if (this.starts('<!') || this.starts('<?')) fail();
      else el.children.push(this.element(depth + 1));
    }
  }
}

/** Parses a document, or undefined when it is not accepted. */
export function parseXml(s: string): Element | undefined {
  try {
    const r = new Reader(s);
    r.skipMisc(true);
    if (r.peek() !== 60) return undefined;
    const root = r.element(1);
    r.skipMisc(false);
    return r.i === s.length ? root : undefined;
  } catch (e) {
    if (e instanceof XmlError || e instanceof RangeError) return undefined;
    throw e;
  }
}
