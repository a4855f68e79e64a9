//! ext4 time stamps as NT times: 100 ns intervals since 1601-01-01 UTC.

use crate::ext4::{Stat, Timestamp};

/// 100 ns intervals from 1601-01-01 to 1970-01-01 (369 years, 89 of them leap years).
pub const UNIX_EPOCH_IN_NT: i64 = 116_444_736_000_000_000;

const INTERVALS_PER_SECOND: i64 = 10_000_000;

/// `t` as an NT time. Nanoseconds are truncated to 100 ns; a time before 1601 (impossible
/// from ext4's range, but kept total) becomes 0, the NT epoch.
pub fn nt_time(t: Timestamp) -> i64 {
    let hundreds = i64::from(t.nanoseconds.min(999_999_999) / 100);
    t.seconds
        .saturating_mul(INTERVALS_PER_SECOND)
        .saturating_add(hundreds)
        .saturating_add(UNIX_EPOCH_IN_NT)
        .max(0)
}

/// The four NT times of an inode.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct NtTimes {
    /// i_crtime where the inode has room for it, else the change time (ext2/ext3 with
    /// 128-byte inodes have no creation time).
    pub creation: i64,
    pub last_access: i64,
    /// The data's modification time (i_mtime).
    pub last_write: i64,
    /// The inode's change time (i_ctime).
    pub change: i64,
}

impl NtTimes {
    pub fn of(stat: &Stat) -> NtTimes {
        NtTimes {
            creation: nt_time(stat.crtime.unwrap_or(stat.ctime)),
            last_access: nt_time(stat.atime),
            last_write: nt_time(stat.mtime),
            change: nt_time(stat.ctime),
        }
    }
}

/// A volume-level time in whole seconds since 1970 (s_mkfs_time) as an NT time.
pub fn nt_time_of_seconds(seconds: u32) -> i64 {
    nt_time(Timestamp {
        seconds: i64::from(seconds),
        nanoseconds: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unix_epoch_is_the_documented_constant() {
        // 1970-01-01 counted day by day from 1601-01-01.
        let days: i64 = (1601..1970)
            .map(|y| {
                if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 {
                    366
                } else {
                    365
                }
            })
            .sum();
        assert_eq!(days * 86_400 * INTERVALS_PER_SECOND, UNIX_EPOCH_IN_NT);
        assert_eq!(nt_time(Timestamp::default()), UNIX_EPOCH_IN_NT);
    }

    #[test]
    fn nanoseconds_become_hundreds_and_negative_seconds_count_back() {
        let t = Timestamp {
            seconds: 1_700_000_000,
            nanoseconds: 123_456_789,
        };
        assert_eq!(
            nt_time(t),
            UNIX_EPOCH_IN_NT + 1_700_000_000 * 10_000_000 + 1_234_567
        );
        let before = Timestamp {
            seconds: -1,
            nanoseconds: 0,
        };
        assert_eq!(nt_time(before), UNIX_EPOCH_IN_NT - 10_000_000);
        let absurd = Timestamp {
            seconds: i64::MIN,
            nanoseconds: 0,
        };
        assert_eq!(nt_time(absurd), 0);
        let huge = Timestamp {
            seconds: i64::MAX,
            nanoseconds: 999_999_999,
        };
        assert_eq!(nt_time(huge), i64::MAX);
    }

    #[test]
    fn creation_falls_back_to_the_change_time() {
        let mut stat = crate::ext4::Stat {
            ino: 12,
            file_type: crate::ext4::FileType::Regular,
            mode: 0o100644,
            uid: 0,
            gid: 0,
            nlink: 1,
            size: 0,
            atime: Timestamp {
                seconds: 1,
                nanoseconds: 0,
            },
            mtime: Timestamp {
                seconds: 2,
                nanoseconds: 0,
            },
            ctime: Timestamp {
                seconds: 3,
                nanoseconds: 0,
            },
            crtime: None,
            generation: 0,
            flags: 0,
            blocks_512: 0,
            rdev: 0,
        };
        assert_eq!(NtTimes::of(&stat).creation, NtTimes::of(&stat).change);
        stat.crtime = Some(Timestamp {
            seconds: 4,
            nanoseconds: 500,
        });
        let times = NtTimes::of(&stat);
        assert_eq!(times.creation, UNIX_EPOCH_IN_NT + 4 * 10_000_000 + 5);
        assert_eq!(times.last_access, UNIX_EPOCH_IN_NT + 10_000_000);
        assert_eq!(times.last_write, UNIX_EPOCH_IN_NT + 2 * 10_000_000);
    }
}
