//! A simulated filesystem behind the I/O seam (cargo feature
//! `fault-injection`, for tests): files and directories in memory, with the
//! crash model of a disk that loses power, and injected errors.
//!
//! Crash model. Every file keeps the content its last completed fdatasync
//! made durable and, in order, the writes and size changes completed since;
//! every directory keeps its entries as of its last fsync and the creates,
//! renames and unlinks since. At a simulated crash ([`SimFs::crash_image`])
//! each file keeps a random prefix of its changes since its fdatasync and
//! drops the rest, and the last write it keeps may be torn: any of its
//! 512-byte sectors may hold the old bytes. Each directory likewise keeps a
//! random prefix of its entry changes since its fsync. An fdatasync covers
//! the writes that completed before it was called, not those still in
//! flight. That is what POSIX promises and a little less than ext4 gives
//! (ext4 commits earlier metadata with any fsync); code that is right here
//! is right on any filesystem that keeps its promises.
//!
//! ```text
//!  file:  durable (last fdatasync) | w1 w2 w3 w4   (completed since)
//!  crash: durable + w1 w2 + torn(w3)               (a prefix, the last torn)
//!  dir:   durable entries | create a, rename t→b, unlink c
//!  crash: durable entries + create a               (a prefix)
//! ```
//!
//! Crash points: every operation that changes something (a write, size
//! change, fdatasync, create, rename, unlink, directory fsync) counts one.
//! [`SimFs::crash_after`] makes the n-th and every later one fail with EIO,
//! as if the machine stopped there; the test then takes an image and opens
//! the log on it.
//!
//! Operations complete after yielding to other tasks 0 to 2 times (chosen
//! by the seeded generator), so concurrent writes complete out of order as
//! they do on a real device. Capacity ([`SimFs::set_capacity`]) makes writes
//! and preallocation past it fail with ENOSPC, and removing or truncating
//! files gives the space back.
//!
//! Shard contract: a `SimFs` is used from one executor thread (`Rc`).

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::io;
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;

use super::fault::{FaultOp, FaultPlan};

/// Sector size of the torn-write model.
pub const SECTOR_BYTES: u64 = 512;

/// A small deterministic generator (xorshift64*).
#[derive(Debug, Clone)]
pub struct XorShift(u64);

impl XorShift {
    pub fn new(seed: u64) -> XorShift {
        XorShift(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15).max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `[0, bound)`; `bound` must be positive.
    pub fn below(&mut self, bound: u64) -> u64 {
        assert!(bound > 0, "an empty range");
        self.next_u64() % bound
    }

    pub fn chance(&mut self, numerator: u64, denominator: u64) -> bool {
        self.below(denominator) < numerator
    }
}

#[derive(Debug, Clone)]
enum FileOp {
    Write { position: u64, bytes: Vec<u8> },
    SetLen(u64),
}

/// A file's bytes: `bytes`, then zeros up to `len` (preallocated space
/// costs nothing until written).
#[derive(Debug, Clone, Default)]
struct Content {
    bytes: Vec<u8>,
    len: u64,
}

impl Content {
    fn apply(&mut self, op: &FileOp) {
        match op {
            FileOp::Write { position, bytes } => {
                let end = *position as usize + bytes.len();
                if self.bytes.len() < end {
                    self.bytes.resize(end, 0);
                }
                self.bytes[*position as usize..end].copy_from_slice(bytes);
                self.len = self.len.max(end as u64);
            }
            FileOp::SetLen(len) => {
                self.bytes.truncate(*len as usize);
                self.len = *len;
            }
        }
    }

    /// `[position, position + len)`, short at the end of the file.
    fn read(&self, position: u64, len: usize) -> Vec<u8> {
        let start = position.min(self.len) as usize;
        let end = (position + len as u64).min(self.len) as usize;
        let held = self.bytes.len();
        let mut out = Vec::with_capacity(end - start);
        if start < held {
            out.extend_from_slice(&self.bytes[start..end.min(held)]);
        }
        out.resize(end - start, 0);
        out
    }

    fn to_vec(&self) -> Vec<u8> {
        self.read(0, self.len as usize)
    }
}

#[derive(Debug, Clone, Default)]
struct Inode {
    live: Content,
    synced: Content,
    pending: Vec<FileOp>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Entry {
    File(u64),
    Dir(u64),
}

#[derive(Debug, Clone)]
enum DirOp {
    Insert(String, Entry),
    Remove(String),
    Rename(String, String),
}

fn apply_dir_op(entries: &mut BTreeMap<String, Entry>, op: &DirOp) {
    match op {
        DirOp::Insert(name, entry) => {
            entries.insert(name.clone(), *entry);
        }
        DirOp::Remove(name) => {
            entries.remove(name);
        }
        DirOp::Rename(from, to) => {
            if let Some(entry) = entries.remove(from) {
                entries.insert(to.clone(), entry);
            }
        }
    }
}

#[derive(Debug, Clone, Default)]
struct Dir {
    live: BTreeMap<String, Entry>,
    synced: BTreeMap<String, Entry>,
    pending: Vec<DirOp>,
}

#[derive(Debug)]
struct State {
    inodes: HashMap<u64, Inode>,
    dirs: HashMap<u64, Dir>,
    next_id: u64,
    ops: u64,
    crash_at: Option<u64>,
    crashed: bool,
    capacity: Option<u64>,
    random: XorShift,
}

const ROOT: u64 = 0;

/// What a crash image lost, for tests to see that crashes bite.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CrashLosses {
    /// Writes and size changes completed but not synced, dropped.
    pub file_ops_dropped: u64,
    /// Kept writes torn (some sectors hold their old bytes).
    pub writes_torn: u64,
    /// Creates, renames and unlinks not synced, dropped.
    pub dir_ops_dropped: u64,
}

/// The simulated filesystem. See the module documentation.
pub struct SimFs {
    state: RefCell<State>,
    faults: FaultPlan,
    /// Operations failed by the crash or a fault, for tests to look at.
    failed_ops: Cell<u64>,
    /// For an image: what the crash that made it lost.
    losses: Cell<CrashLosses>,
}

fn eio() -> io::Error {
    io::Error::from_raw_os_error(nix::libc::EIO)
}

fn not_found() -> io::Error {
    io::Error::from(io::ErrorKind::NotFound)
}

/// The normal components of `path` (the simulated root is `/`).
fn components(path: &Path) -> Vec<String> {
    path.components()
        .filter_map(|component| match component {
            Component::Normal(name) => Some(name.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect()
}

impl State {
    fn fresh_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn lookup_dir(&self, names: &[String]) -> Option<u64> {
        let mut dir = ROOT;
        for name in names {
            match self.dirs.get(&dir)?.live.get(name)? {
                Entry::Dir(id) => dir = *id,
                Entry::File(_) => return None,
            }
        }
        Some(dir)
    }

    /// The directory holding `path` and the file name in it.
    fn parent_of(&self, path: &Path) -> io::Result<(u64, String)> {
        let mut names = components(path);
        let name = names.pop().ok_or_else(not_found)?;
        let dir = self.lookup_dir(&names).ok_or_else(not_found)?;
        Ok((dir, name))
    }

    fn lookup_file(&self, path: &Path) -> Option<u64> {
        let (dir, name) = self.parent_of(path).ok()?;
        match self.dirs.get(&dir)?.live.get(&name)? {
            Entry::File(ino) => Some(*ino),
            Entry::Dir(_) => None,
        }
    }

    fn dir_op(&mut self, dir: u64, op: DirOp) {
        let dir = self.dirs.get_mut(&dir).expect("a live directory");
        apply_dir_op(&mut dir.live, &op);
        dir.pending.push(op);
    }

    /// Bytes held by files some directory links to.
    fn used_bytes(&self) -> u64 {
        let mut linked = std::collections::HashSet::new();
        for dir in self.dirs.values() {
            for entry in dir.live.values() {
                if let Entry::File(ino) = entry {
                    linked.insert(*ino);
                }
            }
        }
        linked
            .iter()
            .filter_map(|ino| self.inodes.get(ino))
            .map(|inode| inode.live.len)
            .sum()
    }

    /// ENOSPC if growing a file by `growth` bytes passes the capacity.
    fn check_space(&self, growth: u64) -> io::Result<()> {
        match self.capacity {
            Some(capacity) if growth > 0 && self.used_bytes() + growth > capacity => {
                Err(io::Error::from_raw_os_error(nix::libc::ENOSPC))
            }
            _ => Ok(()),
        }
    }
}

impl SimFs {
    /// An empty filesystem; `seed` drives the completion order and nothing else.
    pub fn new(seed: u64) -> Rc<SimFs> {
        let mut dirs = HashMap::new();
        dirs.insert(ROOT, Dir::default());
        Rc::new(SimFs {
            state: RefCell::new(State {
                inodes: HashMap::new(),
                dirs,
                next_id: ROOT,
                ops: 0,
                crash_at: None,
                crashed: false,
                capacity: None,
                random: XorShift::new(seed),
            }),
            faults: FaultPlan::default(),
            failed_ops: Cell::new(0),
            losses: Cell::new(CrashLosses::default()),
        })
    }

    /// The faults armed on this filesystem.
    pub fn faults(&self) -> &FaultPlan {
        &self.faults
    }

    /// Writes and preallocation past `bytes` in use fail with ENOSPC.
    pub fn set_capacity(&self, bytes: Option<u64>) {
        self.state.borrow_mut().capacity = bytes;
    }

    /// What statvfs would say is free: capacity less use (`None`: unbounded).
    pub fn available_bytes(&self) -> Option<u64> {
        let state = self.state.borrow();
        state
            .capacity
            .map(|capacity| capacity.saturating_sub(state.used_bytes()))
    }

    /// Bytes held by linked files now.
    pub fn used_bytes(&self) -> u64 {
        self.state.borrow().used_bytes()
    }

    /// Test setup: creates `path` and its parents, durably.
    pub fn create_dir_all_synced(&self, path: &Path) {
        let mut state = self.state.borrow_mut();
        let mut dir = ROOT;
        for name in components(path) {
            let existing = state.dirs[&dir].live.get(&name).copied();
            dir = match existing {
                Some(Entry::Dir(id)) => id,
                Some(Entry::File(_)) => panic!("{} has a file on the way", path.display()),
                None => {
                    let id = state.fresh_id();
                    state.dirs.insert(id, Dir::default());
                    let parent = state.dirs.get_mut(&dir).expect("walked");
                    parent.live.insert(name.clone(), Entry::Dir(id));
                    parent.synced.insert(name, Entry::Dir(id));
                    id
                }
            };
        }
    }

    /// From the `ops`-th change on (counting from now), every operation
    /// fails with EIO: the machine lost power there.
    pub fn crash_after(&self, ops: u64) {
        let mut state = self.state.borrow_mut();
        state.crash_at = Some(state.ops + ops.max(1));
    }

    pub fn is_crashed(&self) -> bool {
        self.state.borrow().crashed
    }

    /// Changing operations so far (the crash-point clock).
    pub fn ops(&self) -> u64 {
        self.state.borrow().ops
    }

    /// Operations that failed (crash or fault) so far.
    pub fn failed_ops(&self) -> u64 {
        self.failed_ops.get()
    }

    /// For an image made by [`SimFs::crash_image`]: what the crash lost.
    pub fn losses(&self) -> CrashLosses {
        self.losses.get()
    }

    /// What the disk holds after a power loss now, one of the possible
    /// outcomes chosen by `seed` (see the module documentation).
    pub fn crash_image(&self, seed: u64) -> Rc<SimFs> {
        let mut random = XorShift::new(seed);
        let mut tear = XorShift::new(seed ^ 0x5bd1_e995);
        self.image(
            &mut |pending| random.below(pending as u64 + 1) as usize,
            &mut tear,
        )
    }

    /// What survives a power loss for certain: synced content and entries only.
    pub fn durable_image(&self) -> Rc<SimFs> {
        self.image(&mut |_| 0, &mut XorShift::new(1))
    }

    fn image(&self, keep: &mut dyn FnMut(usize) -> usize, tear: &mut XorShift) -> Rc<SimFs> {
        let state = self.state.borrow();
        let image = SimFs::new(tear.next_u64());
        let mut losses = CrashLosses::default();
        {
            let mut target = image.state.borrow_mut();
            target.next_id = state.next_id;
            let mut seen_dirs = std::collections::HashSet::new();
            let mut seen_files = std::collections::HashSet::new();
            let mut queue = vec![ROOT];
            while let Some(id) = queue.pop() {
                if !seen_dirs.insert(id) {
                    continue;
                }
                let dir = &state.dirs[&id];
                let mut entries = dir.synced.clone();
                let kept = keep(dir.pending.len());
                losses.dir_ops_dropped += (dir.pending.len() - kept) as u64;
                for op in &dir.pending[..kept] {
                    apply_dir_op(&mut entries, op);
                }
                for entry in entries.values() {
                    match *entry {
                        Entry::Dir(child) => queue.push(child),
                        Entry::File(ino) if seen_files.insert(ino) => {
                            let content =
                                crashed_content(&state.inodes[&ino], keep, tear, &mut losses);
                            target.inodes.insert(
                                ino,
                                Inode {
                                    live: content.clone(),
                                    synced: content,
                                    pending: Vec::new(),
                                },
                            );
                        }
                        Entry::File(_) => {}
                    }
                }
                target.dirs.insert(
                    id,
                    Dir {
                        live: entries.clone(),
                        synced: entries,
                        pending: Vec::new(),
                    },
                );
            }
        }
        image.losses.set(losses);
        image
    }

    /// The live content of a file, for tests.
    pub fn file_content(&self, path: &Path) -> Option<Vec<u8>> {
        let state = self.state.borrow();
        let ino = state.lookup_file(path)?;
        Some(state.inodes[&ino].live.to_vec())
    }

    /// Overwrites bytes of a file as they are (durable at once): for tests
    /// that damage a log on purpose.
    pub fn corrupt(&self, path: &Path, position: u64, bytes: &[u8]) {
        let mut state = self.state.borrow_mut();
        let ino = state.lookup_file(path).expect("a file to corrupt");
        let inode = state.inodes.get_mut(&ino).expect("linked");
        let op = FileOp::Write {
            position,
            bytes: bytes.to_vec(),
        };
        inode.live.apply(&op);
        inode.synced.apply(&op);
    }

    /// Counts one changing operation: fails if the machine crashed here or
    /// before, or if a fault is armed for it.
    fn tick(&self, op: FaultOp, path: &Path) -> io::Result<()> {
        let failure = {
            let mut state = self.state.borrow_mut();
            if !state.crashed {
                state.ops += 1;
                if state.crash_at.is_some_and(|at| state.ops >= at) {
                    state.crashed = true;
                }
            }
            state.crashed
        };
        let result = if failure {
            Err(eio())
        } else {
            self.faults.check(op, path)
        };
        if result.is_err() {
            self.failed_ops.set(self.failed_ops.get() + 1);
        }
        result
    }

    /// A fault check for an operation that changes nothing (a read).
    fn check_read(&self, path: &Path) -> io::Result<()> {
        if self.state.borrow().crashed {
            return Err(eio());
        }
        self.faults.check(FaultOp::Read, path)
    }

    /// Lets other tasks run 0 to 2 times: the operation is "in flight".
    async fn in_flight(&self) {
        let turns = self.state.borrow_mut().random.below(3);
        for _ in 0..turns {
            yield_now().await;
        }
    }

    pub(crate) async fn open(self: &Rc<Self>, path: &Path) -> io::Result<SimFile> {
        self.in_flight().await;
        let existing = self.state.borrow().lookup_file(path);
        let ino = match existing {
            Some(ino) => ino,
            None => {
                self.tick(FaultOp::Create, path)?;
                let mut state = self.state.borrow_mut();
                let (dir, name) = state.parent_of(path)?;
                let ino = state.fresh_id();
                state.inodes.insert(ino, Inode::default());
                state.dir_op(dir, DirOp::Insert(name, Entry::File(ino)));
                ino
            }
        };
        Ok(SimFile {
            fs: self.clone(),
            ino,
            path: path.to_path_buf(),
        })
    }

    pub(crate) async fn create_dir_all(&self, path: &Path) -> io::Result<bool> {
        let names = components(path);
        let mut created = false;
        let mut dir = ROOT;
        for name in names {
            let existing = self.state.borrow().dirs[&dir].live.get(&name).copied();
            dir = match existing {
                Some(Entry::Dir(id)) => id,
                Some(Entry::File(_)) => {
                    return Err(io::Error::from_raw_os_error(nix::libc::ENOTDIR))
                }
                None => {
                    self.tick(FaultOp::Create, path)?;
                    let mut state = self.state.borrow_mut();
                    let id = state.fresh_id();
                    state.dirs.insert(id, Dir::default());
                    state.dir_op(dir, DirOp::Insert(name, Entry::Dir(id)));
                    created = true;
                    id
                }
            };
        }
        Ok(created)
    }

    pub(crate) async fn list_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        self.check_read(path)?;
        let state = self.state.borrow();
        let dir = state.lookup_dir(&components(path)).ok_or_else(not_found)?;
        Ok(state.dirs[&dir].live.keys().cloned().collect())
    }

    pub(crate) async fn read_file(&self, path: &Path) -> io::Result<Option<Vec<u8>>> {
        self.check_read(path)?;
        let state = self.state.borrow();
        Ok(state
            .lookup_file(path)
            .map(|ino| state.inodes[&ino].live.to_vec()))
    }

    /// The same steps as the operating-system backend: temporary file,
    /// write, fdatasync, rename, directory fsync; each one a crash point.
    pub(crate) async fn write_file_atomic(
        self: &Rc<Self>,
        path: &Path,
        bytes: &[u8],
    ) -> io::Result<()> {
        self.faults.check(FaultOp::AtomicWrite, path)?;
        let temporary = path.with_extension("tmp-write");
        let file = self.open(&temporary).await?;
        file.set_len(0).await?;
        file.write(0, bytes).await?;
        file.fdatasync().await?;
        self.in_flight().await;
        self.tick(FaultOp::AtomicWrite, path)?;
        {
            let mut state = self.state.borrow_mut();
            let (dir, name) = state.parent_of(path)?;
            let (_, temporary_name) = state.parent_of(&temporary)?;
            state.dir_op(dir, DirOp::Rename(temporary_name, name));
        }
        let parent = path.parent().unwrap_or(Path::new("/"));
        self.sync_dir(parent).await
    }

    pub(crate) async fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.in_flight().await;
        if self.state.borrow().lookup_file(path).is_none() {
            return Ok(());
        }
        self.tick(FaultOp::Unlink, path)?;
        let mut state = self.state.borrow_mut();
        let (dir, name) = state.parent_of(path)?;
        state.dir_op(dir, DirOp::Remove(name));
        Ok(())
    }

    pub(crate) async fn sync_dir(&self, path: &Path) -> io::Result<()> {
        let covered = {
            let state = self.state.borrow();
            let dir = state.lookup_dir(&components(path)).ok_or_else(not_found)?;
            (dir, state.dirs[&dir].pending.len())
        };
        self.in_flight().await;
        self.tick(FaultOp::SyncDir, path)?;
        let (dir, count) = covered;
        let mut state = self.state.borrow_mut();
        let dir = state.dirs.get_mut(&dir).expect("a live directory");
        for op in dir.pending.drain(..count) {
            apply_dir_op(&mut dir.synced, &op);
        }
        Ok(())
    }
}

/// The content of `inode` after a crash: its synced bytes plus a prefix of
/// its changes since, the last write of the prefix maybe torn.
fn crashed_content(
    inode: &Inode,
    keep: &mut dyn FnMut(usize) -> usize,
    tear: &mut XorShift,
    losses: &mut CrashLosses,
) -> Content {
    let kept = keep(inode.pending.len());
    losses.file_ops_dropped += (inode.pending.len() - kept) as u64;
    let mut content = inode.synced.clone();
    for (index, op) in inode.pending[..kept].iter().enumerate() {
        let last = index + 1 == kept;
        match op {
            FileOp::Write { position, bytes } if last && tear.chance(1, 2) => {
                losses.writes_torn += 1;
                // What the write's range held before, zeros past the end.
                let mut before = content.read(*position, bytes.len());
                before.resize(bytes.len(), 0);
                content.apply(op);
                // Sectors of the torn write that keep their old bytes.
                let end = position + bytes.len() as u64;
                let mut sector = position / SECTOR_BYTES * SECTOR_BYTES;
                while sector < end {
                    let from = sector.max(*position);
                    let to = (sector + SECTOR_BYTES).min(end);
                    if tear.chance(1, 2) {
                        let old = &before[(from - position) as usize..(to - position) as usize];
                        content.bytes[from as usize..to as usize].copy_from_slice(old);
                    }
                    sector += SECTOR_BYTES;
                }
            }
            op => content.apply(op),
        }
    }
    content
}

/// An open simulated file.
#[derive(Clone)]
pub struct SimFile {
    fs: Rc<SimFs>,
    ino: u64,
    path: PathBuf,
}

impl SimFile {
    fn with_inode<R>(&self, function: impl FnOnce(&mut Inode) -> R) -> R {
        let mut state = self.fs.state.borrow_mut();
        function(
            state
                .inodes
                .get_mut(&self.ino)
                .expect("an open file's inode"),
        )
    }

    /// The path it was opened under (fault rules match it).
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) async fn write(&self, position: u64, bytes: &[u8]) -> io::Result<()> {
        self.fs.in_flight().await;
        let growth = {
            let state = self.fs.state.borrow();
            let len = state.inodes[&self.ino].live.len;
            (position + bytes.len() as u64).saturating_sub(len)
        };
        self.fs.tick(FaultOp::Write, self.path())?;
        self.fs.state.borrow().check_space(growth)?;
        let op = FileOp::Write {
            position,
            bytes: bytes.to_vec(),
        };
        self.with_inode(|inode| {
            inode.live.apply(&op);
            inode.pending.push(op);
        });
        Ok(())
    }

    pub(crate) async fn read(&self, position: u64, len: usize) -> io::Result<Vec<u8>> {
        self.fs.check_read(self.path())?;
        Ok(self.read_now(position, len))
    }

    /// Reads what is in the file now (short at its end).
    pub(crate) fn read_now(&self, position: u64, len: usize) -> Vec<u8> {
        self.with_inode(|inode| inode.live.read(position, len))
    }

    /// Makes durable every change that completed before this call.
    pub(crate) async fn fdatasync(&self) -> io::Result<()> {
        let covered = self.with_inode(|inode| inode.pending.len());
        self.fs.in_flight().await;
        self.fs.tick(FaultOp::Fdatasync, self.path())?;
        self.with_inode(|inode| {
            for op in inode.pending.drain(..covered) {
                inode.synced.apply(&op);
            }
        });
        Ok(())
    }

    pub(crate) async fn set_len(&self, len: u64) -> io::Result<()> {
        self.fs.in_flight().await;
        self.fs.tick(FaultOp::Truncate, self.path())?;
        let current = self.size();
        self.fs
            .state
            .borrow()
            .check_space(len.saturating_sub(current))?;
        self.with_inode(|inode| {
            let op = FileOp::SetLen(len);
            inode.live.apply(&op);
            inode.pending.push(op);
        });
        Ok(())
    }

    /// fallocate without KEEP_SIZE: grows the file (zeros) to `len`.
    pub(crate) async fn fallocate(&self, len: u64) -> io::Result<()> {
        self.fs.in_flight().await;
        self.fs.tick(FaultOp::Fallocate, self.path())?;
        let current = self.size();
        if len <= current {
            return Ok(());
        }
        self.fs.state.borrow().check_space(len - current)?;
        self.with_inode(|inode| {
            let op = FileOp::SetLen(len);
            inode.live.apply(&op);
            inode.pending.push(op);
        });
        Ok(())
    }

    pub(crate) fn size(&self) -> u64 {
        self.with_inode(|inode| inode.live.len)
    }
}

/// Returns `Pending` once, waking itself: other ready tasks run first.
fn yield_now() -> impl std::future::Future<Output = ()> {
    let mut yielded = false;
    std::future::poll_fn(move |context| {
        if yielded {
            return std::task::Poll::Ready(());
        }
        yielded = true;
        context.waker().wake_by_ref();
        std::task::Poll::Pending
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run<T: 'static>(future: impl std::future::Future<Output = T> + 'static) -> T {
        crate::runtime::block_on(future)
    }

    #[test]
    fn unsynced_writes_survive_as_a_prefix_and_synced_ones_always() {
        run(async {
            let fs = SimFs::new(7);
            fs.create_dir_all_synced(Path::new("/d"));
            let file = fs.open(Path::new("/d/f")).await.unwrap();
            fs.sync_dir(Path::new("/d")).await.unwrap();
            file.write(0, &[1u8; 1024]).await.unwrap();
            file.fdatasync().await.unwrap();
            file.write(1024, &[2u8; 1024]).await.unwrap();
            file.write(2048, &[3u8; 1024]).await.unwrap();
            let mut outcomes = std::collections::BTreeSet::new();
            for seed in 0..200 {
                let image = fs.crash_image(seed);
                let content = image.file_content(Path::new("/d/f")).unwrap();
                assert!(content.len() >= 1024 && content[..1024] == [1u8; 1024]);
                // Whatever survived of a later write is its bytes or zeros,
                // sector by sector (a torn write); the third never without
                // the second.
                for (index, sector) in content[1024..].chunks(512).enumerate() {
                    let expected = if index < 2 { 2 } else { 3 };
                    assert!(sector.iter().all(|&byte| byte == sector[0]));
                    assert!(sector[0] == 0 || sector[0] == expected);
                }
                outcomes.insert(content.len());
            }
            assert_eq!(outcomes.into_iter().collect::<Vec<_>>(), [1024, 2048, 3072]);
            assert_eq!(
                fs.durable_image().file_content(Path::new("/d/f")).unwrap(),
                vec![1u8; 1024]
            );
        });
    }

    #[test]
    fn a_file_whose_directory_was_not_synced_may_vanish() {
        run(async {
            let fs = SimFs::new(1);
            fs.create_dir_all_synced(Path::new("/d"));
            let file = fs.open(Path::new("/d/f")).await.unwrap();
            file.write(0, b"data").await.unwrap();
            file.fdatasync().await.unwrap();
            assert!(fs.durable_image().file_content(Path::new("/d/f")).is_none());
            fs.sync_dir(Path::new("/d")).await.unwrap();
            assert_eq!(
                fs.durable_image().file_content(Path::new("/d/f")).unwrap(),
                b"data"
            );
            fs.write_file_atomic(Path::new("/d/f"), b"new")
                .await
                .unwrap();
            assert_eq!(
                fs.durable_image().file_content(Path::new("/d/f")).unwrap(),
                b"new"
            );
            fs.remove_file(Path::new("/d/f")).await.unwrap();
            assert!(fs.durable_image().file_content(Path::new("/d/f")).is_some());
        });
    }

    #[test]
    fn the_crash_point_fails_every_later_change_and_capacity_gives_enospc() {
        run(async {
            let fs = SimFs::new(3);
            fs.create_dir_all_synced(Path::new("/d"));
            let file = fs.open(Path::new("/d/f")).await.unwrap();
            fs.set_capacity(Some(8192));
            file.fallocate(4096).await.unwrap();
            let full = file.fallocate(16384).await.unwrap_err();
            assert_eq!(full.raw_os_error(), Some(nix::libc::ENOSPC));
            file.write(0, &[9u8; 4096]).await.unwrap();
            fs.crash_after(2);
            file.write(4096, &[9u8; 10]).await.unwrap();
            assert!(file.fdatasync().await.is_err());
            assert!(fs.is_crashed());
            assert!(file.write(0, b"x").await.is_err());
        });
    }
}
