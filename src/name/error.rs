//! The one error type of the name layer, and its NTSTATUS.

use crate::kernel::NtStatus;

/// Why a name was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NameError {
    /// An empty name where a name is required (a file name, a symlink target).
    Empty,
    /// A character Windows forbids in a name component arrived unescaped, or an unpaired
    /// surrogate, or an escape that stands for `/` or NUL (bytes no ext4 name can hold).
    InvalidCharacter,
    /// An escape (U+F0xx) that [`to_windows`](super::to_windows) would never have produced,
    /// e.g. U+F041 for a plain `A`: accepting it would give one disk name two Windows names.
    NonCanonicalEscape,
    /// A wildcard (`* ? < > "`) in a name given to create.
    Wildcard,
    /// An empty component: `\a\\b`, or a path ending in `\\`.
    EmptyComponent,
    /// A `.` or `..` component.
    DotComponent,
    /// An absolute name that does not start with `\`, or a relative one that does.
    BadPrefix,
    /// A component longer than 255 UTF-16 units, or a disk name longer than 255 bytes.
    /// FastFAT answers this with STATUS_OBJECT_NAME_INVALID, and so do we.
    TooLong,
    /// A whole name longer than a UNICODE_STRING can hold (32767 units).
    PathTooLong,
    /// A symlink target that does not fit a reparse buffer (or is empty).
    BadLinkTarget,
    /// A fallible allocation failed.
    NoMemory,
}

impl NameError {
    /// The NTSTATUS an FSD completes IRP_MJ_CREATE (or the reparse) with for this error.
    pub fn status(&self) -> NtStatus {
        match self {
            NameError::Empty
            | NameError::InvalidCharacter
            | NameError::NonCanonicalEscape
            | NameError::Wildcard
            | NameError::EmptyComponent
            | NameError::DotComponent
            | NameError::BadPrefix
            | NameError::TooLong => NtStatus::OBJECT_NAME_INVALID,
            NameError::PathTooLong => NtStatus::NAME_TOO_LONG,
            NameError::BadLinkTarget => NtStatus::IO_REPARSE_DATA_INVALID,
            NameError::NoMemory => NtStatus::INSUFFICIENT_RESOURCES,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        assert_eq!(NameError::PathTooLong.status().0 as u32, 0xC000_0106);
        assert_eq!(NameError::TooLong.status(), NtStatus::OBJECT_NAME_INVALID);
        assert_eq!(NameError::Wildcard.status(), NtStatus::OBJECT_NAME_INVALID);
        assert_eq!(
            NameError::NoMemory.status(),
            NtStatus::INSUFFICIENT_RESOURCES
        );
        assert_eq!(NameError::BadLinkTarget.status().0 as u32, 0xC000_0278);
        assert!(NameError::EmptyComponent.status().is_error());
    }
}
