//! Everything the command line writes: standard output, notes on standard error, and
//! output sets (`run --out`, `run --keys-out`, `sweep --out`).
//!
//! **Streams.** All of stdout goes through [`print`], which returns the I/O error instead of
//! panicking as `println!` does; [`super::main`] turns a closed pipe (EPIPE, e.g.
//! `qkdsim run … | head -c 10`) into a quiet exit 0 (the reader chose to stop reading; this
//! is not a failure of qkdsim) and any other stdout error (ENOSPC on `/dev/full`) into one
//! line on stderr and exit 2. Notes and errors on stderr go through [`note`], which ignores
//! write errors: there is nowhere left to report them, and a failed note must not turn a
//! finished computation into a crash.
//!
//! **Output sets are whole or not at all.** A set's files are written into a temporary
//! directory beside the target (`.NAME.qkdsim-tmp-PID`) and the directory is renamed into
//! place once, so the target is never seen half-written. An existing target is replaced as
//! a whole only if qkdsim wrote it (it holds the marker file [`MARKER`], or only files that
//! the new set writes) or it is empty; a directory with other files is refused, so a
//! mistyped `--out ~` cannot delete anything. Replacing renames the old directory aside,
//! renames the new one into place and then removes the old one; if the second rename fails
//! the old directory is renamed back. On SIGINT/SIGTERM a handler thread removes every
//! registered temporary and exits with 130/143; it takes the same lock as file writes and
//! the commit, so it never runs between the two renames of a replacement. Only SIGKILL or a
//! power loss can leave a hidden temporary behind (the target is still whole: old or new).
//!
//! **Test-only fault injection** (environment variables read only here, undocumented in
//! `--help`; tests/cli_io.rs uses them): `QKDSIM_FAIL_WRITE_AFTER=N` makes every file
//! write after the first N in this process fail; `QKDSIM_FAIL_RENAME=1` makes the rename of a
//! finished set into place fail; `QKDSIM_WRITE_DELAY_MS=N` sleeps N ms after each file so a
//! test can send a signal during the write phase.

use anyhow::{Context, bail};
use std::fmt;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};

/// Name of the marker file every output set carries, so a later run may replace the
/// directory as a whole without deleting files a user put there.
pub const MARKER: &str = ".qkdsim-output";

/// A failed write to standard output, kept as its own type so `main` can tell a closed
/// pipe (quiet exit) from a full device (error).
#[derive(Debug)]
pub struct StdoutError(pub io::Error);

impl fmt::Display for StdoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The I/O error itself is the source, printed after this by `{:#}`.
        f.write_str("cannot write to standard output")
    }
}

impl std::error::Error for StdoutError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

/// Writes `text` to stdout and flushes it; the one path to stdout in the CLI.
pub fn print(text: &str) -> anyhow::Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| StdoutError(e).into())
}

/// Writes one line to stderr, ignoring errors (see the module documentation).
pub fn note(args: fmt::Arguments<'_>) {
    let mut err = io::stderr().lock();
    let _ = err.write_fmt(args);
    let _ = err.write_all(b"\n");
}

/// True if `e` is a closed pipe on stdout: the reader went away, which ends qkdsim quietly.
pub fn is_closed_stdout(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<StdoutError>()
            .is_some_and(|s| s.0.kind() == io::ErrorKind::BrokenPipe)
    })
}

/// Temporary directories to remove if a signal ends the process. Its lock is held while a
/// file is written into a temporary and during a commit, so the signal thread never
/// removes a directory mid-write or runs between the renames of a replacement.
static TEMPS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn temps() -> MutexGuard<'static, Vec<PathBuf>> {
    // A panic while holding the lock cannot leave the list inconsistent (push/retain only).
    TEMPS.lock().unwrap_or_else(|e| e.into_inner())
}

/// Installs the SIGINT/SIGTERM handler once. The handler is a thread reading signal-hook's
/// self-pipe, so it may lock, remove files and exit (none of which is allowed inside a
/// signal handler proper).
fn install_signal_cleanup() -> anyhow::Result<()> {
    static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();
    INSTALLED
        .get_or_init(|| {
            use signal_hook::consts::{SIGINT, SIGTERM};
            let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])
                .map_err(|e| e.to_string())?;
            std::thread::Builder::new()
                .name("qkdsim-signals".into())
                .spawn(move || {
                    if let Some(sig) = signals.forever().next() {
                        let list = temps();
                        for dir in list.iter() {
                            let _ = std::fs::remove_dir_all(dir);
                        }
                        // 128 + signal number, as a shell reports a process ended by it.
                        std::process::exit(128 + sig);
                    }
                })
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
        .clone()
        .map_err(|e| anyhow::anyhow!("cannot install the SIGINT/SIGTERM handler: {e}"))
}

/// Test-only fault injection (see the module documentation).
struct Faults {
    fail_write_after: Option<u64>,
    fail_rename: bool,
    delay_ms: u64,
}

fn faults() -> &'static Faults {
    static FAULTS: OnceLock<Faults> = OnceLock::new();
    FAULTS.get_or_init(|| {
        let var = |k: &str| {
            std::env::var(k)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        Faults {
            fail_write_after: var("QKDSIM_FAIL_WRITE_AFTER"),
            fail_rename: var("QKDSIM_FAIL_RENAME").is_some_and(|v| v != 0),
            delay_ms: var("QKDSIM_WRITE_DELAY_MS").unwrap_or(0),
        }
    })
}

static FILES_WRITTEN: AtomicU64 = AtomicU64::new(0);

/// The parent directory and final name of a set's target.
fn split_target(target: &Path, flag: &str) -> anyhow::Result<(PathBuf, String)> {
    let Some(name) = target.file_name() else {
        bail!(
            "{flag} {}: must name a directory to create or replace, such as out/run1 \
             (not . or ..)",
            target.display()
        );
    };
    let parent = target
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    Ok((parent.to_path_buf(), name.to_string_lossy().into_owned()))
}

/// The temporary directory of a set: hidden, beside the target, unique per process.
fn temp_name(parent: &Path, name: &str) -> PathBuf {
    parent.join(format!(".{name}.qkdsim-tmp-{}", std::process::id()))
}

/// What stands at the target now, and whether a set may take its place.
fn check_existing(
    target: &Path,
    flag: &str,
    may_replace: &dyn Fn(&str) -> bool,
) -> anyhow::Result<()> {
    let meta = match std::fs::symlink_metadata(target) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(e).with_context(|| format!("{flag} {}: cannot inspect", target.display()));
        }
    };
    if meta.file_type().is_symlink() {
        bail!(
            "{flag} {}: is a symbolic link; give the directory it points to (the output set \
             replaces the directory as a whole)",
            target.display()
        );
    }
    if !meta.is_dir() {
        bail!(
            "{flag} {}: exists and is not a directory; give a new or empty directory, or \
             one written by an earlier qkdsim run",
            target.display()
        );
    }
    let entries = std::fs::read_dir(target)
        .with_context(|| format!("{flag} {}: cannot list the directory", target.display()))?;
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry
            .with_context(|| format!("{flag} {}: cannot list the directory", target.display()))?;
        let is_file = entry.file_type().map(|t| t.is_file()).unwrap_or(false);
        names.push((entry.file_name().to_string_lossy().into_owned(), is_file));
    }
    if names.iter().any(|(n, f)| *f && n == MARKER) {
        return Ok(());
    }
    if let Some((foreign, _)) = names.iter().find(|(n, f)| !*f || !may_replace(n)) {
        bail!(
            "{flag} {}: the directory holds {foreign}, which qkdsim did not write; the output \
             set replaces the directory as a whole, so give a new or empty directory, or one \
             written by an earlier qkdsim run",
            target.display()
        );
    }
    Ok(())
}

/// Checks before any work starts that `target` can take an output set, so a taken name
/// fails in milliseconds instead of after the simulation. [`OutputSet::commit`] checks
/// again with the exact file list.
pub fn preflight(target: &Path, flag: &str) -> anyhow::Result<()> {
    let (parent, name) = split_target(target, flag)?;
    match std::fs::metadata(&parent) {
        Ok(m) if !m.is_dir() => bail!(
            "{flag} {}: cannot create the parent directory {}: a file of that name exists",
            target.display(),
            parent.display()
        ),
        // Probe that the parent takes the temporary directory (a read-only or foreign
        // directory fails here, before the simulation, with the message begin() would give).
        Ok(_) => {
            let tmp = temp_name(&parent, &name);
            create_temp(&tmp, target, flag)?;
            let _ = std::fs::remove_dir(&tmp);
        }
        // Created later by begin(), like `mkdir -p`.
        Err(_) => {}
    }
    check_existing(target, flag, &|n| {
        [".json", ".csv", ".md", ".png", ".svg", ".key"]
            .iter()
            .any(|ext| n.ends_with(ext))
    })
}

/// Creates the temporary directory `tmp` of the set bound for `target`.
fn create_temp(tmp: &Path, target: &Path, flag: &str) -> anyhow::Result<()> {
    std::fs::create_dir(tmp).with_context(|| {
        format!(
            "{flag} {}: cannot create the temporary directory {}",
            target.display(),
            tmp.display()
        )
    })
}

/// A set of files written into a temporary directory and renamed into place as a whole by
/// [`OutputSet::commit`]; dropped without a commit, it removes its temporary.
pub struct OutputSet {
    flag: &'static str,
    target: PathBuf,
    tmp: PathBuf,
    names: Vec<String>,
    committed: bool,
}

impl OutputSet {
    /// Creates the temporary directory beside `target` (creating `target`'s parents);
    /// `flag` names the option in error messages.
    pub fn begin(target: &Path, flag: &'static str) -> anyhow::Result<Self> {
        let (parent, name) = split_target(target, flag)?;
        std::fs::create_dir_all(&parent).with_context(|| {
            format!(
                "{flag} {}: cannot create the parent directory {}",
                target.display(),
                parent.display()
            )
        })?;
        install_signal_cleanup()?;
        let tmp = temp_name(&parent, &name);
        let mut list = temps();
        // Same name and process id: left by an earlier set of this very process that was
        // dropped mid-cleanup, or by a dead process whose id was reused. Never a user's file.
        let _ = std::fs::remove_dir_all(&tmp);
        create_temp(&tmp, target, flag)?;
        list.push(tmp.clone());
        Ok(Self {
            flag,
            target: target.to_path_buf(),
            tmp,
            names: Vec::new(),
            committed: false,
        })
    }

    /// The directory this set will become.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// True if `other` names the same directory as this set's target (so `run --out D
    /// --keys-out D` writes one set).
    pub fn same_target(&self, other: &Path) -> bool {
        let resolve = |p: &Path| -> Option<PathBuf> {
            let (parent, name) = split_target(p, "").ok()?;
            Some(std::fs::canonicalize(parent).ok()?.join(name))
        };
        match (resolve(&self.target), resolve(other)) {
            (Some(a), Some(b)) => a == b,
            _ => self.target == other,
        }
    }

    /// Writes one file of the set; errors name the final path and what failed.
    pub fn write(&mut self, name: &str, bytes: &[u8]) -> anyhow::Result<()> {
        let final_path = self.target.join(name);
        {
            let _lock = temps();
            let n = FILES_WRITTEN.fetch_add(1, Ordering::SeqCst);
            let path = self.tmp.join(name);
            let result = (|| -> io::Result<()> {
                if faults().fail_write_after.is_some_and(|limit| n >= limit) {
                    return Err(io::Error::other(
                        "injected write failure (QKDSIM_FAIL_WRITE_AFTER, test only)",
                    ));
                }
                let mut f = std::fs::File::create(&path)?;
                f.write_all(bytes)?;
                // Data on disk before the rename makes it visible (ext4 and others may
                // otherwise show an empty file after a crash).
                f.sync_all()
            })();
            result.with_context(|| {
                // The temporary is removed when the set drops, so the message names the
                // file's final path and says the target is untouched.
                format!(
                    "{} {}: cannot write {}; {} is left as it was",
                    self.flag,
                    self.target.display(),
                    final_path.display(),
                    self.target.display()
                )
            })?;
        }
        self.names.push(name.to_string());
        if faults().delay_ms > 0 {
            std::thread::sleep(std::time::Duration::from_millis(faults().delay_ms));
        }
        Ok(())
    }

    /// Renames the finished set into place (see the module documentation for replacing an
    /// existing directory).
    pub fn commit(mut self) -> anyhow::Result<()> {
        // Held across the renames: the signal thread waits until the target is whole again.
        // The guard is released before `self` drops on error (Drop takes the same lock).
        let result = {
            let mut list = temps();
            let result = self.commit_locked();
            if result.is_ok() {
                list.retain(|p| p != &self.tmp);
            }
            result
        };
        self.committed = result.is_ok();
        result
    }

    fn commit_locked(&self) -> anyhow::Result<()> {
        let (flag, target, tmp) = (self.flag, &self.target, &self.tmp);
        let ctx = |what: &str| format!("{flag} {}: {what}", target.display());
        std::fs::write(
            tmp.join(MARKER),
            "Written by qkdsim. The next qkdsim run with this directory as --out or \
             --keys-out replaces the directory as a whole.\n",
        )
        .with_context(|| ctx(&format!("cannot write {}", tmp.join(MARKER).display())))?;
        check_existing(target, flag, &|n| self.names.iter().any(|m| m == n))?;
        // The final rename, or the injected failure in its place (test only).
        let rename_new = || {
            if faults().fail_rename {
                Err(io::Error::other(
                    "injected rename failure (QKDSIM_FAIL_RENAME, test only)",
                ))
            } else {
                std::fs::rename(tmp, target)
            }
        };
        let is_dir = std::fs::symlink_metadata(target).is_ok_and(|m| m.is_dir());
        let empty = is_dir && std::fs::read_dir(target).is_ok_and(|mut d| d.next().is_none());
        if !is_dir || empty {
            // rename(2) creates the target, or replaces an empty directory, in one step.
            rename_new()
                .with_context(|| ctx(&format!("cannot rename {} into place", tmp.display())))?;
        } else {
            let (parent, name) = split_target(target, flag)?;
            let old = parent.join(format!(".{name}.qkdsim-old-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&old);
            std::fs::rename(target, &old).with_context(|| {
                ctx(&format!(
                    "cannot move the previous output aside to {}",
                    old.display()
                ))
            })?;
            if let Err(e) = rename_new() {
                // Put the old set back: the target must hold the old set or the new one.
                let mut msg = format!("cannot rename {} into place: {e}", tmp.display());
                match std::fs::rename(&old, target) {
                    Ok(()) => msg.push_str("; the previous output is unchanged"),
                    Err(r) => msg.push_str(&format!(
                        "; and could not move the previous output back from {}: {r}",
                        old.display()
                    )),
                }
                bail!(ctx(&msg));
            }
            if let Err(e) = std::fs::remove_dir_all(&old) {
                note(format_args!(
                    "warning: {flag} {}: new output in place, but could not remove the \
                     previous output at {}: {e}",
                    target.display(),
                    old.display()
                ));
            }
        }
        // Make the rename durable (best effort: not every file system supports it).
        if let Ok((parent, _)) = split_target(target, flag)
            && let Ok(d) = std::fs::File::open(parent)
        {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

impl Drop for OutputSet {
    fn drop(&mut self) {
        if !self.committed {
            let mut list = temps();
            let _ = std::fs::remove_dir_all(&self.tmp);
            list.retain(|p| p != &self.tmp);
        }
    }
}
