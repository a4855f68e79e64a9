//! Parsing and validating the FileName of an IRP_MJ_CREATE.
//!
//! The name is the FILE_OBJECT's FileName (UTF-16, not NUL-terminated). Without a
//! RelatedFileObject it is absolute: empty means the volume itself, `\` the root directory,
//! `\a\b` a path from the root. With one it is relative to that open and must not start with
//! `\`. Components come back as slices of the input, each with the number of bytes of the name
//! that follow it (what a symlink reparse needs in `Reserved`).

use super::NameError;

/// The longest component accepted, in UTF-16 units (ext4 names are at most 255 bytes, which
/// never spell more than 255 units).
pub const MAX_COMPONENT_UNITS: usize = 255;
/// The longest name a UNICODE_STRING can carry, in UTF-16 units.
const MAX_NAME_UNITS: usize = 0x7FFF;

const BACKSLASH: u16 = b'\\' as u16;
const DOT: u16 = b'.' as u16;

/// A validated create name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParsedPath<'a> {
    name: &'a [u16],
    /// Index of the first unit of the first component.
    body_start: usize,
    /// Index one past the last unit of the last component (the trailing `\` excluded).
    body_end: usize,
    relative: bool,
    trailing_backslash: bool,
}

/// One component of a [`ParsedPath`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Component<'a> {
    /// The component's UTF-16 units, a slice of the name given to [`parse`].
    pub name: &'a [u16],
    /// Bytes of the original name after this component: the `\` that follows it and
    /// everything after. 0 for the last component of a name without a trailing `\`.
    pub remaining_bytes: u16,
}

/// Iterator over the components of a [`ParsedPath`].
#[derive(Clone, Debug)]
pub struct Components<'a> {
    name: &'a [u16],
    pos: usize,
    end: usize,
}

impl<'a> Iterator for Components<'a> {
    type Item = Component<'a>;

    fn next(&mut self) -> Option<Component<'a>> {
        if self.pos >= self.end {
            return None;
        }
        let body = self.name.get(self.pos..self.end)?;
        let len = body
            .iter()
            .position(|&u| u == BACKSLASH)
            .unwrap_or(body.len());
        let comp = body.get(..len)?;
        let comp_end = self.pos.checked_add(len)?;
        self.pos = comp_end.checked_add(1)?;
        let rest_units = self.name.len().checked_sub(comp_end)?;
        let remaining_bytes = u16::try_from(rest_units.checked_mul(2)?).ok()?;
        Some(Component {
            name: comp,
            remaining_bytes,
        })
    }
}

impl<'a> ParsedPath<'a> {
    /// An absolute empty name: the volume itself (a volume open, not the root directory).
    pub fn is_volume(&self) -> bool {
        !self.relative && self.name.is_empty()
    }

    /// An absolute name of just `\` (or `\\`): the root directory.
    pub fn is_root(&self) -> bool {
        !self.relative && !self.name.is_empty() && self.has_no_components()
    }

    /// Whether the name was relative to a RelatedFileObject.
    pub fn is_relative(&self) -> bool {
        self.relative
    }

    /// Whether the name had no components (the volume, the root, or an empty relative name,
    /// which reopens the related object).
    pub fn has_no_components(&self) -> bool {
        self.body_start >= self.body_end
    }

    /// Whether the name ended in `\` after at least one component (`\a\`, `a\`): the caller
    /// must then find a directory (else STATUS_OBJECT_NAME_INVALID). A lone root `\` is not a
    /// trailing backslash.
    pub fn trailing_backslash(&self) -> bool {
        self.trailing_backslash
    }

    /// The components, in order.
    pub fn components(&self) -> Components<'a> {
        Components {
            name: self.name,
            pos: self.body_start,
            end: self.body_end,
        }
    }

    /// The last component, if any.
    pub fn last(&self) -> Option<Component<'a>> {
        self.components().last()
    }

    /// The name this was parsed from.
    pub fn as_units(&self) -> &'a [u16] {
        self.name
    }
}

/// Parses and validates a create name. `relative` is true when the create has a
/// RelatedFileObject.
pub fn parse(name: &[u16], relative: bool) -> Result<ParsedPath<'_>, NameError> {
    if name.len() > MAX_NAME_UNITS {
        return Err(NameError::PathTooLong);
    }
    let starts_with_backslash = name.first() == Some(&BACKSLASH);
    let body_start = match (relative, starts_with_backslash) {
        // Win32 can send an absolute name with two leading backslashes; FastFAT and CDFS
        // accept exactly one extra (three are an empty component, refused below).
        (false, true) if name.get(1) == Some(&BACKSLASH) => 2,
        (false, true) => 1,
        (true, false) => 0,
        // An absolute empty name is the volume open.
        (false, false) if name.is_empty() => {
            return Ok(ParsedPath {
                name,
                body_start: 0,
                body_end: 0,
                relative,
                trailing_backslash: false,
            });
        }
        _ => return Err(NameError::BadPrefix),
    };
    let mut body_end = name.len();
    let mut trailing_backslash = false;
    if body_end > body_start && name.last() == Some(&BACKSLASH) {
        trailing_backslash = true;
        body_end = body_end.saturating_sub(1);
    }
    let body = name.get(body_start..body_end).ok_or(NameError::BadPrefix)?;
    if body.is_empty() {
        if trailing_backslash {
            // `\`: a trailing separator after nothing.
            return Err(NameError::EmptyComponent);
        }
    } else {
        for comp in body.split(|&u| u == BACKSLASH) {
            check_component(comp)?;
        }
    }
    Ok(ParsedPath {
        name,
        body_start,
        body_end,
        relative,
        trailing_backslash,
    })
}

/// Validates one component (no `\` inside).
pub fn check_component(comp: &[u16]) -> Result<(), NameError> {
    match comp {
        [] => return Err(NameError::EmptyComponent),
        [DOT] | [DOT, DOT] => return Err(NameError::DotComponent),
        _ => {}
    }
    for item in char::decode_utf16(comp.iter().copied()) {
        let c = item.map_err(|_| NameError::InvalidCharacter)?;
        match c {
            '*' | '?' | '<' | '>' | '"' => return Err(NameError::Wildcard),
            '\0'..='\u{1f}' | '/' | ':' | '|' => return Err(NameError::InvalidCharacter),
            _ => {}
        }
    }
    if comp.len() > MAX_COMPONENT_UNITS {
        return Err(NameError::TooLong);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn u(s: &str) -> Vec<u16> {
        s.encode_utf16().collect()
    }

    fn comps(p: &ParsedPath<'_>) -> Vec<(alloc::string::String, u16)> {
        p.components()
            .map(|c| {
                (
                    alloc::string::String::from_utf16(c.name).unwrap(),
                    c.remaining_bytes,
                )
            })
            .collect()
    }

    fn err(s: &str, relative: bool) -> NameError {
        parse(&u(s), relative).unwrap_err()
    }

    #[test]
    fn volume_root_and_paths() {
        let empty: [u16; 0] = [];
        let v = parse(&empty, false).unwrap();
        assert!(v.is_volume() && !v.is_root() && v.has_no_components());

        let n = u("\\");
        let r = parse(&n, false).unwrap();
        assert!(r.is_root() && !r.is_volume() && r.has_no_components() && !r.trailing_backslash());

        let n = u("\\usr\\lib\\x.so");
        let p = parse(&n, false).unwrap();
        assert!(!p.trailing_backslash() && !p.is_relative());
        assert_eq!(
            comps(&p),
            [("usr".into(), 18), ("lib".into(), 10), ("x.so".into(), 0)]
        );
        assert_eq!(p.last().unwrap().name, u("x.so").as_slice());
        // Components are slices of the input.
        assert!(core::ptr::eq(
            p.components().next().unwrap().name.as_ptr(),
            &n[1]
        ));

        let n = u("\\a\\");
        let p = parse(&n, false).unwrap();
        assert!(p.trailing_backslash());
        assert_eq!(comps(&p), [("a".into(), 2)]);
    }

    #[test]
    fn double_leading_backslash() {
        // One extra leading backslash is tolerated, as FastFAT and CDFS do.
        let n = u("\\\\a\\b");
        let p = parse(&n, false).unwrap();
        assert_eq!(comps(&p), [("a".into(), 4), ("b".into(), 0)]);
        let n = u("\\\\");
        let p = parse(&n, false).unwrap();
        assert!(p.is_root() && !p.trailing_backslash());
        assert_eq!(err("\\\\a", true), NameError::BadPrefix);
    }

    #[test]
    fn relative_names() {
        let empty: [u16; 0] = [];
        let p = parse(&empty, true).unwrap();
        assert!(p.is_relative() && p.has_no_components() && !p.is_volume());
        let n = u("b\\c\\");
        let p = parse(&n, true).unwrap();
        assert!(p.trailing_backslash());
        assert_eq!(comps(&p), [("b".into(), 6), ("c".into(), 2)]);
        assert_eq!(err("\\b", true), NameError::BadPrefix);
        assert_eq!(err("\\", true), NameError::BadPrefix);
        assert_eq!(err("b", false), NameError::BadPrefix);
    }

    #[test]
    fn refusals() {
        assert_eq!(err("\\a\\\\b", false), NameError::EmptyComponent);
        assert_eq!(err("\\\\\\", false), NameError::EmptyComponent);
        assert_eq!(err("\\\\\\a", false), NameError::EmptyComponent);
        assert_eq!(err("a\\\\", true), NameError::EmptyComponent);
        assert_eq!(err("\\a\\\\", false), NameError::EmptyComponent);
        assert_eq!(err("\\.", false), NameError::DotComponent);
        assert_eq!(err("\\a\\..\\b", false), NameError::DotComponent);
        assert_eq!(err("..", true), NameError::DotComponent);
        assert_eq!(err("\\a\\*.txt", false), NameError::Wildcard);
        assert_eq!(err("\\a?", false), NameError::Wildcard);
        assert_eq!(err("\\a<", false), NameError::Wildcard);
        assert_eq!(err("\\a>", false), NameError::Wildcard);
        assert_eq!(err("\\a\"", false), NameError::Wildcard);
        assert_eq!(err("\\a:stream", false), NameError::InvalidCharacter);
        assert_eq!(err("\\a|b", false), NameError::InvalidCharacter);
        assert_eq!(err("\\a/b", false), NameError::InvalidCharacter);
        assert_eq!(err("\\a\u{1}", false), NameError::InvalidCharacter);
        assert_eq!(
            parse(&[0x5C, 0x61, 0xD800], false),
            Err(NameError::InvalidCharacter)
        );
        assert_eq!(
            parse(&[0x5C, 0x61, 0x0], false),
            Err(NameError::InvalidCharacter)
        );
        // "..." and ".x" are ordinary names; so are trailing dots and spaces, and escapes.
        assert!(parse(&u("\\...\\.x\\a. \\b "), false).is_ok());
        assert!(parse(&[0x5C, 0xF03A, 0xF0FF], false).is_ok());
        // The first error in path order wins.
        assert_eq!(err("\\a*\\\\b", false), NameError::Wildcard);
    }

    #[test]
    fn lengths() {
        let mut n = u("\\");
        n.extend(core::iter::repeat_n(0x61, 255));
        assert!(parse(&n, false).is_ok());
        n.push(0x61);
        assert_eq!(parse(&n, false), Err(NameError::TooLong));
        // 255 units of surrogate pairs is fine at this level (to_disk limits the bytes).
        let mut n = u("\\");
        for _ in 0..127 {
            n.extend([0xD83D, 0xDE00]);
        }
        assert!(parse(&n, false).is_ok());
        let huge: Vec<u16> = core::iter::repeat_n(0x5C, 0x8000).collect();
        assert_eq!(parse(&huge, false), Err(NameError::PathTooLong));
    }
}
