//! One build at a time per store. An OS file lock (flock) is released by
//! the kernel when its holder dies, so a killed build's lock is taken over
//! without any manual step; the file's text says who holds it.

use anyhow::Context;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

pub struct StoreLock {
    file: File,
}

impl StoreLock {
    /// Takes the lock; if another build holds it, tells `on_wait` who and
    /// waits (or fails at once when `wait` is false).
    pub fn acquire(store_root: &Path, wait: bool, on_wait: &dyn Fn(&str)) -> anyhow::Result<StoreLock> {
        let path = store_root.join("store.lock");
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let holder = holder_text(&mut file);
                if !wait {
                    anyhow::bail!("the store {} is in use by {holder}; try again when it finishes", store_root.display());
                }
                on_wait(&holder);
                file.lock().with_context(|| format!("cannot lock {}", path.display()))?;
            }
            Err(TryLockError::Error(e)) => return Err(e).with_context(|| format!("cannot lock {}", path.display())),
        }
        let me = format!("pid {} ({})\n", std::process::id(), std::env::args().collect::<Vec<_>>().join(" "));
        file.set_len(0)?;
        file.seek(SeekFrom::Start(0))?;
        file.write_all(me.as_bytes())?;
        Ok(StoreLock { file })
    }
}

fn holder_text(file: &mut File) -> String {
    let mut text = String::new();
    let _ = file.read_to_string(&mut text);
    let text = text.trim();
    if text.is_empty() { "another repro process".to_string() } else { text.to_string() }
}

impl Drop for StoreLock {
    fn drop(&mut self) {
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}
