//! The log walk: from `s_start`, transaction after transaction, until the first block that
//! is not the next expected one (wrong magic or sequence, bad checksum, uncommitted tail).
//! Collects what the committed transactions logged and where their revoke blocks are.

use alloc::vec::Vec;

use super::format::{self, JournalSuperblock, block_type};
use super::map::JournalMap;
use super::overlay::Entry;
use crate::ext4::device::BlockDevice;
use crate::ext4::error::{ChecksumKind, Error, Result, zeroed_vec};

/// A revoke block of a committed transaction.
#[derive(Debug, Clone, Copy)]
pub(super) struct RevokeBlock {
    pub log_phys: u64,
    pub sequence: u32,
}

/// What the walk found.
#[derive(Debug, Default)]
pub(super) struct Log {
    /// Every block logged by a committed transaction, in log order.
    pub logged: Vec<Entry>,
    pub revokes: Vec<RevokeBlock>,
    pub transactions: u32,
    /// Log blocks of the committed transactions (descriptors, data, revokes, commits).
    pub log_blocks: u64,
}

fn push<T>(v: &mut Vec<T>, item: T) -> Result<()> {
    v.try_reserve(1).map_err(|_| Error::NoMemory)?;
    v.push(item);
    Ok(())
}

/// Walks the log of `jsb` (which must have `start != 0`).
pub(super) fn walk<D: BlockDevice>(
    dev: &D,
    jsb: &JournalSuperblock,
    map: &JournalMap,
) -> Result<Log> {
    let log_len = u64::from(jsb.max_len - jsb.first);
    let wrap = |b: u32| {
        if b >= jsb.max_len {
            b - (jsb.max_len - jsb.first)
        } else {
            b
        }
    };
    let mut log = Log::default();
    let mut block = zeroed_vec(jsb.block_size as usize, 65_536, "journal block")?;
    let mut at = jsb.start;
    let mut sequence = jsb.sequence;
    let mut used = 0u64;
    // Committed prefix of `log.logged` / `log.revokes`, and the transaction in progress.
    let (mut committed_logged, mut committed_revokes) = (0usize, 0usize);
    let mut bad_descriptor: Option<u64> = None;
    let mut last_commit_time = 0u64;
    // Every step consumes at least one log block, and the log is never longer than the journal.
    while used < log_len {
        let phys = map.physical(at)?;
        dev.read_at(phys * u64::from(jsb.block_size), &mut block)?;
        used += 1;
        at = wrap(at + 1);
        let Some((kind, seq)) = format::header(&block) else {
            break;
        };
        if seq != sequence {
            break;
        }
        match kind {
            block_type::DESCRIPTOR => {
                let csum_ok = jsb.block_tail_ok(&block);
                if !csum_ok {
                    // Maybe a stale block: the commit time decides (below).
                    bad_descriptor.get_or_insert(phys);
                }
                for tag in jsb.tags(&block) {
                    if used >= log_len {
                        break;
                    }
                    let data_phys = map.physical(at)?;
                    let position = u32::try_from(used).unwrap_or(u32::MAX);
                    used += 1;
                    at = wrap(at + 1);
                    if csum_ok {
                        push(
                            &mut log.logged,
                            Entry {
                                fs_block: tag.fs_block,
                                log_phys: data_phys,
                                position,
                                sequence,
                                tag_checksum: tag.checksum,
                                escaped: tag.escaped,
                                revoked: false,
                            },
                        )?;
                    }
                }
            }
            block_type::COMMIT => {
                let time = format::commit_seconds(&block);
                if let Some(desc) = bad_descriptor {
                    // A damaged descriptor in a transaction that committed after the last
                    // good one: the log is corrupt, as jbd2 says. Older: stale, the log ends.
                    if time >= last_commit_time {
                        return Err(Error::Checksum {
                            kind: ChecksumKind::Journal,
                            at: desc,
                        });
                    }
                    break;
                }
                if !jsb.commit_ok(&block) {
                    break;
                }
                last_commit_time = time;
                committed_logged = log.logged.len();
                committed_revokes = log.revokes.len();
                log.transactions = log.transactions.saturating_add(1);
                log.log_blocks = used;
                sequence = sequence.wrapping_add(1);
            }
            block_type::REVOKE => push(
                &mut log.revokes,
                RevokeBlock {
                    log_phys: phys,
                    sequence,
                },
            )?,
            _ => break,
        }
    }
    log.logged.truncate(committed_logged);
    log.revokes.truncate(committed_revokes);
    Ok(log)
}
