//! Search patterns with FsRtlIsNameInExpression's semantics, DOS wildcards included:
//! `*` any run of characters, `?` exactly one, `<` (DOS_STAR) any run up to the name's last
//! `.`, `>` (DOS_QM) one character, or nothing at a `.` or at the end of the name, and `"`
//! (DOS_DOT) a `.`, or nothing at the end of the name (Learn, FsRtlIsNameInExpression).
//!
//! The matcher runs the expression as a set of positions (an NFA), so it takes time
//! proportional to name × expression and never backtracks.

use alloc::vec::Vec;

use super::layout::NoMemory;

const STAR: u16 = b'*' as u16;
const QM: u16 = b'?' as u16;
const DOS_STAR: u16 = b'<' as u16;
const DOS_QM: u16 = b'>' as u16;
const DOS_DOT: u16 = b'"' as u16;
const DOT: u16 = b'.' as u16;

/// Whether `expression` holds a wildcard (FsRtlDoesNameContainWildCards).
pub fn has_wildcards(expression: &[u16]) -> bool {
    expression
        .iter()
        .any(|&u| matches!(u, STAR | QM | DOS_STAR | DOS_QM | DOS_DOT))
}

/// Whether `expression` matches all names (`*`): the enumeration then skips the matcher.
pub fn matches_everything(expression: &[u16]) -> bool {
    expression == [STAR]
}

/// A reusable matcher: its two position sets are allocated once per search.
#[derive(Default)]
pub struct Matcher {
    current: Vec<bool>,
    next: Vec<bool>,
}

impl Matcher {
    /// Whether `name` matches `expression`, unit for unit (the caller upcases both for a
    /// case-insensitive search).
    pub fn is_match(&mut self, expression: &[u16], name: &[u16]) -> Result<bool, NoMemory> {
        let states = expression.len() + 1;
        for set in [&mut self.current, &mut self.next] {
            set.clear();
            set.try_reserve(states).map_err(|_| NoMemory)?;
            set.resize(states, false);
        }
        if let Some(first) = self.current.first_mut() {
            *first = true;
        }
        for (index, &unit) in name.iter().enumerate() {
            let rest = name.get(index..).unwrap_or(&[]);
            close(expression, rest, &mut self.current);
            self.next.iter_mut().for_each(|s| *s = false);
            let last_dot = unit == DOT && !rest.iter().skip(1).any(|&u| u == DOT);
            for (position, &token) in expression.iter().enumerate() {
                if !self.current.get(position).copied().unwrap_or(false) {
                    continue;
                }
                let (stay, advance) = match token {
                    STAR => (true, false),
                    DOS_STAR => (!last_dot, false),
                    QM => (false, true),
                    DOS_QM => (false, unit != DOT),
                    DOS_DOT => (false, unit == DOT),
                    literal => (false, literal == unit),
                };
                if stay && let Some(s) = self.next.get_mut(position) {
                    *s = true;
                }
                if advance && let Some(s) = self.next.get_mut(position + 1) {
                    *s = true;
                }
            }
            core::mem::swap(&mut self.current, &mut self.next);
            if !self.current.iter().any(|&s| s) {
                return Ok(false);
            }
        }
        close(expression, &[], &mut self.current);
        Ok(self.current.last().copied().unwrap_or(false))
    }
}

/// Adds the positions reachable without consuming a character, with `rest` the part of the
/// name still to match: `*` and `<` may match nothing; `>` matches nothing before a `.` or at
/// the end; `"` matches nothing at the end.
fn close(expression: &[u16], rest: &[u16], set: &mut [bool]) {
    let at_end = rest.is_empty();
    let before_dot = rest.first() == Some(&DOT);
    for (position, &token) in expression.iter().enumerate() {
        if !set.get(position).copied().unwrap_or(false) {
            continue;
        }
        let skip = match token {
            STAR | DOS_STAR => true,
            DOS_QM => at_end || before_dot,
            DOS_DOT => at_end,
            _ => false,
        };
        if skip && let Some(s) = set.get_mut(position + 1) {
            *s = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;
    use alloc::string::String;
    use alloc::vec;

    fn m(expression: &str, name: &str) -> bool {
        let e: Vec<u16> = expression.encode_utf16().collect();
        let n: Vec<u16> = name.encode_utf16().collect();
        Matcher::default().is_match(&e, &n).unwrap()
    }

    /// A reference matcher written independently: plain recursion over the definitions.
    fn reference(e: &[u16], n: &[u16]) -> bool {
        let Some((&t, er)) = e.split_first() else {
            return n.is_empty();
        };
        match t {
            STAR => (0..=n.len()).any(|k| reference(er, &n[k..])),
            DOS_STAR => {
                let last_dot = n.iter().rposition(|&u| u == DOT);
                // Any prefix not containing the last dot.
                let max = last_dot.unwrap_or(n.len());
                (0..=max).any(|k| reference(er, &n[k..]))
            }
            QM => !n.is_empty() && reference(er, &n[1..]),
            DOS_QM => {
                (n.first().is_some_and(|&u| u != DOT) && reference(er, &n[1..]))
                    || ((n.is_empty() || n[0] == DOT) && reference(er, n))
            }
            DOS_DOT => {
                (n.first() == Some(&DOT) && reference(er, &n[1..]))
                    || (n.is_empty() && reference(er, n))
            }
            lit => n.first() == Some(&lit) && reference(er, &n[1..]),
        }
    }

    #[test]
    fn documented_examples() {
        assert!(m("*", "anything.txt"));
        assert!(m("*", ""));
        assert!(m("*.TXT", "A.TXT"));
        assert!(!m("*.TXT", "A.TXT.BAK"));
        assert!(m("A?C", "ABC"));
        assert!(!m("A?C", "AC"));
        // What cmd sends for `dir *.` and `dir a*.*`: DOS_STAR DOS_DOT, and a DOS_STAR.
        assert!(m("<\"", "NOEXT"));
        assert!(!m("<\"", "HAS.EXT"));
        assert!(m("A<\"*", "A.B.C"));
        assert!(m("<.TXT", "A.B.TXT"));
        // 8.3-style `????????.???` as DOS_QMs and DOS_DOT.
        assert!(m(">>>>>>>>\">>>", "AB.C"));
        assert!(m(">>>>>>>>\">>>", "ABC"));
        assert!(!m(">>>>>>>>\">>>", "ABCDEFGHI"));
        assert!(m(">", ""));
        assert!(!m("?", ""));
    }

    /// Every string of up to `max` characters from `alphabet`.
    fn strings(alphabet: &[char], max: usize) -> Vec<String> {
        let mut all = vec![String::new()];
        let mut last = all.clone();
        for _ in 0..max {
            last = last
                .iter()
                .flat_map(|s| alphabet.iter().map(move |&c| format!("{s}{c}")))
                .collect();
            all.extend(last.iter().cloned());
        }
        all
    }

    #[test]
    fn agrees_with_a_recursive_reference_on_every_small_case() {
        let expressions = strings(&['a', '.', '*', '?', '<', '>', '"'], 4);
        let all_names = strings(&['a', 'b', '.'], 4);
        let mut matcher = Matcher::default();
        let mut checked = 0;
        for e in &expressions {
            let eu: Vec<u16> = e.encode_utf16().collect();
            for n in &all_names {
                let nu: Vec<u16> = n.encode_utf16().collect();
                assert_eq!(
                    matcher.is_match(&eu, &nu).unwrap(),
                    reference(&eu, &nu),
                    "{e:?} against {n:?}"
                );
                checked += 1;
            }
        }
        assert!(checked > 100_000);
        assert!(has_wildcards(&[0x3C]) && !has_wildcards(&[0x61]));
    }
}
