//! `--file_slice_archive_script`, as Go runs it: a slice the limits emptied
//! has its data and index files renamed with a `.bak` suffix
//! ([`rename_slice`]; the channel directory is synced after), then `script <channel> <data.bak> <index.bak>` runs
//! on its own thread ([`ScriptRuns::start`]) so that the store's writes do
//! not wait for it. The script is expected to move or delete the files.
//! Each run's [`ArchiveDone`] is queued for the engine
//! ([`ScriptRuns::try_done`]) and the waker called; stopping waits for the
//! runs still going ([`ScriptRuns::join`]), as Go's store does on close.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};

use stan_core::stan::filestore::layout::{slice_data_name, slice_index_name, BACKUP_SUFFIX};
use stan_core::stan::filestore::ArchiveDone;

use crate::fsutil::{remove_file, StepError};

/// A slice whose files were renamed, for its script to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenamedSlice {
    /// The script.
    pub script: String,
    /// Channel name.
    pub channel: String,
    /// The data file's new path.
    pub data: PathBuf,
    /// The index file's new path.
    pub index: PathBuf,
}

/// What [`rename_slice`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Archived {
    /// Both files renamed: the script is to run over them.
    Renamed(RenamedSlice),
    /// A rename failed: both files were deleted instead; the outcome to
    /// report (no script runs).
    Deleted(ArchiveDone),
}

/// Renames slice `slice` of `channel` under the store directory `dir` for
/// `script`. Should a rename fail, both files are deleted instead (as Go
/// does); a failed deletion is the [`StepError`] of a failed store step.
/// The caller syncs the channel's directory (after starting the script,
/// so that a failed sync does not lose the run).
pub fn rename_slice(
    dir: &Path,
    channel: &str,
    slice: u64,
    script: &str,
) -> Result<Archived, StepError> {
    let channel_dir = dir.join(channel);
    let data = channel_dir.join(slice_data_name(slice));
    let index = channel_dir.join(slice_index_name(slice));
    let data_bak = with_suffix(&data);
    let index_bak = with_suffix(&index);
    let renamed = std::fs::rename(&data, &data_bak)
        .map_err(|e| StepError::new("rename", &data, e))
        .and_then(|()| {
            std::fs::rename(&index, &index_bak).map_err(|e| StepError::new("rename", &index, e))
        });
    let outcome = match renamed {
        Ok(()) => Archived::Renamed(RenamedSlice {
            script: script.to_owned(),
            channel: channel.to_owned(),
            data: data_bak,
            index: index_bak,
        }),
        Err(e) => {
            for path in [&data, &data_bak, &index] {
                remove_file(path)?;
            }
            Archived::Deleted(ArchiveDone {
                script: script.to_owned(),
                channel: channel.to_owned(),
                data: data_bak.display().to_string(),
                index: index_bak.display().to_string(),
                output: String::new(),
                result: Err(format!("{e} (the slice's files were deleted instead)")),
            })
        }
    };
    Ok(outcome)
}

fn with_suffix(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(BACKUP_SUFFIX);
    PathBuf::from(s)
}

/// The archive script's runs: started, and their outcomes queued. See the
/// module docs.
pub struct ScriptRuns {
    done_tx: Sender<ArchiveDone>,
    done_rx: Mutex<Receiver<ArchiveDone>>,
    running: Mutex<Vec<JoinHandle<()>>>,
    waker: Arc<dyn Fn() + Send + Sync>,
}

impl std::fmt::Debug for ScriptRuns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScriptRuns").finish_non_exhaustive()
    }
}

impl ScriptRuns {
    /// Runs reporting to `waker` once an outcome is queued.
    pub fn new(waker: Arc<dyn Fn() + Send + Sync>) -> ScriptRuns {
        let (done_tx, done_rx) = mpsc::channel();
        ScriptRuns {
            done_tx,
            done_rx: Mutex::new(done_rx),
            running: Mutex::new(Vec::new()),
            waker,
        }
    }

    /// Queues an outcome known without running anything (a failed rename).
    pub fn report(&self, done: ArchiveDone) {
        let _ = self.done_tx.send(done);
        (self.waker)();
    }

    /// Starts the script over `slice` on a thread of its own.
    pub fn start(&self, slice: RenamedSlice) {
        let tx = self.done_tx.clone();
        let waker = Arc::clone(&self.waker);
        let run = move || {
            let _ = tx.send(run_script(slice));
            waker();
        };
        let mut running = lock(&self.running);
        running.retain(|t| !t.is_finished());
        match thread::Builder::new()
            .name("stan-archive".to_owned())
            .spawn(run)
        {
            Ok(t) => running.push(t),
            Err(e) => {
                drop(running);
                self.report(ArchiveDone {
                    result: Err(format!("unable to start a thread for the script: {e}")),
                    ..not_run_yet()
                });
            }
        }
    }

    /// The next outcome, if one is queued.
    pub fn try_done(&self) -> Option<ArchiveDone> {
        lock(&self.done_rx).try_recv().ok()
    }

    /// Waits for the runs still going.
    pub fn join(&self) {
        let running = std::mem::take(&mut *lock(&self.running));
        for t in running {
            let _ = t.join();
        }
    }
}

fn not_run_yet() -> ArchiveDone {
    ArchiveDone {
        script: String::new(),
        channel: String::new(),
        data: String::new(),
        index: String::new(),
        output: String::new(),
        result: Ok(()),
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing panics while holding these locks; a poisoned one is fine.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Runs the script and waits for it: its output is standard output then
/// standard error.
fn run_script(slice: RenamedSlice) -> ArchiveDone {
    let output = Command::new(&slice.script)
        .arg(&slice.channel)
        .arg(&slice.data)
        .arg(&slice.index)
        .stdin(std::process::Stdio::null())
        .output();
    let (output, result) = match output {
        Ok(o) => {
            let mut text = String::from_utf8_lossy(&o.stdout).into_owned();
            text.push_str(&String::from_utf8_lossy(&o.stderr));
            let result = if o.status.success() {
                Ok(())
            } else {
                Err(o.status.to_string())
            };
            (text, result)
        }
        Err(e) => (String::new(), Err(e.to_string())),
    };
    ArchiveDone {
        script: slice.script,
        channel: slice.channel,
        data: slice.data.display().to_string(),
        index: slice.index.display().to_string(),
        output,
        result,
    }
}
