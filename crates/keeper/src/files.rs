//! Files that hold people's data, and files that come from others.
//!
//! What Lookout writes (the state file, the configuration, recordings) holds agent names and
//! chat text: it is created private to the user (0600 on Unix, in folders made 0700) and, where
//! a half-written file would lose something, written atomically: a temporary file created
//! fresh (never one that already exists, so a link planted at its name is not followed), flushed
//! to disk, renamed over the old file.
//!
//! What Lookout reads from folders others may fill (rules, rule tests, the configuration) is
//! read only when it is a regular file of a bounded size: a pipe would block the read forever, a
//! device or a huge file would exhaust memory.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// The largest rule, rule test or configuration file read.
pub const MAX_TEXT_FILE: u64 = 1024 * 1024;

/// Why a file was not read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("not a regular file (a folder, a pipe or a device); skipped")]
    NotRegular,
    #[error("larger than {} MiB; skipped", .max / (1024 * 1024))]
    TooLarge { max: u64 },
    #[error("not UTF-8 text")]
    NotText,
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl ReadError {
    /// True when the file is not there at all.
    pub fn is_not_found(&self) -> bool {
        matches!(self, ReadError::Io(e) if e.kind() == std::io::ErrorKind::NotFound)
    }
}

/// Read `path` as text if it is a regular file (links followed) of at most `max` bytes.
pub fn read_text(path: &Path, max: u64) -> Result<String, ReadError> {
    // Checked before opening: opening a pipe for reading waits for a writer.
    if !std::fs::metadata(path)?.is_file() {
        return Err(ReadError::NotRegular);
    }
    let file = std::fs::File::open(path)?;
    // And again on what was opened, in case the name was swapped in between.
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(ReadError::NotRegular);
    }
    if meta.len() > max {
        return Err(ReadError::TooLarge { max });
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(max + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(ReadError::TooLarge { max });
    }
    String::from_utf8(bytes).map_err(|_| ReadError::NotText)
}

/// Create `dir` and its missing parents; the ones created are private to the user (0700).
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir)
}

/// Create a new file at `path` that only the user can read and write. It must not exist yet:
/// nothing already there, not even a link, is opened.
pub fn create_new_private(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

/// Create (or empty) `path` for writing, private to the user: an existing file is replaced by
/// a new one, so it is 0600 whatever it was before.
pub fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        create_private_dir(dir)?;
    }
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    create_new_private(path)
}

/// Write `bytes` to `path` atomically and privately: a fresh temporary file beside it (0600),
/// flushed to disk, renamed over `path`, and the folder flushed. A crash at any point leaves
/// either the old file or the new one, never a mix; a link planted at the temporary name is
/// not followed.
pub fn write_private_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    create_private_dir(dir)?;
    let tmp = temp_name(path);
    let mut file = match create_new_private(&tmp) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            // Left by a crash, or planted: removed (a link is removed, not followed).
            std::fs::remove_file(&tmp)?;
            create_new_private(&tmp)?
        }
        Err(e) => return Err(e),
    };
    let written = file.write_all(bytes).and_then(|()| file.sync_all());
    drop(file);
    if let Err(e) = written.and_then(|()| std::fs::rename(&tmp, path)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// `<name>.tmp-<pid>` beside `path`.
fn temp_name(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!("{name}.tmp-{}", std::process::id()))
}

/// A folder of its own for one run of a demo: made fresh with an unpredictable name, private to
/// the user (0700), removed when dropped. Another local user can neither plant rules in it nor
/// links where its files will be written.
pub fn private_temp_dir(prefix: &str) -> std::io::Result<tempfile::TempDir> {
    let mut builder = tempfile::Builder::new();
    builder.prefix(prefix);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o700));
    }
    builder.tempdir()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[cfg(unix)]
    #[test]
    fn an_atomic_write_is_private_and_follows_no_planted_link() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        let victim = d.join("victim");
        std::fs::write(&victim, "keep me").unwrap();
        let path = d.join("state.json");
        std::os::unix::fs::symlink(&victim, temp_name(&path)).unwrap();
        write_private_atomic(&path, b"{}").unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{}");
        assert_eq!(mode(&path), 0o600);
        assert!(!temp_name(&path).exists(), "no temporary file left");
        // A file that was readable by others before is private after.
        std::fs::write(d.join("open.toml"), "x").unwrap();
        let p = d.join("open.toml");
        write_private_atomic(&p, b"y").unwrap();
        assert_eq!(mode(&p), 0o600);
        let rec = d.join("sub/rec.jsonl");
        create_private(&rec).unwrap();
        assert_eq!((mode(&rec), mode(&d.join("sub"))), (0o600, 0o700));
    }

    #[test]
    fn demo_folders_are_fresh_private_and_go_away() {
        let a = private_temp_dir("lookout-test-").unwrap();
        let b = private_temp_dir("lookout-test-").unwrap();
        assert_ne!(a.path(), b.path());
        #[cfg(unix)]
        assert_eq!(mode(a.path()), 0o700);
        let path = a.path().to_path_buf();
        drop(a);
        assert!(!path.exists());
    }
}
