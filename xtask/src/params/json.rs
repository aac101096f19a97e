//! A small JSON reader that keeps the line and column of every key and value.
//!
//! `serde_json` reports where a syntax error is but not where a value is, and
//! every params diagnostic must point at the offending value. The file is a
//! flat object of strings, so a strict RFC 8259 reader of ~200 lines is enough;
//! it keeps duplicate keys (JSON parsers silently keep the last one, we report
//! them) and never recurses deeper than `MAX_DEPTH`.

use std::fmt;

/// A 1-based line and column; columns count characters, as editors do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    /// Kept as written: params never use numbers, they only name them.
    Number(String),
    String(String),
    Array(Vec<Located>),
    Object(Vec<Member>),
}

impl Value {
    /// "a number", "an array", ...: for messages that say what was found.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Number(_) => "a number",
            Value::String(_) => "a string",
            Value::Array(_) => "an array",
            Value::Object(_) => "an object",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Located {
    pub value: Value,
    pub pos: Pos,
}

/// One `"key": value` pair of an object, in file order (duplicates kept).
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    pub key: String,
    pub key_pos: Pos,
    pub value: Located,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub message: String,
    pub pos: Pos,
}

/// Nesting limit: params files are flat, and a hostile file of a million `[`
/// must not overflow the stack.
const MAX_DEPTH: usize = 64;

/// Parse a whole document: one value surrounded by optional whitespace.
pub fn parse(text: &str) -> Result<Located, SyntaxError> {
    let mut p = Parser {
        chars: text.chars().collect(),
        i: 0,
        line: 1,
        col: 1,
    };
    p.skip_ws();
    if p.peek().is_none() {
        return Err(p.error("the file is empty; expected a JSON object"));
    }
    let value = p.value(0)?;
    p.skip_ws();
    if p.peek().is_some() {
        return Err(p.error("unexpected text after the end of the JSON document"));
    }
    Ok(value)
}

struct Parser {
    chars: Vec<char>,
    i: usize,
    line: usize,
    col: usize,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.i).copied()
    }

    fn pos(&self) -> Pos {
        Pos {
            line: self.line,
            col: self.col,
        }
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.i += 1;
        if c == '\n' {
            self.line += 1;
            self.col = 1;
        } else {
            self.col += 1;
        }
        Some(c)
    }

    fn error(&self, message: impl Into<String>) -> SyntaxError {
        SyntaxError {
            message: message.into(),
            pos: self.pos(),
        }
    }

    fn unexpected(&self, expected: &str) -> SyntaxError {
        match self.peek() {
            None => self.error(format!("unexpected end of file; expected {expected}")),
            Some(c) => self.error(format!("unexpected {}; expected {expected}", describe(c))),
        }
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t' | '\n' | '\r')) {
            self.bump();
        }
    }

    fn value(&mut self, depth: usize) -> Result<Located, SyntaxError> {
        if depth > MAX_DEPTH {
            return Err(self.error(format!("values nested more than {MAX_DEPTH} deep")));
        }
        let pos = self.pos();
        let value = match self.peek() {
            Some('{') => self.object(depth)?,
            Some('[') => self.array(depth)?,
            Some('"') => Value::String(self.string()?),
            Some('t') => self.literal("true", Value::Bool(true))?,
            Some('f') => self.literal("false", Value::Bool(false))?,
            Some('n') => self.literal("null", Value::Null)?,
            Some(c) if c == '-' || c.is_ascii_digit() => self.number()?,
            _ => return Err(self.unexpected("a value")),
        };
        Ok(Located { value, pos })
    }

    fn literal(&mut self, word: &str, value: Value) -> Result<Value, SyntaxError> {
        let start = self.pos();
        for expected in word.chars() {
            if self.peek() != Some(expected) {
                return Err(SyntaxError {
                    message: "invalid literal; expected a value".into(),
                    pos: start,
                });
            }
            self.bump();
        }
        Ok(value)
    }

    fn number(&mut self) -> Result<Value, SyntaxError> {
        let start = self.i;
        if self.peek() == Some('-') {
            self.bump();
        }
        match self.peek() {
            Some('0') => {
                self.bump();
            }
            Some(c) if c.is_ascii_digit() => self.digits(),
            _ => return Err(self.unexpected("a digit")),
        }
        if self.peek() == Some('.') {
            self.bump();
            if !matches!(self.peek(), Some(c) if c.is_ascii_digit()) {
                return Err(self.unexpected("a digit"));
            }
            self.digits();
        }
        if matches!(self.peek(), Some('e' | 'E')) {
            self.bump();
            if matches!(self.peek(), Some('+' | '-')) {
                self.bump();
            }
            if !matches!(self.peek(), Some(c) if c.is_ascii_digit()) {
                return Err(self.unexpected("a digit"));
            }
            self.digits();
        }
        Ok(Value::Number(self.chars[start..self.i].iter().collect()))
    }

    fn digits(&mut self) {
        while matches!(self.peek(), Some(c) if c.is_ascii_digit()) {
            self.bump();
        }
    }

    fn string(&mut self) -> Result<String, SyntaxError> {
        self.bump(); // the opening quote
        let mut out = String::new();
        loop {
            let Some(c) = self.peek() else {
                return Err(self.error("unterminated string"));
            };
            match c {
                '"' => {
                    self.bump();
                    return Ok(out);
                }
                '\\' => {
                    self.bump();
                    out.push(self.escape()?);
                }
                c if (c as u32) < 0x20 => {
                    return Err(self.error(format!("{} inside a string; escape it", describe(c))));
                }
                c => {
                    self.bump();
                    out.push(c);
                }
            }
        }
    }

    fn escape(&mut self) -> Result<char, SyntaxError> {
        let c = match self.peek() {
            Some('"') => '"',
            Some('\\') => '\\',
            Some('/') => '/',
            Some('b') => '\u{8}',
            Some('f') => '\u{c}',
            Some('n') => '\n',
            Some('r') => '\r',
            Some('t') => '\t',
            Some('u') => {
                self.bump();
                return self.unicode_escape();
            }
            _ => return Err(self.unexpected("an escape character (one of \" \\ / b f n r t u)")),
        };
        self.bump();
        Ok(c)
    }

    /// `\uXXXX`, joining a UTF-16 surrogate pair into one character.
    fn unicode_escape(&mut self) -> Result<char, SyntaxError> {
        let start = self.pos();
        let high = self.hex4()?;
        let code = if (0xD800..0xDC00).contains(&high) {
            if self.peek() != Some('\\') || self.chars.get(self.i + 1) != Some(&'u') {
                return Err(SyntaxError {
                    message: "unpaired UTF-16 surrogate in \\u escape".into(),
                    pos: start,
                });
            }
            self.bump();
            self.bump();
            let low = self.hex4()?;
            if !(0xDC00..0xE000).contains(&low) {
                return Err(SyntaxError {
                    message: "unpaired UTF-16 surrogate in \\u escape".into(),
                    pos: start,
                });
            }
            0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)
        } else {
            high
        };
        char::from_u32(code).ok_or_else(|| SyntaxError {
            message: "unpaired UTF-16 surrogate in \\u escape".into(),
            pos: start,
        })
    }

    fn hex4(&mut self) -> Result<u32, SyntaxError> {
        let mut n = 0;
        for _ in 0..4 {
            let Some(d) = self.peek().and_then(|c| c.to_digit(16)) else {
                return Err(self.unexpected("a hexadecimal digit"));
            };
            self.bump();
            n = n * 16 + d;
        }
        Ok(n)
    }

    fn array(&mut self, depth: usize) -> Result<Value, SyntaxError> {
        self.bump();
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek() == Some(']') {
            self.bump();
            return Ok(Value::Array(items));
        }
        loop {
            self.skip_ws();
            items.push(self.value(depth + 1)?);
            self.skip_ws();
            match self.peek() {
                Some(',') => {
                    self.bump();
                }
                Some(']') => {
                    self.bump();
                    return Ok(Value::Array(items));
                }
                _ => return Err(self.unexpected("',' or ']'")),
            }
        }
    }

    fn object(&mut self, depth: usize) -> Result<Value, SyntaxError> {
        self.bump();
        let mut members = Vec::new();
        self.skip_ws();
        if self.peek() == Some('}') {
            self.bump();
            return Ok(Value::Object(members));
        }
        loop {
            self.skip_ws();
            if self.peek() != Some('"') {
                // A trailing comma is the most common hand-editing slip: say so.
                let hint = if self.peek() == Some('}') {
                    " (trailing commas are not allowed)"
                } else {
                    ""
                };
                let mut err = self.unexpected("a key in double quotes");
                err.message.push_str(hint);
                return Err(err);
            }
            let key_pos = self.pos();
            let key = self.string()?;
            self.skip_ws();
            if self.peek() != Some(':') {
                return Err(self.unexpected("':' after the key"));
            }
            self.bump();
            self.skip_ws();
            let value = self.value(depth + 1)?;
            members.push(Member {
                key,
                key_pos,
                value,
            });
            self.skip_ws();
            match self.peek() {
                Some(',') => {
                    self.bump();
                }
                Some('}') => {
                    self.bump();
                    return Ok(Value::Object(members));
                }
                _ => return Err(self.unexpected("',' or '}'")),
            }
        }
    }
}

fn describe(c: char) -> String {
    if c.is_control() {
        format!("control character U+{:04X}", c as u32)
    } else {
        format!("'{c}'")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        match parse(text) {
            Ok(v) => panic!("expected an error for {text:?}, got {v:?}"),
            Err(e) => format!("{}: {}", e.pos, e.message),
        }
    }

    #[test]
    fn records_key_and_value_positions() {
        let doc = parse("{\n  \"a\": \"x\",\n\t\"bé\" :  [1, true, null]\n}").unwrap();
        let Value::Object(members) = doc.value else {
            panic!("not an object")
        };
        assert_eq!(members[0].key, "a");
        assert_eq!(members[0].key_pos, Pos { line: 2, col: 3 });
        assert_eq!(members[0].value.pos, Pos { line: 2, col: 8 });
        assert_eq!(members[1].key, "bé");
        assert_eq!(members[1].key_pos, Pos { line: 3, col: 2 });
        // Columns count characters, so the `é` is one column.
        assert_eq!(members[1].value.pos, Pos { line: 3, col: 10 });
        assert_eq!(members[1].value.value.kind(), "an array");
    }

    #[test]
    fn decodes_escapes() {
        let doc = parse(r#""a\"b\\c\/\n\u00e9\ud83d\ude00""#).unwrap();
        assert_eq!(doc.value, Value::String("a\"b\\c/\né😀".into()));
    }

    #[test]
    fn keeps_duplicate_keys() {
        let doc = parse(r#"{"a": "1", "a": "2"}"#).unwrap();
        let Value::Object(members) = doc.value else {
            panic!("not an object")
        };
        assert_eq!(members.len(), 2);
    }

    #[test]
    fn numbers() {
        for n in ["0", "-1", "3.25", "1e9", "-0.5E-3"] {
            assert_eq!(parse(n).unwrap().value, Value::Number(n.into()), "{n}");
        }
        assert_eq!(
            err("01"),
            "1:2: unexpected text after the end of the JSON document"
        );
        assert_eq!(err("1."), "1:3: unexpected end of file; expected a digit");
        assert_eq!(err("-"), "1:2: unexpected end of file; expected a digit");
    }

    #[test]
    fn syntax_errors_are_located() {
        assert_eq!(err(""), "1:1: the file is empty; expected a JSON object");
        assert_eq!(
            err(" \n "),
            "2:2: the file is empty; expected a JSON object"
        );
        assert_eq!(
            err("{\n  \"a\": \"x\",\n}"),
            "3:1: unexpected '}'; expected a key in double quotes (trailing commas are not allowed)"
        );
        assert_eq!(
            err("{\"a\" \"x\"}"),
            "1:6: unexpected '\"'; expected ':' after the key"
        );
        assert_eq!(
            err("{\"a\": \"x\""),
            "1:10: unexpected end of file; expected ',' or '}'"
        );
        assert_eq!(err("{\"a\": \"x"), "1:9: unterminated string");
        assert_eq!(
            err("{\"a\": tru}"),
            "1:7: invalid literal; expected a value"
        );
        assert_eq!(
            err("{'a': 1}"),
            "1:2: unexpected '''; expected a key in double quotes"
        );
        assert_eq!(
            err("\"a\tb\""),
            "1:3: control character U+0009 inside a string; escape it"
        );
        assert_eq!(
            err("\"\\x\""),
            "1:3: unexpected 'x'; expected an escape character (one of \" \\ / b f n r t u)"
        );
        assert_eq!(
            err("\"\\ud800\""),
            "1:4: unpaired UTF-16 surrogate in \\u escape"
        );
        assert_eq!(
            err("{} {}"),
            "1:4: unexpected text after the end of the JSON document"
        );
        assert_eq!(err("[1 2]"), "1:4: unexpected '2'; expected ',' or ']'");
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let text = "[".repeat(100_000);
        assert!(err(&text).contains("nested more than 64 deep"));
    }

    #[test]
    fn agrees_with_serde_json_on_what_parses() {
        // The reader must accept exactly what a standard parser accepts, or the
        // schema check (run on serde_json's parse) and ours would disagree.
        let samples = [
            "{}",
            "[]",
            "{\"a\":[1,{\"b\":null}]}",
            "{\"a\":1,}",
            "[1,]",
            "{,}",
            "\"\\u12\"",
            "1 2",
            "tru",
            "-01",
            ".5",
            "1e",
            "\"\u{7f}\"",
            "  {\"k\" : \"v\" }  ",
            "{\"a\":\"b\"}x",
            "nul",
            "[[[]]]",
        ];
        for s in samples {
            assert_eq!(
                parse(s).is_ok(),
                serde_json::from_str::<serde_json::Value>(s).is_ok(),
                "{s:?}"
            );
        }
    }
}
