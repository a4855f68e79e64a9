//! One line of a scenario script split into words (docs/scenarios.md, "Format").
//!
//! Words are separated by whitespace; `#` starts a comment; `=>` separates the step from its
//! expectation. Inside `"..."` whitespace, `#`, `=` and `=>` are literal and backslashes are
//! just backslashes. `{U+XXXX}` (1 to 6 hex digits) stands for that character, quoted or not,
//! and is always literal. `""` is a word of its own: the empty string.

use std::format;
use std::string::String;
use std::vec::Vec;

/// A word of a line, after quotes and escapes are resolved.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Word {
    pub text: String,
    /// Byte offset in `text` of the first `=` written bare (not quoted, not escaped).
    pub bare_equals: Option<usize>,
    /// Some part of the word was quoted.
    pub quoted: bool,
}

/// A line: the step's words, and the words after `=>` if there is one.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Line {
    pub action: Vec<Word>,
    pub expectation: Option<Vec<Word>>,
}

/// Splits one line. Errors describe what is malformed (the caller adds the line number).
pub fn split(line: &str) -> Result<Line, String> {
    let mut result = Line::default();
    let mut word: Option<Word> = None;
    let mut rest = line;
    while let Some(c) = rest.chars().next() {
        if c == '#' {
            break;
        }
        if c.is_whitespace() {
            finish(&mut result, &mut word);
            rest = &rest[c.len_utf8()..];
            continue;
        }
        if rest.starts_with("=>") {
            finish(&mut result, &mut word);
            if result.expectation.is_some() {
                return Err(String::from("a second `=>`"));
            }
            result.expectation = Some(Vec::new());
            rest = &rest[2..];
            continue;
        }
        let current = word.get_or_insert_with(Word::default);
        if c == '"' {
            rest = quoted(&rest[1..], current)?;
        } else if rest.starts_with("{U+") {
            let (escaped, after) = escape(rest)?;
            current.text.push(escaped);
            rest = after;
        } else {
            if c == '=' && current.bare_equals.is_none() {
                current.bare_equals = Some(current.text.len());
            }
            current.text.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    finish(&mut result, &mut word);
    if result.expectation.as_ref().is_some_and(Vec::is_empty) {
        return Err(String::from("nothing after `=>`"));
    }
    Ok(result)
}

fn finish(line: &mut Line, word: &mut Option<Word>) {
    if let Some(word) = word.take() {
        match &mut line.expectation {
            Some(expectation) => expectation.push(word),
            None => line.action.push(word),
        }
    }
}

/// Reads up to the closing quote (`text` starts after the opening one) into `word`; returns
/// what follows the closing quote.
fn quoted<'a>(mut text: &'a str, word: &mut Word) -> Result<&'a str, String> {
    word.quoted = true;
    loop {
        let Some(c) = text.chars().next() else {
            return Err(String::from("unterminated quote"));
        };
        if c == '"' {
            return Ok(&text[1..]);
        }
        if text.starts_with("{U+") {
            let (escaped, after) = escape(text)?;
            word.text.push(escaped);
            text = after;
        } else {
            word.text.push(c);
            text = &text[c.len_utf8()..];
        }
    }
}

/// `text` starts with `{U+`: the character it names and what follows the `}`.
fn escape(text: &str) -> Result<(char, &str), String> {
    let body = &text[3..];
    let close = body
        .find('}')
        .ok_or(String::from("`{U+` without a closing `}`"))?;
    let hex = &body[..close];
    let bad = || format!("bad escape {{U+{hex}}}: 1 to 6 hex digits naming a Unicode scalar value");
    if hex.is_empty() || hex.len() > 6 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(bad());
    }
    let value = u32::from_str_radix(hex, 16).map_err(|_| bad())?;
    let c = char::from_u32(value).ok_or_else(bad)?;
    Ok((c, &body[close + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(words: &[Word]) -> Vec<&str> {
        words.iter().map(|w| w.text.as_str()).collect()
    }

    #[test]
    fn bare_words_comment_and_expectation() {
        let line = split("  open a \\Device\\Disk0\\x  => SUCCESS info=0 # why").unwrap();
        assert_eq!(texts(&line.action), ["open", "a", "\\Device\\Disk0\\x"]);
        assert_eq!(texts(&line.expectation.unwrap()), ["SUCCESS", "info=0"]);
    }

    #[test]
    fn quotes_keep_hash_equals_arrow_and_spaces() {
        let line = split(r#"open a "\Device\Disk0\a #b=c => d" => SUCCESS"#).unwrap();
        assert_eq!(line.action[2].text, r"\Device\Disk0\a #b=c => d");
        assert_eq!(line.action[2].bare_equals, None);
        assert!(line.action[2].quoted);
        assert_eq!(texts(&line.expectation.unwrap()), ["SUCCESS"]);
    }

    #[test]
    fn a_bare_equals_is_remembered_and_a_quoted_value_joins_the_word() {
        let line = split(r#"query-dir d pattern="a b=*" root=x"#).unwrap();
        assert_eq!(line.action[2].text, "pattern=a b=*");
        assert_eq!(line.action[2].bare_equals, Some(7));
        assert_eq!(line.action[3].bare_equals, Some(4));
    }

    #[test]
    fn escapes_inside_and_outside_quotes() {
        let line = split(r#"open a x{U+0009}y "{U+F009}{U+22}{U+1F600}" {U+003D}"#).unwrap();
        assert_eq!(line.action[2].text, "x\ty");
        assert_eq!(line.action[3].text, "\u{F009}\"\u{1F600}");
        assert_eq!(line.action[4].text, "=");
        assert_eq!(line.action[4].bare_equals, None);
    }

    #[test]
    fn an_empty_quote_is_an_empty_word() {
        let line = split(r#"open a "" => any"#).unwrap();
        assert_eq!(texts(&line.action), ["open", "a", ""]);
        assert!(line.action[2].quoted);
    }

    #[test]
    fn a_brace_that_is_no_escape_is_literal() {
        let line = split("open a {x}").unwrap();
        assert_eq!(line.action[2].text, "{x}");
    }

    #[test]
    fn malformed_lines_are_errors() {
        for (text, message) in [
            (r#"open a "\Device"#, "unterminated quote"),
            ("open a {U+0009", "without a closing"),
            ("open a {U+}", "bad escape"),
            ("open a {U+D800}", "bad escape"),
            ("open a {U+110000}", "bad escape"),
            ("open a {U+1234567}", "bad escape"),
            ("open a {U+00G0}", "bad escape"),
            ("open a =>", "nothing after"),
            ("open a => SUCCESS => SUCCESS", "a second"),
        ] {
            let error = split(text).unwrap_err();
            assert!(error.contains(message), "{text}: {error}");
        }
    }
}
