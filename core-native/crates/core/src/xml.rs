//! A deliberately small XML reader for Braintree webhook payloads (`<notification>…`), mirrored
//! exactly by `src/xml.ts`. It reads elements, attributes, text and the five named plus numeric
//! character references; it skips the prolog and comments; it rejects DOCTYPE (no entity
//! expansion, so no billion-laughs or external entities), CDATA and processing instructions, and
//! bounds depth and element count. Not a general XML parser.

pub const MAX_XML_DEPTH: usize = 32;
pub const MAX_XML_ELEMENTS: usize = 4096;

#[derive(Debug, Default, Clone, PartialEq)]
pub struct Element {
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub children: Vec<Element>,
    /// Concatenated character data directly inside this element.
    pub text: String,
}

impl Element {
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    /// Text of a leaf child, trimmed of XML whitespace; `None` when absent or `nil="true"`.
    pub fn child_text(&self, name: &str) -> Option<&str> {
        self.child_raw_text(name)
            .map(|t| t.trim_matches(is_xml_ws_char))
    }

    /// The text of a child element exactly as written (no whitespace trimmed); `None` when absent
    /// or `nil="true"`.
    pub fn child_raw_text(&self, name: &str) -> Option<&str> {
        let c = self.child(name)?;
        if c.attr("nil") == Some("true") {
            return None;
        }
        Some(&c.text)
    }
}

fn is_xml_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}
fn is_xml_ws_char(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}
fn is_name_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}
fn is_name_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':')
}

struct Reader<'a> {
    s: &'a str,
    b: &'a [u8],
    i: usize,
    elements: usize,
}

#[derive(Debug)]
pub struct XmlError;

type R<T> = Result<T, XmlError>;

pub fn parse(s: &str) -> Result<Element, XmlError> {
    let mut r = Reader {
        s,
        b: s.as_bytes(),
        i: 0,
        elements: 0,
    };
    r.skip_misc(true)?;
    if r.peek() != Some(b'<') {
        return Err(XmlError);
    }
    let root = r.element(1)?;
    r.skip_misc(false)?;
    if r.i != r.b.len() {
        return Err(XmlError);
    }
    Ok(root)
}

impl Reader<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }
    fn starts(&self, p: &str) -> bool {
        self.b[self.i..].starts_with(p.as_bytes())
    }
    fn skip_ws(&mut self) {
        while self.i < self.b.len() && is_xml_ws(self.b[self.i]) {
            self.i += 1;
        }
    }
    /// Whitespace and comments; the XML declaration only at the very start.
    fn skip_misc(&mut self, prolog: bool) -> R<()> {
        if prolog && self.starts("<?xml") {
            let end = self.s[self.i..].find("?>").ok_or(XmlError)?;
            self.i += end + 2;
        }
        loop {
            self.skip_ws();
            if self.starts("<!--") {
                let end = self.s[self.i + 4..].find("-->").ok_or(XmlError)?;
                self.i += 4 + end + 3;
            } else {
                return Ok(());
            }
        }
    }
    fn name(&mut self) -> R<&str> {
        let start = self.i;
        if !self.peek().is_some_and(is_name_start) {
            return Err(XmlError);
        }
        while self.peek().is_some_and(is_name_char) {
            self.i += 1;
        }
        Ok(&self.s[start..self.i])
    }
    fn element(&mut self, depth: usize) -> R<Element> {
        if depth > MAX_XML_DEPTH {
            return Err(XmlError);
        }
        self.elements += 1;
        if self.elements > MAX_XML_ELEMENTS {
            return Err(XmlError);
        }
        self.i += 1; // '<'
        let name = self.name()?.to_owned();
        let mut el = Element {
            name,
            ..Default::default()
        };
        loop {
            let had_ws = self.peek().is_some_and(is_xml_ws);
            self.skip_ws();
            match self.peek().ok_or(XmlError)? {
                b'/' => {
                    if self.b.get(self.i + 1) != Some(&b'>') {
                        return Err(XmlError);
                    }
                    self.i += 2;
                    return Ok(el);
                }
                b'>' => {
                    self.i += 1;
                    break;
                }
                _ if had_ws => {
                    let k = self.name()?.to_owned();
                    self.skip_ws();
                    if self.peek() != Some(b'=') {
                        return Err(XmlError);
                    }
                    self.i += 1;
                    self.skip_ws();
                    let q = self.peek().ok_or(XmlError)?;
                    if q != b'"' && q != b'\'' {
                        return Err(XmlError);
                    }
                    self.i += 1;
                    let start = self.i;
                    while self.peek().ok_or(XmlError)? != q {
                        if self.b[self.i] == b'<' {
                            return Err(XmlError);
                        }
                        self.i += 1;
                    }
                    let v = unescape(&self.s[start..self.i])?;
                    self.i += 1;
                    if el.attrs.iter().any(|(n, _)| *n == k) {
                        return Err(XmlError);
                    }
                    el.attrs.push((k, v));
                }
                _ => return Err(XmlError),
            }
        }
        // Content.
        loop {
            let start = self.i;
            while self.i < self.b.len() && self.b[self.i] != b'<' {
                self.i += 1;
            }
            if self.i > start {
                el.text.push_str(&unescape(&self.s[start..self.i])?);
            }
            if self.i >= self.b.len() {
                return Err(XmlError);
            }
            if self.starts("</") {
                self.i += 2;
                let close = self.name()?;
                if close != el.name {
                    return Err(XmlError);
                }
                self.skip_ws();
                if self.peek() != Some(b'>') {
                    return Err(XmlError);
                }
                self.i += 1;
                return Ok(el);
            } else if self.starts("<!--") {
                let end = self.s[self.i + 4..].find("-->").ok_or(XmlError)?;
                self.i += 4 + end + 3;
            } else if self.starts("<!") || self.starts("<?") {
                return Err(XmlError);
            } else {
                let child = self.element(depth + 1)?;
                el.children.push(child);
            }
        }
    }
}

fn unescape(s: &str) -> R<String> {
    if !s.contains('&') {
        return Ok(s.to_owned());
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(p) = rest.find('&') {
        out.push_str(&rest[..p]);
        let after = &rest[p + 1..];
        let end = after.find(';').ok_or(XmlError)?;
        let ent = &after[..end];
        let ch = match ent {
            "lt" => '<',
            "gt" => '>',
            "amp" => '&',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let n = if let Some(h) = ent.strip_prefix("#x") {
                    if h.is_empty() || h.len() > 6 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
                        return Err(XmlError);
                    }
                    u32::from_str_radix(h, 16).map_err(|_| XmlError)?
                } else if let Some(d) = ent.strip_prefix('#') {
                    if d.is_empty() || d.len() > 7 || !d.bytes().all(|b| b.is_ascii_digit()) {
                        return Err(XmlError);
                    }
                    d.parse::<u32>().map_err(|_| XmlError)?
                } else {
                    return Err(XmlError);
                };
                match char::from_u32(n) {
                    Some(c) if n != 0 => c,
                    _ => return Err(XmlError),
                }
            }
        };
        out.push(ch);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_braintree_shape() {
        let x = "<?xml version=\"1.0\"?>\n<notification>\n <timestamp type=\"datetime\">2026-01-01T00:00:00Z</timestamp>\n <kind>check</kind><subject><check type=\"boolean\">true</check><x nil=\"true\"/></subject><!-- c --></notification>\n";
        let n = parse(x).unwrap();
        assert_eq!(n.name, "notification");
        assert_eq!(n.child_text("kind"), Some("check"));
        assert_eq!(n.child("timestamp").unwrap().attr("type"), Some("datetime"));
        assert_eq!(n.child("subject").unwrap().child_text("x"), None);
    }

    #[test]
    fn entities_and_rejections() {
        let n = parse("<a b='&lt;&#65;&#x42;'>&amp;&quot;&apos;&gt;</a>").unwrap();
        assert_eq!(n.attr("b"), Some("<AB"));
        assert_eq!(n.text, "&\"'>");
        for bad in [
            "<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>",
            "<a><![CDATA[x]]></a>",
            "<a>&unknown;</a>",
            "<a>&#0;</a>",
            "<a>&#xD800;</a>",
            "<a></b>",
            "<a>",
            "<a/><b/>",
            "<a x='1' x='2'/>",
            "<a x='1'y='2'/>",
            "text",
            "",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        let deep = "<a>".repeat(40) + &"</a>".repeat(40);
        assert!(parse(&deep).is_err());
    }
}
