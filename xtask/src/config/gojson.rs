//! The words Go's `encoding/json` uses for a file that is no JSON, so that a
//! broken `variable-overrides.json` is reported as the Databricks CLI reports
//! it. The CLI reads that file token by token (`libs/dyn/jsonloader`: a
//! `json.Decoder`'s `Token` and `More`), so its texts are those of the
//! decoder's token states (`stream.go`: "after object key", ...) and, inside
//! a string, number or literal, of its scanner (`scanner.go`: "in literal
//! false (expecting 'a')", ...), and its position is where the decoder stood
//! (`InputOffset`), not the byte at fault. Written from those rules, not
//! from Go's code; `serde_json` still reads the value once this finds the
//! file well formed.

/// Why Go's decoder stops, and where.
#[derive(Debug, PartialEq)]
pub struct Syntax {
    /// Go's text, e.g. `invalid character 'o' in literal false (expecting 'a')`.
    pub message: String,
    /// Where the decoder stood (`Decoder.InputOffset`): what the CLI names.
    pub go_offset: usize,
    /// The byte at fault (the end of the input when it ends too early).
    pub at: usize,
}

/// The decoder's position between tokens (`tokenState` in `stream.go`).
#[derive(Debug, Clone, Copy, PartialEq)]
enum St {
    Top,
    ArrStart,
    ArrValue,
    ArrComma,
    ObjStart,
    ObjKey,
    ObjColon,
    ObjValue,
    ObjComma,
}

impl St {
    fn value_allowed(self) -> bool {
        matches!(self, St::Top | St::ArrStart | St::ArrValue | St::ObjValue)
    }

    /// After a value: a comma is next.
    fn value_end(self) -> St {
        match self {
            St::ArrStart | St::ArrValue => St::ArrComma,
            St::ObjValue => St::ObjComma,
            other => other,
        }
    }

    /// What Go adds to "invalid character 'c'" for a token out of place
    /// (nothing right after `{`).
    fn context(self) -> &'static str {
        match self {
            St::Top | St::ArrStart | St::ArrValue | St::ObjValue => {
                " looking for beginning of value"
            }
            St::ArrComma => " after array element",
            St::ObjKey => " looking for beginning of object key string",
            St::ObjColon => " after object key",
            St::ObjComma => " after object key:value pair",
            St::ObjStart => "",
        }
    }
}

/// `Ok(end)`: `b` holds one JSON value, in `b[..end]`; what follows is
/// space, or a `]` or `}` that Go's reader stops before (the CLI accepts
/// such a file). `Err`: Go's text for the first problem.
pub fn check(b: &[u8]) -> Result<usize, Syntax> {
    let mut st = St::Top;
    let mut stack: Vec<St> = Vec::new();
    let mut p = 0;
    loop {
        let Some(c) = peek(b, &mut p) else {
            return Err(Syntax {
                message: "unexpected end of JSON input".into(),
                go_offset: p,
                at: b.len(),
            });
        };
        let closes = match c {
            b'[' | b'{' if st.value_allowed() => {
                stack.push(st);
                st = if c == b'[' {
                    St::ArrStart
                } else {
                    St::ObjStart
                };
                p += 1;
                false
            }
            b']' if matches!(st, St::ArrStart | St::ArrComma) => true,
            b'}' if matches!(st, St::ObjStart | St::ObjComma) => true,
            b':' if st == St::ObjColon => {
                st = St::ObjValue;
                p += 1;
                false
            }
            b',' if matches!(st, St::ArrComma | St::ObjComma) => {
                st = if st == St::ArrComma {
                    St::ArrValue
                } else {
                    St::ObjKey
                };
                p += 1;
                false
            }
            b'"' if matches!(st, St::ObjStart | St::ObjKey) => {
                p = scalar(b, p)?;
                st = St::ObjColon;
                false
            }
            b'[' | b'{' | b']' | b'}' | b':' | b',' => return Err(out_of_place(c, st, p)),
            _ if !st.value_allowed() => return Err(out_of_place(c, st, p)),
            _ => {
                p = scalar(b, p)?;
                st = st.value_end();
                if stack.is_empty() {
                    break;
                }
                false
            }
        };
        if closes {
            p += 1;
            st = stack.pop().unwrap_or(St::Top).value_end();
            if stack.is_empty() {
                break;
            }
        }
    }
    let end = p;
    match peek(b, &mut p) {
        None | Some(b']' | b'}') => Ok(end),
        Some(_) => Err(Syntax {
            message: "unexpected additional content".into(),
            go_offset: p,
            at: p,
        }),
    }
}

/// The next byte that is no space, moving `p` to it (only when there is one,
/// as Go's `peek`).
fn peek(b: &[u8], p: &mut usize) -> Option<u8> {
    let i = *p
        + b[*p..]
            .iter()
            .position(|c| !matches!(c, b' ' | b'\t' | b'\r' | b'\n'))?;
    *p = i;
    Some(b[i])
}

fn out_of_place(c: u8, st: St, p: usize) -> Syntax {
    Syntax {
        message: format!("invalid character {}{}", quote(c), st.context()),
        go_offset: p,
        at: p,
    }
}

/// One string, number or literal from `s` (its first byte no space and no
/// delimiter), as Go's scanner reads it: its end, or Go's error (the
/// decoder then still stands at `s`).
fn scalar(b: &[u8], s: usize) -> Result<usize, Syntax> {
    let fail = |at: usize, context: &str| match b.get(at) {
        Some(&c) => Syntax {
            message: format!("invalid character {} {context}", quote(c)),
            go_offset: s,
            at,
        },
        None => Syntax {
            message: "unexpected EOF".into(),
            go_offset: s,
            at: b.len(),
        },
    };
    let end = match b[s] {
        b'"' => string_end(b, s + 1).map_err(|(at, why)| fail(at, why))?,
        b'-' | b'0'..=b'9' => {
            let end = number_end(b, s).map_err(|(at, why)| fail(at, why))?;
            // Into Go's `any`, a number is a float64: one out of its range fails.
            let text = std::str::from_utf8(&b[s..end]).unwrap_or("");
            if text.parse::<f64>().is_ok_and(f64::is_infinite) {
                return Err(Syntax {
                    message: format!(
                        "json: cannot unmarshal number {text} into Go value of type float64"
                    ),
                    go_offset: end,
                    at: s,
                });
            }
            end
        }
        c @ (b't' | b'f' | b'n') => {
            let word: &[u8] = match c {
                b't' => b"true",
                b'f' => b"false",
                _ => b"null",
            };
            for (i, &want) in word.iter().enumerate().skip(1) {
                if b.get(s + i) != Some(&want) {
                    let name = std::str::from_utf8(word).unwrap_or("");
                    let why = format!("in literal {name} (expecting '{}')", want as char);
                    return Err(fail(s + i, &why));
                }
            }
            s + word.len()
        }
        _ => return Err(fail(s, "looking for beginning of value")),
    };
    Ok(end)
}

/// From inside a string: the byte after its closing quote.
fn string_end(b: &[u8], mut i: usize) -> Result<usize, (usize, &'static str)> {
    loop {
        match b.get(i) {
            None => return Err((i, "")),
            Some(b'"') => return Ok(i + 1),
            Some(b'\\') => match b.get(i + 1) {
                Some(b'b' | b'f' | b'n' | b'r' | b't' | b'\\' | b'/' | b'"') => i += 2,
                Some(b'u') => {
                    for j in i + 2..i + 6 {
                        if !b.get(j).is_some_and(u8::is_ascii_hexdigit) {
                            return Err((j, "in \\u hexadecimal character escape"));
                        }
                    }
                    i += 6;
                }
                _ => return Err((i + 1, "in string escape code")),
            },
            Some(&c) if c < 0x20 => return Err((i, "in string literal")),
            Some(_) => i += 1,
        }
    }
}

/// From a number's first byte: the byte after it.
fn number_end(b: &[u8], mut i: usize) -> Result<usize, (usize, &'static str)> {
    let digit = |i: usize| b.get(i).is_some_and(u8::is_ascii_digit);
    let digits = |mut i: usize| {
        while digit(i) {
            i += 1;
        }
        i
    };
    if b[i] == b'-' {
        i += 1;
        if !digit(i) {
            return Err((i, "in numeric literal"));
        }
    }
    // A leading zero stands alone: `01` is the number 0, then a `1`.
    i = if b[i] == b'0' { i + 1 } else { digits(i) };
    if b.get(i) == Some(&b'.') {
        if !digit(i + 1) {
            return Err((i + 1, "after decimal point in numeric literal"));
        }
        i = digits(i + 1);
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if !digit(i) {
            return Err((i, "in exponent of numeric literal"));
        }
        i = digits(i);
    }
    Ok(i)
}

/// A byte as Go's `quoteChar` writes it: the byte taken as the code point
/// U+00XX, quoted as `strconv.Quote` quotes it, between single quotes.
fn quote(c: u8) -> String {
    let inner = match c {
        b'\'' => "\\'".to_string(),
        b'\\' => "\\\\".to_string(),
        0x07 => "\\a".into(),
        0x08 => "\\b".into(),
        0x0c => "\\f".into(),
        b'\n' => "\\n".into(),
        b'\r' => "\\r".into(),
        b'\t' => "\\t".into(),
        0x0b => "\\v".into(),
        0x00..=0x1f | 0x7f => format!("\\x{c:02x}"),
        // Not printable to Go: C1 controls, no-break space, soft hyphen.
        0x80..=0xa0 | 0xad => format!("\\u{c:04x}"),
        _ => (c as char).to_string(),
    };
    format!("'{inner}'")
}

/// The bytes before `offset`, where their last line starts, and its number
/// (1-based).
fn line_of(b: &[u8], offset: usize) -> (&[u8], usize, usize) {
    let before = &b[..offset.min(b.len())];
    let line_start = before
        .iter()
        .rposition(|&c| c == b'\n')
        .map_or(0, |i| i + 1);
    let line = 1 + before.iter().filter(|&&c| c == b'\n').count();
    (before, line_start, line)
}

/// Line and column (1-based, in bytes, as the CLI counts them) of `offset`.
pub fn go_position(b: &[u8], offset: usize) -> (usize, usize) {
    let (_, line_start, line) = line_of(b, offset);
    (line, offset - line_start + 1)
}

/// Line and column (1-based, the column in characters) of `offset`: where
/// this tool points.
pub fn position(b: &[u8], offset: usize) -> (usize, usize) {
    let (before, line_start, line) = line_of(b, offset);
    let col = before[line_start..]
        .iter()
        .filter(|&&c| c & 0xc0 != 0x80)
        .count();
    (line, col + 1)
}

/// `text` (JSON that [`check`] passed) with each `\\u` escape of a UTF-16
/// surrogate that is not half of a pair written `\\ufffd`, as Go's decoder
/// reads it (U+FFFD), where serde_json refuses the document.
pub fn lone_surrogates_replaced(text: &str) -> std::borrow::Cow<'_, str> {
    let b = text.as_bytes();
    let unit = |i: usize| -> Option<u16> {
        let hex = b.get(i..i + 6)?;
        (hex[0] == b'\\' && hex[1] == b'u')
            .then(|| std::str::from_utf8(&hex[2..]).ok())
            .flatten()
            .and_then(|h| u16::from_str_radix(h, 16).ok())
    };
    let mut out = String::new();
    let (mut i, mut copied, mut in_string) = (0, 0, false);
    while i < b.len() {
        match b[i] {
            b'"' => in_string = !in_string,
            b'\\' if in_string => {
                let Some(u) = unit(i).filter(|u| (0xD800..0xE000).contains(u)) else {
                    i += 2;
                    continue;
                };
                let low = unit(i + 6).filter(|l| (0xDC00..0xE000).contains(l));
                if u < 0xDC00 && low.is_some() {
                    i += 12;
                    continue;
                }
                out.push_str(&text[copied..i]);
                out.push_str("\\ufffd");
                i += 6;
                copied = i;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    // Nothing replaced: nothing copied.
    if copied == 0 {
        return std::borrow::Cow::Borrowed(text);
    }
    out.push_str(&text[copied..]);
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// As Go's `encoding/json` reads them: a pair is kept, each lone half
    /// (high or low, at the end or before another escape) is U+FFFD, and an
    /// escaped backslash before `u` is no escape.
    #[test]
    fn lone_surrogates_read_as_go_reads_them() {
        let read = |t: &str| -> serde_json::Value {
            serde_json::from_str(&lone_surrogates_replaced(t)).unwrap()
        };
        assert_eq!(read(r#""\ud83d\ude00""#), "\u{1F600}");
        assert_eq!(read(r#"{"a": "x\ud800"}"#)["a"], "x\u{FFFD}");
        assert_eq!(read(r#""\udc00\u0041""#), "\u{FFFD}A");
        assert_eq!(read(r#""\ud800\ud83d\ude00""#), "\u{FFFD}\u{1F600}");
        assert_eq!(read(r#""\\ud800""#), "\\ud800");
        assert!(matches!(
            lone_surrogates_replaced(r#"{"k": "\u0041"}"#),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    /// Ours as the CLI prints it after "error decoding JSON at <file>:", or `OK`.
    fn go_text(input: &[u8]) -> String {
        match check(input) {
            Ok(_) => "OK".into(),
            Err(e) => {
                let (line, col) = go_position(input, e.go_offset);
                format!("{line}:{col}: {}", e.message)
            }
        }
    }

    /// Each expected text is what the Databricks CLI v0.298.0's
    /// `jsonloader.LoadJSON` (Go 1.26's `encoding/json`) returned for the
    /// input, printed by a throwaway Go program (not kept: it needs the
    /// CLI's module).
    #[test]
    fn go_gives_these_texts() {
        let table: &[(&[u8], &str)] = &[
            (
                b"foo",
                "1:1: invalid character 'o' in literal false (expecting 'a')",
            ),
            (b"", "1:1: unexpected end of JSON input"),
            (b"  \n", "1:1: unexpected end of JSON input"),
            (b"{", "1:2: unexpected end of JSON input"),
            (b"[", "1:2: unexpected end of JSON input"),
            (b"{}", "OK"),
            (b"[]", "OK"),
            (b"{\"a\": 1}", "OK"),
            (b"{\"a\":1}}", "OK"),
            (b"{\"a\":1}]", "OK"),
            (b"[1]]", "OK"),
            (b"[1]x", "1:4: unexpected additional content"),
            (b"tru", "1:1: unexpected EOF"),
            (
                b"trux",
                "1:1: invalid character 'x' in literal true (expecting 'e')",
            ),
            (b"true", "OK"),
            (b"fals", "1:1: unexpected EOF"),
            (
                b"fa1se",
                "1:1: invalid character '1' in literal false (expecting 'l')",
            ),
            (b"nul", "1:1: unexpected EOF"),
            (
                b"nulx",
                "1:1: invalid character 'x' in literal null (expecting 'l')",
            ),
            (
                b"nx",
                "1:1: invalid character 'x' in literal null (expecting 'u')",
            ),
            (
                b"truE",
                "1:1: invalid character 'E' in literal true (expecting 'e')",
            ),
            (b"{\"a\" 1}", "1:6: invalid character '1' after object key"),
            (
                b"{\"a\":1 \"b\":2}",
                "1:8: invalid character '\"' after object key:value pair",
            ),
            (b"{,}", "1:2: invalid character ','"),
            (b"{]", "1:2: invalid character ']'"),
            (
                b"{\"a\":}",
                "1:6: invalid character '}' looking for beginning of value",
            ),
            (
                b"{\"a\"::1}",
                "1:6: invalid character ':' looking for beginning of value",
            ),
            (
                b"{\"a\":1:",
                "1:7: invalid character ':' after object key:value pair",
            ),
            (b"{1:2}", "1:2: invalid character '1'"),
            (
                b"{\"a\":1,1:2}",
                "1:8: invalid character '1' looking for beginning of object key string",
            ),
            (
                b"{\"a\":1,}",
                "1:8: invalid character '}' looking for beginning of object key string",
            ),
            (
                b"[1,]",
                "1:4: invalid character ']' looking for beginning of value",
            ),
            (b"[1 2]", "1:4: invalid character '2' after array element"),
            (
                b"[,]",
                "1:2: invalid character ',' looking for beginning of value",
            ),
            (
                b"[}",
                "1:2: invalid character '}' looking for beginning of value",
            ),
            (
                b"{\"a\":[1,2}",
                "1:10: invalid character '}' after array element",
            ),
            (
                b"{\"a\":{\"b\":1]}",
                "1:12: invalid character ']' after object key:value pair",
            ),
            (
                b"]",
                "1:1: invalid character ']' looking for beginning of value",
            ),
            (
                b"}",
                "1:1: invalid character '}' looking for beginning of value",
            ),
            (
                b",",
                "1:1: invalid character ',' looking for beginning of value",
            ),
            (
                b":",
                "1:1: invalid character ':' looking for beginning of value",
            ),
            (
                b"x",
                "1:1: invalid character 'x' looking for beginning of value",
            ),
            (
                b"+1",
                "1:1: invalid character '+' looking for beginning of value",
            ),
            (
                b".5",
                "1:1: invalid character '.' looking for beginning of value",
            ),
            (b"-", "1:1: unexpected EOF"),
            (b"-x", "1:1: invalid character 'x' in numeric literal"),
            (b"1.", "1:1: unexpected EOF"),
            (
                b"1.x",
                "1:1: invalid character 'x' after decimal point in numeric literal",
            ),
            (b"1e", "1:1: unexpected EOF"),
            (b"1e+", "1:1: unexpected EOF"),
            (
                b"1ex",
                "1:1: invalid character 'x' in exponent of numeric literal",
            ),
            (
                b"1e+x",
                "1:1: invalid character 'x' in exponent of numeric literal",
            ),
            (b"01", "1:2: unexpected additional content"),
            (b"-01", "1:3: unexpected additional content"),
            (
                b"1e400",
                "1:6: json: cannot unmarshal number 1e400 into Go value of type float64",
            ),
            (
                b"-1e400",
                "1:7: json: cannot unmarshal number -1e400 into Go value of type float64",
            ),
            (b"1e-400", "OK"),
            (
                b"{\"a\": 1e400}",
                "1:12: json: cannot unmarshal number 1e400 into Go value of type float64",
            ),
            (
                b"[1, 2e999 ]",
                "1:10: json: cannot unmarshal number 2e999 into Go value of type float64",
            ),
            (b"\"abc", "1:1: unexpected EOF"),
            (b"\"a\\", "1:1: unexpected EOF"),
            (
                b"\"a\\x\"",
                "1:1: invalid character 'x' in string escape code",
            ),
            (
                b"\"a\\u12\"",
                "1:1: invalid character '\"' in \\u hexadecimal character escape",
            ),
            (
                b"\"a\\u12g4\"",
                "1:1: invalid character 'g' in \\u hexadecimal character escape",
            ),
            (b"\"a\\u", "1:1: unexpected EOF"),
            (
                b"\"a\nb\"",
                "1:1: invalid character '\\n' in string literal",
            ),
            (
                b"\"a\tb\"",
                "1:1: invalid character '\\t' in string literal",
            ),
            (b"\"\\ud800\"", "OK"),
            (b"{\"a", "1:2: unexpected EOF"),
            (
                b"{\"a\\q\": 1}",
                "1:2: invalid character 'q' in string escape code",
            ),
            (b"{\"a\":\"b", "1:6: unexpected EOF"),
            (
                b"{\"a\": tru}",
                "1:7: invalid character '}' in literal true (expecting 'e')",
            ),
            (
                b"{\"a\": true, \"b\": nul}",
                "1:18: invalid character '}' in literal null (expecting 'l')",
            ),
            (
                b"{\n  \"a\": 1,\n  \"b\": x\n}",
                "3:8: invalid character 'x' looking for beginning of value",
            ),
            (
                b"{\n  \"a\": 1\n  \"b\": 2\n}\n",
                "3:3: invalid character '\"' after object key:value pair",
            ),
            (b"\n\n  {\"a\": 1,\n", "3:11: unexpected end of JSON input"),
            (
                b"{\"a\":1}\n{\"b\":2}",
                "2:1: unexpected additional content",
            ),
            (b"{\"a\":1} 5", "1:9: unexpected additional content"),
            (
                b"\xef\xbb\xbf{}",
                "1:1: invalid character 'ï' looking for beginning of value",
            ),
            (b"{\"a\": \"\xff\"}", "OK"),
            (
                b"\xc3\xa9",
                "1:1: invalid character 'Ã' looking for beginning of value",
            ),
            (
                b"\x00",
                "1:1: invalid character '\\x00' looking for beginning of value",
            ),
            (
                b"\x7f",
                "1:1: invalid character '\\x7f' looking for beginning of value",
            ),
            (
                b"\x80",
                "1:1: invalid character '\\u0080' looking for beginning of value",
            ),
            (
                b"\xa0",
                "1:1: invalid character '\\u00a0' looking for beginning of value",
            ),
            (
                b"\xad",
                "1:1: invalid character '\\u00ad' looking for beginning of value",
            ),
            (
                b"\xa1",
                "1:1: invalid character '¡' looking for beginning of value",
            ),
            (
                b"\x01",
                "1:1: invalid character '\\x01' looking for beginning of value",
            ),
            (
                b"\x07",
                "1:1: invalid character '\\a' looking for beginning of value",
            ),
            (
                b"\x0b",
                "1:1: invalid character '\\v' looking for beginning of value",
            ),
            (
                b"\\",
                "1:1: invalid character '\\\\' looking for beginning of value",
            ),
            (
                b"'",
                "1:1: invalid character '\\'' looking for beginning of value",
            ),
            (b"{\"a\":\n", "1:6: unexpected end of JSON input"),
            (b"[[[[", "1:5: unexpected end of JSON input"),
            (b"[1,[2,[3]]", "1:11: unexpected end of JSON input"),
            (b"{\"a\":{\"b\":{\"c\":1}}}", "OK"),
            (b"\"x\"", "OK"),
            (b"  \"x\"  ]", "OK"),
            (
                b"{\"\xc3\xa9\": tx}",
                "1:8: invalid character 'x' in literal true (expecting 'r')",
            ),
            (b"{\"a\":1,\"a\":2}", "OK"),
            (b"{\"a\" : 1 , \"b\" : [ true , false , null ] }", "OK"),
        ];
        let wrong: Vec<String> = table
            .iter()
            .filter(|(input, want)| go_text(input) != *want)
            .map(|(input, want)| {
                format!(
                    "{:?}: want {want:?}, got {:?}",
                    String::from_utf8_lossy(input),
                    go_text(input)
                )
            })
            .collect();
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn a_value_ends_before_a_closer_go_stops_at() {
        assert_eq!(check(b"{\"a\":1}}"), Ok(7));
        assert_eq!(check(b" [1] \n"), Ok(4));
    }

    #[test]
    fn our_place_is_the_byte_at_fault_in_characters() {
        let input = "{\"é\": tx}".as_bytes();
        let e = check(input).unwrap_err();
        assert_eq!(
            (go_position(input, e.go_offset), position(input, e.at)),
            ((1, 8), (1, 8))
        );
        let e = check(b"{\n  \"a\": [1,\n").unwrap_err();
        assert_eq!(position(b"{\n  \"a\": [1,\n", e.at), (3, 1));
    }

    #[test]
    fn deep_nesting_is_no_recursion() {
        let deep = "[".repeat(100_000);
        assert_eq!(
            go_text(deep.as_bytes()),
            "1:100001: unexpected end of JSON input"
        );
    }
}
