//! Injected storage faults (cargo feature `fault-injection`, for tests).
//!
//! A [`FaultPlan`] is a list of rules, each naming a storage operation, a
//! path fragment and an errno: the matching operation fails with that errno
//! instead of running. The simulated filesystem (`sim.rs`) owns a plan of
//! its own; the operating-system backend consults one plan per shard
//! thread, read once from the environment variable `RINGLOG_FAULTS`, so a
//! test can start the real broker with faults armed:
//!
//! ```text
//! RINGLOG_FAULTS="write:EIO:/bad-0/"              every write under .../bad-0/ fails with EIO
//! RINGLOG_FAULTS="fdatasync:EIO:/t-1/:3:1"        the 4th fdatasync there fails, once
//! RINGLOG_FAULTS="fallocate:ENOSPC:,write:EIO:x"  rules are separated by commas
//! ```
//! Fields: `op:errno:path-fragment[:skip[:times]]`; `skip` matching
//! operations run before the first failure, then `times` fail (all of the
//! following ones when absent).
//!
//! Without the feature none of this is compiled and the backend's checks
//! are empty inline functions.

use std::cell::RefCell;
use std::path::Path;

/// The storage operations a fault can hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultOp {
    /// Opening a file with O_CREAT where it does not exist yet.
    Create,
    Write,
    Fallocate,
    Fdatasync,
    Truncate,
    /// `write_file_atomic` (temporary file, fsync, rename, directory fsync).
    AtomicWrite,
    Unlink,
    SyncDir,
    Read,
}

impl FaultOp {
    fn parse(text: &str) -> Option<FaultOp> {
        Some(match text {
            "create" => FaultOp::Create,
            "write" => FaultOp::Write,
            "fallocate" => FaultOp::Fallocate,
            "fdatasync" => FaultOp::Fdatasync,
            "truncate" => FaultOp::Truncate,
            "atomic-write" => FaultOp::AtomicWrite,
            "unlink" => FaultOp::Unlink,
            "sync-dir" => FaultOp::SyncDir,
            "read" => FaultOp::Read,
            _ => return None,
        })
    }
}

/// One rule: `op` on a path containing `path_contains` fails with `errno`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub op: FaultOp,
    /// Only paths containing this fragment (empty: every path).
    pub path_contains: String,
    pub errno: i32,
    /// Matching operations let through before the first failure.
    pub skip: u64,
    /// How many matching operations fail; `None`: every one from then on.
    pub times: Option<u64>,
}

impl Fault {
    /// Every matching operation fails from now on.
    pub fn always(op: FaultOp, path_contains: &str, errno: i32) -> Fault {
        Fault {
            op,
            path_contains: path_contains.to_string(),
            errno,
            skip: 0,
            times: None,
        }
    }

    /// Parses one rule of `RINGLOG_FAULTS` (see the module documentation).
    pub fn parse(text: &str) -> Result<Fault, String> {
        let fields: Vec<&str> = text.split(':').collect();
        if !(3..=5).contains(&fields.len()) {
            return Err(format!("{text:?}: expected op:errno:path[:skip[:times]]"));
        }
        let op = FaultOp::parse(fields[0]).ok_or_else(|| format!("{text:?}: unknown op"))?;
        let errno = match fields[1] {
            "EIO" => nix::libc::EIO,
            "ENOSPC" => nix::libc::ENOSPC,
            "EDQUOT" => nix::libc::EDQUOT,
            "EROFS" => nix::libc::EROFS,
            other => other
                .parse::<i32>()
                .map_err(|_| format!("{text:?}: unknown errno {other}"))?,
        };
        let number = |index: usize| -> Result<Option<u64>, String> {
            fields
                .get(index)
                .map(|field| {
                    field
                        .parse::<u64>()
                        .map_err(|_| format!("{text:?}: bad number"))
                })
                .transpose()
        };
        Ok(Fault {
            op,
            path_contains: fields[2].to_string(),
            errno,
            skip: number(3)?.unwrap_or(0),
            times: number(4)?,
        })
    }
}

struct Armed {
    fault: Fault,
    seen: u64,
}

/// A list of armed faults. Shard contract: used on one thread.
#[derive(Default)]
pub struct FaultPlan {
    armed: RefCell<Vec<Armed>>,
    failures: std::cell::Cell<u64>,
}

impl FaultPlan {
    pub fn inject(&self, fault: Fault) {
        self.armed.borrow_mut().push(Armed { fault, seen: 0 });
    }

    /// Disarms every fault (the disk recovered, space came back).
    pub fn clear(&self) {
        self.armed.borrow_mut().clear();
    }

    /// Operations failed by this plan so far.
    pub fn failures(&self) -> u64 {
        self.failures.get()
    }

    /// `Err` with the armed errno if a rule matches `op` on `path`.
    pub fn check(&self, op: FaultOp, path: &Path) -> std::io::Result<()> {
        let mut armed = self.armed.borrow_mut();
        if armed.is_empty() {
            return Ok(());
        }
        let path = path.to_string_lossy();
        for rule in armed.iter_mut() {
            if rule.fault.op != op || !path.contains(rule.fault.path_contains.as_str()) {
                continue;
            }
            rule.seen += 1;
            if rule.seen <= rule.fault.skip {
                continue;
            }
            let failing = rule.seen - rule.fault.skip;
            if rule.fault.times.is_some_and(|times| failing > times) {
                continue;
            }
            self.failures.set(self.failures.get() + 1);
            return Err(std::io::Error::from_raw_os_error(rule.fault.errno));
        }
        Ok(())
    }
}

thread_local! {
    /// The operating-system backend's plan on this shard thread.
    static OS_PLAN: FaultPlan = os_plan_from_env();
}

fn os_plan_from_env() -> FaultPlan {
    let plan = FaultPlan::default();
    if let Ok(text) = std::env::var("RINGLOG_FAULTS") {
        for rule in text.split(',').filter(|rule| !rule.is_empty()) {
            match Fault::parse(rule) {
                Ok(fault) => plan.inject(fault),
                Err(error) => eprintln!("RINGLOG_FAULTS: ignored {error}"),
            }
        }
    }
    plan
}

/// The check the operating-system backend runs before each operation.
pub fn os_check(op: FaultOp, path: &Path) -> std::io::Result<()> {
    OS_PLAN.with(|plan| plan.check(op, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_parse_and_fire_after_skip_for_times() {
        let fault = Fault::parse("fdatasync:EIO:/t-1/:2:1").unwrap();
        assert_eq!(fault.op, FaultOp::Fdatasync);
        assert_eq!(fault.errno, nix::libc::EIO);
        assert_eq!((fault.skip, fault.times), (2, Some(1)));
        assert!(Fault::parse("write:EWHAT:x").is_err());
        assert!(Fault::parse("scribble:EIO:x").is_err());
        let plan = FaultPlan::default();
        plan.inject(fault);
        let hit = Path::new("/data/t-1/0.log");
        let other = Path::new("/data/t-2/0.log");
        let outcomes: Vec<bool> = (0..4)
            .map(|_| plan.check(FaultOp::Fdatasync, hit).is_err())
            .collect();
        assert_eq!(outcomes, [false, false, true, false]);
        assert!(plan.check(FaultOp::Fdatasync, other).is_ok());
        assert!(plan.check(FaultOp::Write, hit).is_ok());
        assert_eq!(plan.failures(), 1);
    }
}
