//! [`FileStore`]: one JSON file per key in a directory of its own (0700), each file 0600, written
//! to a temporary file, fsynced, renamed over the old one, and the directory fsynced, so a crash
//! or SIGKILL at any point leaves the old value or the new one. Locks are `<key>.lock` files held
//! with the operating system's advisory lock (released when the holder exits, even by SIGKILL).
//! Removing a key also removes its lock file when nobody holds it; a locker that finds its lock
//! file unlinked under it after waiting retries on the new one, so removal never lets two
//! holders in.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use super::{check_key, BoxFuture, SessionStore, StorageError, StoreLock};

/// JSON files in a directory.
#[derive(Debug, Clone)]
pub struct FileStore {
    dir: PathBuf,
}

fn private_options() -> OpenOptions {
    let mut options = OpenOptions::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
}

impl FileStore {
    /// A store in `dir` (created, with mode 0700, if missing).
    pub fn new(dir: impl Into<PathBuf>) -> Result<Self, StorageError> {
        let dir = dir.into();
        let what = || format!("create {}", dir.display());
        fs::create_dir_all(&dir).map_err(|e| StorageError::new(what(), e))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))
                .map_err(|e| StorageError::new(what(), e))?;
        }
        Ok(Self { dir })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file holding `key`.
    pub fn path_of(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.json"))
    }

    fn read(path: &Path) -> Result<Option<String>, StorageError> {
        match fs::read_to_string(path) {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StorageError::new(format!("read {}", path.display()), e)),
        }
    }

    fn lock_path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.lock"))
    }

    /// Removes `<key>.lock` unless someone holds it.
    fn remove_unheld_lock(&self, key: &str) {
        let path = self.lock_path(key);
        let Ok(file) = OpenOptions::new().read(true).write(true).open(&path) else {
            return;
        };
        if file.try_lock().is_ok() && same_file(&file, &path) {
            let _ = fs::remove_file(&path);
        }
    }

    fn sync_dir(&self) {
        // Makes the rename durable; not every filesystem allows it, and losing it only loses
        // durability, never atomicity.
        if let Ok(dir) = File::open(&self.dir) {
            let _ = dir.sync_all();
        }
    }
}

/// True when `file` is the file currently at `path`.
fn same_file(file: &File, path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (file.metadata(), fs::metadata(path)) {
            (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (file, path);
        true
    }
}

impl SessionStore for FileStore {
    fn load(&self, key: &str) -> Result<Option<String>, StorageError> {
        check_key(key)?;
        Self::read(&self.path_of(key))
    }

    fn save(&self, key: &str, value: &str) -> Result<(), StorageError> {
        check_key(key)?;
        let target = self.path_of(key);
        let suffix =
            crate::random::random_urlsafe(6).map_err(|e| StorageError::new("temp name", e))?;
        let temp = self
            .dir
            .join(format!(".{key}.{}.{suffix}.tmp", std::process::id()));
        let what = || format!("write {}", target.display());
        let result = (|| {
            let mut file = private_options().write(true).create_new(true).open(&temp)?;
            file.write_all(value.as_bytes())?;
            file.sync_all()?;
            fs::rename(&temp, &target)
        })();
        if let Err(e) = result {
            let _ = fs::remove_file(&temp);
            return Err(StorageError::new(what(), e));
        }
        self.sync_dir();
        Ok(())
    }

    fn remove(&self, key: &str) -> Result<(), StorageError> {
        check_key(key)?;
        let path = self.path_of(key);
        let result = match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StorageError::new(format!("remove {}", path.display()), e)),
        };
        self.remove_unheld_lock(key);
        self.sync_dir();
        result
    }

    fn set_aside(&self, key: &str) -> Result<Option<String>, StorageError> {
        check_key(key)?;
        let path = self.path_of(key);
        let stamp = crate::clock::Clock::now_unix(&crate::clock::SystemClock);
        let aside = self.dir.join(format!("{key}.unreadable-{stamp}.json.bak"));
        match fs::rename(&path, &aside) {
            Ok(()) => {
                self.sync_dir();
                Ok(Some(aside.display().to_string()))
            }
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StorageError::new(
                format!("move aside {}", path.display()),
                e,
            )),
        }
    }

    fn take(&self, key: &str) -> Result<Option<String>, StorageError> {
        check_key(key)?;
        // Renaming is atomic: of two processes taking the same key, only one succeeds.
        let path = self.path_of(key);
        let suffix =
            crate::random::random_urlsafe(6).map_err(|e| StorageError::new("temp name", e))?;
        let taken = self.dir.join(format!(".{key}.{suffix}.taken"));
        match fs::rename(&path, &taken) {
            Ok(()) => {
                let value = Self::read(&taken);
                let _ = fs::remove_file(&taken);
                value
            }
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StorageError::new(format!("take {}", path.display()), e)),
        }
    }

    fn keys(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        let entries = fs::read_dir(&self.dir)
            .map_err(|e| StorageError::new(format!("list {}", self.dir.display()), e))?;
        Ok(entries
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().into_string().ok())
            .filter_map(|name| name.strip_suffix(".json").map(str::to_string))
            .filter(|key| key.starts_with(prefix) && !key.starts_with('.'))
            .collect())
    }

    fn lock<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<StoreLock, StorageError>> {
        let path = self.lock_path(key);
        Box::pin(async move {
            check_key(key)?;
            let what = format!("lock {}", path.display());
            let file = tokio::task::spawn_blocking(move || -> std::io::Result<File> {
                loop {
                    let file = private_options()
                        .read(true)
                        .write(true)
                        .create(true)
                        .truncate(false)
                        .open(&path)?;
                    file.lock()?;
                    // The file may have been removed (logout) while we waited: then this lock
                    // guards nothing; take the lock on the file now at the path.
                    if same_file(&file, &path) {
                        return Ok(file);
                    }
                }
            })
            .await
            .map_err(|e| StorageError::new(what.clone(), e))?
            .map_err(|e| StorageError::new(what, e))?;
            // Dropping the File closes it, which releases the lock.
            Ok(Box::new(file) as StoreLock)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "sipauth-filestore-{name}-{}-{}",
            std::process::id(),
            crate::random::random_urlsafe(4).unwrap()
        ));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn saves_loads_takes_and_lists() {
        let store = FileStore::new(temp_dir("basic")).unwrap();
        assert_eq!(store.load("a").unwrap(), None);
        store.save("a", "one").unwrap();
        store.save("a", "two").unwrap();
        store.save("p_1", "x").unwrap();
        assert_eq!(store.load("a").unwrap().as_deref(), Some("two"));
        assert_eq!(store.keys("p_").unwrap(), vec!["p_1".to_string()]);
        assert_eq!(store.take("p_1").unwrap().as_deref(), Some("x"));
        assert_eq!(store.take("p_1").unwrap(), None);
        store.remove("a").unwrap();
        store.remove("a").unwrap();
        assert_eq!(store.load("a").unwrap(), None);
        // No temporary files are left behind.
        let leftovers: Vec<_> = fs::read_dir(store.dir())
            .unwrap()
            .filter_map(Result::ok)
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[cfg(unix)]
    #[test]
    fn files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let store = FileStore::new(temp_dir("modes")).unwrap();
        store.save("session", "{}").unwrap();
        let mode = fs::metadata(store.path_of("session"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let dir_mode = fs::metadata(store.dir()).unwrap().permissions().mode();
        assert_eq!(dir_mode & 0o777, 0o700);
    }

    #[test]
    fn rejects_keys_that_escape_the_directory() {
        let store = FileStore::new(temp_dir("keys")).unwrap();
        for bad in ["../x", "a/b", "", ".hidden", "a b"] {
            assert!(store.save(bad, "v").is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn removing_a_key_removes_its_unheld_lock_file() {
        let store = FileStore::new(temp_dir("unlock")).unwrap();
        store.save("session", "{}").unwrap();
        drop(store.lock("session").await.unwrap());
        assert!(store.dir().join("session.lock").exists());
        store.remove("session").unwrap();
        assert!(!store.dir().join("session.lock").exists());
        // A held lock is left alone.
        let held = store.lock("session").await.unwrap();
        store.remove("session").unwrap();
        assert!(store.dir().join("session.lock").exists());
        drop(held);
    }

    #[test]
    fn set_aside_keeps_the_value_under_another_name() {
        let store = FileStore::new(temp_dir("aside")).unwrap();
        store.save("session", "garbage").unwrap();
        let moved = store.set_aside("session").unwrap().unwrap();
        assert_eq!(store.load("session").unwrap(), None);
        assert_eq!(std::fs::read_to_string(moved).unwrap(), "garbage");
    }

    #[tokio::test]
    async fn lock_is_exclusive() {
        let store = FileStore::new(temp_dir("lock")).unwrap();
        let first = store.lock("session").await.unwrap();
        let second = store.lock("session");
        let waited = tokio::time::timeout(std::time::Duration::from_millis(200), second).await;
        assert!(waited.is_err(), "the second lock must wait");
        drop(first);
        store.lock("session").await.unwrap();
    }
}
