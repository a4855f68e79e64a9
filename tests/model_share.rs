//! SHARE_ACCESS rules (IoCheckShareAccess): an open conflicts if it asks for an access an
//! existing open does not share, or denies sharing an access an existing open holds.

use rustfsd::kernel::access::{
    DELETE, FILE_READ_DATA, FILE_SHARE_DELETE, FILE_SHARE_READ, FILE_SHARE_WRITE, FILE_WRITE_DATA,
    FileAccess, ShareAccess,
};

const ALL: u16 = FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE;

fn open(share: &mut ShareAccess, access: u32, shared: u16) -> bool {
    let request = FileAccess::from_request(access, shared);
    if share.conflicts(&request) {
        return false;
    }
    share.add(&request);
    true
}

#[test]
fn readers_that_share_read_coexist() {
    let mut s = ShareAccess::default();
    assert!(open(&mut s, FILE_READ_DATA, FILE_SHARE_READ));
    assert!(open(&mut s, FILE_READ_DATA, FILE_SHARE_READ));
    assert_eq!(s.open_count, 2);
    assert!(
        !open(&mut s, FILE_WRITE_DATA, ALL),
        "existing opens do not share write"
    );
}

#[test]
fn an_open_that_denies_sharing_excludes_later_readers() {
    let mut s = ShareAccess::default();
    assert!(open(&mut s, FILE_READ_DATA, 0));
    assert!(!open(&mut s, FILE_READ_DATA, ALL));
}

#[test]
fn a_new_open_must_share_what_existing_opens_hold() {
    let mut s = ShareAccess::default();
    assert!(open(&mut s, FILE_READ_DATA | DELETE, ALL));
    assert!(
        !open(&mut s, FILE_READ_DATA, FILE_SHARE_READ),
        "must share delete"
    );
    assert!(open(
        &mut s,
        FILE_READ_DATA,
        FILE_SHARE_READ | FILE_SHARE_DELETE
    ));
}

#[test]
fn attribute_only_opens_never_conflict_and_are_not_counted() {
    let mut s = ShareAccess::default();
    assert!(open(&mut s, FILE_READ_DATA, 0));
    let attributes_only = FileAccess::from_request(0x80 /* FILE_READ_ATTRIBUTES */, 0);
    assert!(!attributes_only.read && !attributes_only.write && !attributes_only.delete);
    let before = s;
    s.add(&attributes_only);
    assert_eq!(s, before);
}

#[test]
fn removing_an_open_restores_the_counts() {
    let mut s = ShareAccess::default();
    let first = FileAccess::from_request(FILE_READ_DATA, FILE_SHARE_READ);
    s.add(&first);
    assert!(!open(&mut s, FILE_WRITE_DATA, ALL));
    s.remove(&first);
    assert_eq!(s, ShareAccess::default());
    assert!(open(&mut s, FILE_WRITE_DATA, ALL));
}
