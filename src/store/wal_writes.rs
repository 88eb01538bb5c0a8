//! The write-ahead log of the writer's own SQLite connection ([`super::direct`]) written a
//! commit at a time: a VFS that is SQLite's `unix` VFS in everything but how the frames a
//! transaction appends reach `chat.db-wal`.
//!
//! Why: SQLite writes each WAL frame with two `pwrite`s, its 24-byte header and then its page
//! (`walWriteOneFrame`), so a send at window 1, whose commit changes about twelve pages, made
//! 24 system calls to append 49 KB to one file (docs/performance.md, "One write a commit").
//! Here the frames a transaction appends are gathered and written with one call (of at most
//! [`MOST_A_WRITE`] bytes; a larger transaction with a few).
//!
//! What does not change: every byte lands where SQLite writes it, in the order SQLite writes
//! it, and before anything can read it. Frames are gathered only while they are appended,
//! each header followed by its page, past everything this file handle wrote since the log
//! last began again (a frame rewritten within its transaction lies below that mark and is
//! written at once). What is gathered is written as soon as a commit frame (a header that
//! names the database's size after the commit) has its page, which SQLite writes before it
//! publishes the commit to readers in the wal-index; before anything else is done with the
//! log (a read, a sync, a size, a truncate, a close, a write elsewhere); before any lock on
//! the wal-index changes (so a transaction that spilled frames and rolled back leaves none
//! pending once another connection may write the log); and once it holds `limit` bytes. A
//! failed write fails the call that made it, for a commit the commit frame's write: the
//! commit fails as it would have. A process that dies with frames gathered dies before their
//! commit was written, as if SQLite had not written them yet. `synchronous` syncs as before:
//! a sync comes after the write.
//!
//! The database file and its log are `unix`'s own files underneath, on the same inode
//! structures as the pool's connections, so the locks between them are unchanged; every
//! other file and every other call is `unix`'s own.

use std::collections::HashMap;
use std::ffi::{c_int, c_void, CString};
use std::mem::{align_of, size_of};
use std::ptr;
use std::sync::{Mutex, OnceLock};

use rusqlite::ffi;

/// Bytes of a WAL frame's header (SQLite's `WAL_FRAME_HDRSIZE`).
const FRAME_HEADER: usize = 24;

/// The most bytes one call of `unix`'s `xWrite` takes: it writes `n & 0x1ffff` bytes of a
/// call's `n` (`seekAndWriteFd`), as no page of SQLite's own is larger.
const MOST_A_WRITE: usize = 0x1f000;

/// The name of the VFS that gathers up to `limit` bytes of frames into one write (registered
/// with SQLite on first use, one per limit); `None` for 0 (SQLite's own writes) or when the
/// `unix` VFS is not there to wrap.
pub fn vfs(limit: usize) -> Option<&'static str> {
    if limit == 0 {
        return None;
    }
    static REGISTERED: Mutex<Option<HashMap<usize, &'static str>>> = Mutex::new(None);
    let mut registered = REGISTERED.lock().unwrap_or_else(|p| p.into_inner());
    let registered = registered.get_or_insert_with(HashMap::new);
    if let Some(name) = registered.get(&limit) {
        return Some(name);
    }
    let unix = unix()?;
    let name: &'static str = Box::leak(format!("chatd-wal-{limit}").into_boxed_str());
    let c_name = CString::new(name).expect("no NUL in the name").into_raw();
    // SAFETY: `unix` is SQLite's `unix` VFS, registered for the life of the process. The copy
    // keeps its functions, which read neither the copy's name nor its `pAppData` (only
    // `unixOpen` reads `pAppData`, and [`open`] calls it through `unix` itself). The copy and
    // its name are leaked: SQLite keeps a registered VFS for good.
    let rc = unsafe {
        let mut ours: ffi::sqlite3_vfs = *unix.0;
        ours.zName = c_name;
        ours.pNext = ptr::null_mut();
        ours.pAppData = limit as *mut c_void;
        ours.szOsFile = c_int::try_from(REAL_AT).expect("small") + (*unix.0).szOsFile;
        ours.xOpen = Some(open);
        ffi::sqlite3_vfs_register(Box::leak(Box::new(ours)), 0)
    };
    if rc != ffi::SQLITE_OK {
        log::warn!("cannot register the SQLite VFS that gathers WAL writes (code {rc}); SQLite writes the WAL itself");
        return None;
    }
    registered.insert(limit, name);
    Some(name)
}

/// SQLite's `unix` VFS.
#[derive(Clone, Copy)]
struct Unix(*mut ffi::sqlite3_vfs);

// SAFETY: a registered VFS is not changed, and SQLite calls it from any thread.
unsafe impl Send for Unix {}
unsafe impl Sync for Unix {}

fn unix() -> Option<Unix> {
    static UNIX: OnceLock<Option<Unix>> = OnceLock::new();
    *UNIX.get_or_init(|| {
        // SAFETY: a lookup by a NUL-terminated name; it initialises SQLite if it must.
        let found = unsafe { ffi::sqlite3_vfs_find(c"unix".as_ptr()) };
        (!found.is_null()).then_some(Unix(found))
    })
}

/// A database file or its WAL opened through the VFS: this first, then `unix`'s own file at
/// [`REAL_AT`], in the one block of `szOsFile` bytes SQLite allocates. Any other file (a
/// temporary one) is `unix`'s own, at the start of the block.
#[repr(C)]
struct File {
    /// SQLite's view: [`METHODS`].
    base: ffi::sqlite3_file,
    /// `unix`'s file, at [`REAL_AT`] in the same block.
    real: *mut ffi::sqlite3_file,
    /// The WAL's frames being gathered; `None` for the database file.
    log: Option<Log>,
    /// The database file's WAL while that is open, and the WAL's database file: the database
    /// file's wal-index locks write what its WAL gathered first.
    peer: *mut File,
}

/// Frames appended and not yet written.
struct Log {
    /// Starting at file offset `at`.
    gathered: Vec<u8>,
    at: i64,
    /// The last thing gathered is a frame's header: its page comes next.
    page_due: bool,
    /// That header is a commit frame's: once its page is gathered, everything is written.
    commit_due: bool,
    /// The end of everything this handle wrote since it last wrote the log's header (offset
    /// 0: the log began again). A frame header below it is a rewrite, never gathered.
    high: i64,
    /// Bytes gathered at most before they are written.
    limit: usize,
}

/// Where `unix`'s file starts in the block.
const REAL_AT: usize = size_of::<File>().next_multiple_of(align_of::<u64>());

unsafe extern "C" fn open(
    vfs: *mut ffi::sqlite3_vfs,
    name: ffi::sqlite3_filename,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    let Some(unix) = unix() else {
        return ffi::SQLITE_ERROR;
    };
    let wal = flags & ffi::SQLITE_OPEN_WAL != 0;
    // SAFETY: SQLite hands `szOsFile` bytes at `file`, aligned for its file structures (8);
    // `vfs` is ours ([`vfs`]); `name` is a WAL name SQLite made from its database file's.
    unsafe {
        let unix_open = (*unix.0).xOpen.expect("unix opens files");
        if !wal && flags & ffi::SQLITE_OPEN_MAIN_DB == 0 {
            return unix_open(unix.0, name, file, flags, out_flags);
        }
        let real = file.cast::<u8>().add(REAL_AT).cast::<ffi::sqlite3_file>();
        let rc = unix_open(unix.0, name, real, flags, out_flags);
        if rc != ffi::SQLITE_OK || (*real).pMethods.is_null() {
            (*file).pMethods = ptr::null();
            return rc;
        }
        let log = wal.then(|| Log {
            gathered: Vec::new(),
            at: 0,
            page_due: false,
            commit_due: false,
            high: 0,
            limit: (*vfs).pAppData as usize,
        });
        let me = file.cast::<File>();
        ptr::write(
            me,
            File {
                base: ffi::sqlite3_file { pMethods: &METHODS },
                real,
                log,
                peer: ptr::null_mut(),
            },
        );
        if wal {
            let db = ffi::sqlite3_database_file_object(name).cast::<File>();
            if !db.is_null() && ptr::eq((*db).base.pMethods, &METHODS) {
                (*db).peer = me;
                (*me).peer = db;
            }
        }
        ffi::SQLITE_OK
    }
}

impl File {
    /// # Safety
    /// `file` was opened by [`open`] with [`METHODS`] and is not closed.
    unsafe fn of<'a>(file: *mut ffi::sqlite3_file) -> &'a mut File {
        unsafe { &mut *file.cast::<File>() }
    }

    fn real(&self) -> &ffi::sqlite3_io_methods {
        // SAFETY: `real` is `unix`'s open file, whose methods live as long as the process.
        unsafe { &*(*self.real).pMethods }
    }

    /// Writes what the WAL gathered (nothing for a database file, or if nothing is), in
    /// pieces of at most [`MOST_A_WRITE`] bytes.
    fn flush(&mut self) -> c_int {
        let Some(log) = self.log.as_mut().filter(|log| !log.gathered.is_empty()) else {
            return ffi::SQLITE_OK;
        };
        let gathered = std::mem::take(&mut log.gathered);
        let at = log.at;
        log.page_due = false;
        log.commit_due = false;
        let write = self.real().xWrite.expect("unix writes");
        let mut rc = ffi::SQLITE_OK;
        for (n, piece) in gathered.chunks(MOST_A_WRITE).enumerate() {
            let len = c_int::try_from(piece.len()).expect("a piece is small");
            let offset = at + (n * MOST_A_WRITE) as i64;
            // SAFETY: `real` is open; the piece outlives the call.
            rc = unsafe { write(self.real, piece.as_ptr().cast(), len, offset) };
            if rc != ffi::SQLITE_OK {
                break;
            }
        }
        // The buffer is kept for the next transaction's frames.
        let log = self.log.as_mut().expect("a WAL");
        log.gathered = gathered;
        log.gathered.clear();
        rc
    }

    /// The database file: writes what its WAL gathered.
    fn flush_peer(&mut self) -> c_int {
        if self.log.is_some() || self.peer.is_null() {
            return ffi::SQLITE_OK;
        }
        // SAFETY: a WAL unlinks itself from its database file as it closes.
        unsafe { (*self.peer).flush() }
    }
}

impl Log {
    /// Gathers `bytes`, to be written at `offset`, if they continue an append of frames;
    /// `false` when they must be written now (after what is gathered).
    fn gather(&mut self, bytes: &[u8], offset: i64) -> bool {
        let end = self.at + self.gathered.len() as i64;
        if self.page_due {
            if offset != end {
                return false;
            }
            self.page_due = false;
        } else {
            if bytes.len() != FRAME_HEADER || offset < self.high.max(1) {
                return false;
            }
            if self.gathered.is_empty() {
                self.at = offset;
            } else if offset != end {
                return false;
            }
            self.page_due = true;
            // Bytes 4–7: the database's size in pages after a commit; 0 in any other frame.
            self.commit_due = bytes[4..8] != [0; 4];
        }
        self.gathered.extend_from_slice(bytes);
        self.high = self.high.max(offset + bytes.len() as i64);
        true
    }

    /// Whether what is gathered is to be written now: a commit frame is whole, or the limit
    /// is reached between two frames.
    fn due(&self) -> bool {
        !self.page_due && (self.commit_due || self.gathered.len() >= self.limit)
    }

    /// After a write not gathered, of `len` bytes at `offset`.
    fn wrote(&mut self, offset: i64, len: usize) {
        self.high = if offset == 0 {
            len as i64
        } else {
            self.high.max(offset + len as i64)
        };
    }
}

/// Writes what the WAL gathered, then runs `then` on `unix`'s file.
///
/// # Safety
/// As [`File::of`].
unsafe fn flushed(
    file: *mut ffi::sqlite3_file,
    then: impl FnOnce(&ffi::sqlite3_io_methods, *mut ffi::sqlite3_file) -> c_int,
) -> c_int {
    let me = unsafe { File::of(file) };
    match me.flush() {
        ffi::SQLITE_OK => then(me.real(), me.real),
        rc => rc,
    }
}

/// Runs `then` on `unix`'s file.
///
/// # Safety
/// As [`File::of`].
unsafe fn direct<T>(
    file: *mut ffi::sqlite3_file,
    then: impl FnOnce(&ffi::sqlite3_io_methods, *mut ffi::sqlite3_file) -> T,
) -> T {
    let me = unsafe { File::of(file) };
    then(me.real(), me.real)
}

// The methods below are SQLite's calls on a file [`open`] made: each one is safe as SQLite
// makes it (an open file, its buffers as large as it says).

unsafe extern "C" fn close(file: *mut ffi::sqlite3_file) -> c_int {
    unsafe {
        let me = File::of(file);
        let flushed = me.flush();
        if !me.peer.is_null() {
            (*me.peer).peer = ptr::null_mut();
        }
        let closed = me.real().xClose.expect("xClose")(me.real);
        ptr::drop_in_place(file.cast::<File>());
        if flushed != ffi::SQLITE_OK {
            flushed
        } else {
            closed
        }
    }
}

unsafe extern "C" fn read(
    file: *mut ffi::sqlite3_file,
    buf: *mut c_void,
    n: c_int,
    at: i64,
) -> c_int {
    unsafe { flushed(file, |m, f| m.xRead.expect("xRead")(f, buf, n, at)) }
}

unsafe extern "C" fn write(
    file: *mut ffi::sqlite3_file,
    buf: *const c_void,
    n: c_int,
    at: i64,
) -> c_int {
    unsafe {
        let me = File::of(file);
        if let Some(log) = me.log.as_mut() {
            let bytes = std::slice::from_raw_parts(buf.cast::<u8>(), n.max(0) as usize);
            if log.gather(bytes, at) {
                return if log.due() {
                    me.flush()
                } else {
                    ffi::SQLITE_OK
                };
            }
            match me.flush() {
                ffi::SQLITE_OK => {}
                rc => return rc,
            }
            me.log.as_mut().expect("a WAL").wrote(at, bytes.len());
        }
        me.real().xWrite.expect("xWrite")(me.real, buf, n, at)
    }
}

unsafe extern "C" fn truncate(file: *mut ffi::sqlite3_file, size: i64) -> c_int {
    unsafe { flushed(file, |m, f| m.xTruncate.expect("xTruncate")(f, size)) }
}

unsafe extern "C" fn sync(file: *mut ffi::sqlite3_file, flags: c_int) -> c_int {
    unsafe { flushed(file, |m, f| m.xSync.expect("xSync")(f, flags)) }
}

unsafe extern "C" fn file_size(file: *mut ffi::sqlite3_file, size: *mut i64) -> c_int {
    unsafe { flushed(file, |m, f| m.xFileSize.expect("xFileSize")(f, size)) }
}

unsafe extern "C" fn lock(file: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    unsafe { flushed(file, |m, f| m.xLock.expect("xLock")(f, level)) }
}

unsafe extern "C" fn unlock(file: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    unsafe { flushed(file, |m, f| m.xUnlock.expect("xUnlock")(f, level)) }
}

unsafe extern "C" fn check_reserved_lock(file: *mut ffi::sqlite3_file, out: *mut c_int) -> c_int {
    unsafe {
        direct(file, |m, f| {
            m.xCheckReservedLock.expect("xCheckReservedLock")(f, out)
        })
    }
}

unsafe extern "C" fn file_control(
    file: *mut ffi::sqlite3_file,
    op: c_int,
    arg: *mut c_void,
) -> c_int {
    unsafe {
        flushed(file, |m, f| {
            m.xFileControl.expect("xFileControl")(f, op, arg)
        })
    }
}

unsafe extern "C" fn sector_size(file: *mut ffi::sqlite3_file) -> c_int {
    unsafe { direct(file, |m, f| m.xSectorSize.expect("xSectorSize")(f)) }
}

unsafe extern "C" fn device_characteristics(file: *mut ffi::sqlite3_file) -> c_int {
    unsafe {
        direct(file, |m, f| {
            m.xDeviceCharacteristics.expect("xDeviceCharacteristics")(f)
        })
    }
}

unsafe extern "C" fn shm_map(
    file: *mut ffi::sqlite3_file,
    region: c_int,
    size: c_int,
    extend: c_int,
    out: *mut *mut c_void,
) -> c_int {
    unsafe {
        direct(file, |m, f| {
            m.xShmMap.expect("xShmMap")(f, region, size, extend, out)
        })
    }
}

unsafe extern "C" fn shm_lock(
    file: *mut ffi::sqlite3_file,
    at: c_int,
    n: c_int,
    flags: c_int,
) -> c_int {
    unsafe {
        let me = File::of(file);
        // Only frames of a transaction that did not commit can be left here (a commit's are
        // written with its commit frame): written before another connection may write the log.
        me.flush_peer();
        me.real().xShmLock.expect("xShmLock")(me.real, at, n, flags)
    }
}

unsafe extern "C" fn shm_barrier(file: *mut ffi::sqlite3_file) {
    unsafe {
        let me = File::of(file);
        me.flush_peer();
        me.real().xShmBarrier.expect("xShmBarrier")(me.real)
    }
}

unsafe extern "C" fn shm_unmap(file: *mut ffi::sqlite3_file, delete: c_int) -> c_int {
    unsafe { direct(file, |m, f| m.xShmUnmap.expect("xShmUnmap")(f, delete)) }
}

unsafe extern "C" fn fetch(
    file: *mut ffi::sqlite3_file,
    at: i64,
    n: c_int,
    out: *mut *mut c_void,
) -> c_int {
    unsafe { flushed(file, |m, f| m.xFetch.expect("xFetch")(f, at, n, out)) }
}

unsafe extern "C" fn unfetch(file: *mut ffi::sqlite3_file, at: i64, p: *mut c_void) -> c_int {
    unsafe { direct(file, |m, f| m.xUnfetch.expect("xUnfetch")(f, at, p)) }
}

/// Version 3, as `unix`'s: the database file maps the wal-index and may map pages.
static METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    iVersion: 3,
    xClose: Some(close),
    xRead: Some(read),
    xWrite: Some(write),
    xTruncate: Some(truncate),
    xSync: Some(sync),
    xFileSize: Some(file_size),
    xLock: Some(lock),
    xUnlock: Some(unlock),
    xCheckReservedLock: Some(check_reserved_lock),
    xFileControl: Some(file_control),
    xSectorSize: Some(sector_size),
    xDeviceCharacteristics: Some(device_characteristics),
    xShmMap: Some(shm_map),
    xShmLock: Some(shm_lock),
    xShmBarrier: Some(shm_barrier),
    xShmUnmap: Some(shm_unmap),
    xFetch: Some(fetch),
    xUnfetch: Some(unfetch),
};

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::{Connection, OpenFlags};
    use std::path::{Path, PathBuf};

    fn scratch(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("chatd-wal-{tag}-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("scratch directory");
        dir.join("t.db")
    }

    fn connect(path: &Path, vfs: Option<&str>) -> Connection {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = match vfs {
            Some(vfs) => Connection::open_with_flags_and_vfs(path, flags, vfs),
            None => Connection::open_with_flags(path, flags),
        }
        .expect("open");
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .expect("WAL");
        assert_eq!(mode, "wal");
        conn.pragma_update(None, "synchronous", "NORMAL")
            .expect("synchronous");
        conn.pragma_update(None, "wal_autocheckpoint", 0)
            .expect("no checkpoints");
        conn
    }

    /// What a process that died now would leave: the database file and its log as they are
    /// (the `-shm` index is rebuilt from the log), opened by SQLite's own VFS, which checks
    /// every frame's checksum as it recovers.
    fn after_a_crash(path: &Path) -> (i64, i64, String) {
        let copy = path.with_file_name(format!("crash-{}.db", uuid::Uuid::new_v4()));
        std::fs::copy(path, &copy).expect("copy the database");
        let wal = PathBuf::from(format!("{}-wal", path.display()));
        if wal.exists() {
            std::fs::copy(&wal, format!("{}-wal", copy.display())).expect("copy the log");
        }
        let conn = Connection::open(&copy).expect("open the copy");
        let counted = conn
            .query_row(
                "SELECT count(*), coalesce(sum(length(body)), 0) FROM t",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .expect("count");
        let check: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .expect("integrity_check");
        (counted.0, counted.1, check)
    }

    /// Transactions of one to a few hundred pages (some larger than the page cache, so that
    /// SQLite spills frames mid-transaction and rewrites their checksums at the commit),
    /// transactions that spill and roll back, commits of another connection through SQLite's
    /// own VFS after them (where the rolled-back frames were), and checkpoints that make the
    /// log begin again: after each, a crash at that instant recovers every committed row, and
    /// nothing else.
    #[test]
    fn every_commit_is_in_the_log_a_crash_leaves_whatever_the_limit() {
        for limit in [1, 5_000, 1 << 20] {
            let path = scratch("commits");
            let ours = connect(&path, Some(vfs(limit).expect("registered")));
            ours.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB)")
                .expect("table");
            ours.pragma_update(None, "cache_size", 20)
                .expect("a small cache");
            let theirs = connect(&path, None);
            let (mut rows, mut bytes) = (0_i64, 0_i64);
            for round in 0..24_i64 {
                let (n, size) = match round % 4 {
                    0 => (1, 100),
                    1 => (3, 5_000),
                    2 => (60, 4_000),
                    _ => (400, 300),
                };
                ours.execute_batch("BEGIN IMMEDIATE").expect("begin");
                for i in 0..n {
                    ours.execute(
                        "INSERT INTO t (body) VALUES (zeroblob(?))",
                        [size + (i % 7)],
                    )
                    .expect("insert");
                    bytes += size + (i % 7);
                }
                // Pages written earlier in the transaction changed again.
                ours.execute("UPDATE t SET body = body WHERE id % 5 = 0", [])
                    .expect("update");
                ours.execute_batch("COMMIT").expect("commit");
                rows += n;
                assert_eq!(
                    after_a_crash(&path),
                    (rows, bytes, "ok".into()),
                    "round {round}"
                );
                if round % 5 == 4 {
                    let _: (i64, i64, i64) = theirs
                        .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                        })
                        .expect("checkpoint");
                }
                // A transaction that writes and is rolled back leaves nothing.
                ours.execute_batch("BEGIN IMMEDIATE").expect("begin");
                for _ in 0..50 {
                    ours.execute("INSERT INTO t (body) VALUES (zeroblob(4000))", [])
                        .expect("insert");
                }
                ours.execute_batch("ROLLBACK").expect("rollback");
                // Another connection commits where the rolled-back frames were.
                if round % 2 == 0 {
                    theirs
                        .execute("INSERT INTO t (body) VALUES (zeroblob(10))", [])
                        .expect("their insert");
                    rows += 1;
                    bytes += 10;
                }
                assert_eq!(
                    after_a_crash(&path),
                    (rows, bytes, "ok".into()),
                    "round {round}"
                );
            }
            drop(theirs);
            drop(ours);
            let _ = std::fs::remove_dir_all(path.parent().expect("directory"));
        }
    }

    #[test]
    fn zero_keeps_sqlites_own_writes() {
        assert_eq!(vfs(0), None);
        assert_eq!(vfs(4096), vfs(4096));
    }
}
