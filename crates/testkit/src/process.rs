//! A started process that does not outlive its test.

use std::fs::File;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{ChildStdout, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::wait::{Condition, POLL, TimedOut};

/// How many lines of the log a failure message quotes.
const LOG_TAIL: usize = 60;

/// Where a [`Child`]'s stdout goes.
#[derive(Debug, Clone, Copy)]
pub enum Stdout<'a> {
    /// Discarded (`/dev/null`).
    Discard,
    /// Appended to this file (created if missing); read back with [`Child::stdout`].
    File(&'a Path),
    /// A pipe, taken with [`Child::take_stdout`].
    Piped,
}

/// A process a test started. Its stdin is `/dev/null` and its stderr (the log) is appended to a
/// file, so it survives restarts and can be quoted when the test fails. Dropping it kills the
/// process (SIGKILL) if it is still running and reaps it, so no process outlives its test, also
/// when the test panics.
#[derive(Debug)]
pub struct Child {
    name: String,
    inner: std::process::Child,
    log: PathBuf,
    stdout: Option<PathBuf>,
}

impl Child {
    /// Starts `cmd` with its stderr appended to `log` (created if missing) and stdout as
    /// `stdout` says. `name` names the process in messages.
    ///
    /// # Panics
    ///
    /// When a file cannot be opened or the process cannot be started.
    pub fn spawn(name: &str, cmd: &mut Command, log: &Path, stdout: Stdout<'_>) -> Child {
        let append = |p: &Path| {
            File::options()
                .create(true)
                .append(true)
                .open(p)
                .unwrap_or_else(|e| panic!("{name}: cannot open {}: {e}", p.display()))
        };
        let (out, stdout_file) = match stdout {
            Stdout::Discard => (Stdio::null(), None),
            Stdout::File(p) => (Stdio::from(append(p)), Some(p.to_path_buf())),
            Stdout::Piped => (Stdio::piped(), None),
        };
        let inner = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(append(log))
            .spawn()
            .unwrap_or_else(|e| panic!("{name} cannot be started ({:?}): {e}", cmd.get_program()));
        Child { name: name.to_string(), inner, log: log.to_path_buf(), stdout: stdout_file }
    }

    /// The name given to [`Child::spawn`].
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.inner.id()
    }

    /// The file the process's stderr goes to.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// What the process has logged (its stderr) so far; empty when nothing or unreadable.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// What the process has written to stdout so far, when it goes to a file
    /// ([`Stdout::File`]); empty otherwise.
    pub fn stdout(&self) -> String {
        self.stdout.as_ref().and_then(|p| std::fs::read_to_string(p).ok()).unwrap_or_default()
    }

    /// The stdout pipe of a process started with [`Stdout::Piped`] (once).
    pub fn take_stdout(&mut self) -> Option<ChildStdout> {
        self.inner.stdout.take()
    }

    /// The exit status, if the process has exited (without waiting).
    ///
    /// # Panics
    ///
    /// When the status cannot be queried.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.inner.try_wait().unwrap_or_else(|e| panic!("{}: waiting on it: {e}", self.name))
    }

    /// Sends signal `sig` (a name such as `TERM`, `INT` or `KILL`) with the `kill` utility;
    /// does nothing when the process has already exited.
    ///
    /// # Panics
    ///
    /// When `kill` fails while the process is still running.
    pub fn signal(&mut self, sig: &str) {
        if self.try_wait().is_some() {
            return;
        }
        if let Err(e) = self.send(sig) {
            // It may have exited between the check and the signal.
            assert!(self.try_wait().is_some(), "kill -{sig} {} ({}): {e}", self.id(), self.name);
        }
    }

    /// Runs `kill -SIG PID`.
    fn send(&self, sig: &str) -> Result<(), String> {
        let pid = self.id().to_string();
        match Command::new("kill").args([&format!("-{sig}"), &pid]).stderr(Stdio::null()).status() {
            Ok(status) if status.success() => Ok(()),
            Ok(status) => Err(status.to_string()),
            Err(e) => Err(format!("kill cannot be run: {e}")),
        }
    }

    /// Kills the process (SIGKILL) if it is still running, and reaps it. Never panics, so it
    /// is safe in `Drop` while a test unwinds.
    pub fn kill(&mut self) {
        if let Ok(None) = self.inner.try_wait() {
            let _ = self.inner.kill();
        }
        let _ = self.inner.wait();
    }

    /// SIGTERM, then waits up to `timeout` (polling every [`POLL`]) for the exit; SIGKILL if it
    /// is still running then. Returns the exit status when the process exited on its own,
    /// `None` when it had to be killed. Never panics, so it is safe in `Drop`.
    pub fn terminate(&mut self, timeout: Duration) -> Option<ExitStatus> {
        if let Ok(Some(status)) = self.inner.try_wait() {
            return Some(status);
        }
        let _ = self.send("TERM");
        let exited = crate::wait::try_wait_for("the exit", timeout, POLL, || self.inner.try_wait().ok().flatten()).ok();
        if exited.is_none() {
            self.kill();
        }
        exited
    }

    /// Waits (blocking, polling every `poll`) until the process exits; returns its status.
    ///
    /// # Panics
    ///
    /// When it is still running after `timeout`; the message quotes the end of its log.
    #[track_caller]
    pub fn wait_exit(&mut self, timeout: Duration, poll: Duration) -> ExitStatus {
        match crate::wait::try_wait_for(&format!("{} to exit", self.name), timeout, poll, || self.try_wait()) {
            Ok(status) => status,
            Err(e) => panic!("{e}; log:\n{}", crate::tail(&self.log(), LOG_TAIL)),
        }
    }

    /// [`Child::wait_exit`] for async tests (sleeps on the tokio timer).
    ///
    /// # Panics
    ///
    /// When it is still running after `timeout`; the message quotes the end of its log.
    pub async fn wait_exit_async(&mut self, timeout: Duration, poll: Duration) -> ExitStatus {
        let what = format!("{} to exit", self.name);
        let exited = crate::wait::try_wait_for_async(&what, timeout, poll, || {
            let status = self.try_wait();
            async move { status }
        })
        .await;
        exited.unwrap_or_else(|e| panic!("{e}; log:\n{}", crate::tail(&self.log(), LOG_TAIL)))
    }

    /// Polls `cond` (given this process, e.g. to read its log) every `poll` until it holds, like
    /// [`crate::wait_for`], but fails at once when the process exits first. Blocks the thread.
    ///
    /// # Panics
    ///
    /// When the process exits before `cond` holds, or `cond` does not hold within `timeout`;
    /// the message quotes the end of the process's log.
    #[track_caller]
    pub fn wait_until<C: Condition>(
        &mut self,
        what: &str,
        timeout: Duration,
        poll: Duration,
        mut cond: impl FnMut(&Child) -> C,
    ) -> C::Output {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(v) = cond(self).done() {
                return v;
            }
            self.check_timeout(what, timeout, deadline);
            std::thread::sleep(poll);
        }
    }

    /// [`Child::wait_until`] for async tests (sleeps on the tokio timer). `cond` is given this
    /// process and returns a future, which may not borrow the process: read what it needs
    /// (e.g. [`Child::log`]) before building the future.
    ///
    /// # Panics
    ///
    /// When the process exits before `cond` holds, or `cond` does not hold within `timeout`;
    /// the message quotes the end of the process's log.
    pub async fn wait_until_async<C, F, Fut>(
        &mut self,
        what: &str,
        timeout: Duration,
        poll: Duration,
        mut cond: F,
    ) -> C::Output
    where
        C: Condition,
        F: FnMut(&Child) -> Fut,
        Fut: Future<Output = C>,
    {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(v) = cond(self).await.done() {
                return v;
            }
            self.check_timeout(what, timeout, deadline);
            tokio::time::sleep(poll).await;
        }
    }

    /// Panics when the process has exited or `deadline` has passed, quoting the log.
    #[track_caller]
    fn check_timeout(&mut self, what: &str, timeout: Duration, deadline: Instant) {
        if let Some(status) = self.try_wait() {
            panic!("{} exited ({status}) before {what}; log:\n{}", self.name, crate::tail(&self.log(), LOG_TAIL));
        }
        if Instant::now() >= deadline {
            let e = TimedOut { what: what.to_string(), timeout };
            panic!("{}: {e}; log:\n{}", self.name, crate::tail(&self.log(), LOG_TAIL));
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        self.kill();
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn captures_output_and_reports_the_exit() {
        let dir = tempfile::tempdir().expect("temp dir");
        let dir = dir.path();
        let (log, out) = (dir.join("sh.log"), dir.join("sh.out"));
        let mut sh = Command::new("sh");
        sh.args(["-c", "echo to-stdout; echo to-stderr >&2; exit 3"]);
        let mut child = Child::spawn("sh", &mut sh, &log, Stdout::File(&out));
        let status = child.wait_exit(Duration::from_secs(10), POLL);
        assert_eq!(status.code(), Some(3));
        assert_eq!(child.stdout(), "to-stdout\n");
        assert_eq!(child.log(), "to-stderr\n");
    }

    #[test]
    fn wait_until_fails_when_the_process_exits_first() {
        let dir = tempfile::tempdir().expect("temp dir");
        let dir = dir.path();
        let mut sh = Command::new("sh");
        sh.args(["-c", "echo dying >&2; exit 1"]);
        let mut child = Child::spawn("quitter", &mut sh, &dir.join("log"), Stdout::Discard);
        let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            child.wait_until("a miracle", Duration::from_secs(10), POLL, |_| false)
        }))
        .expect_err("the wait fails");
        let msg = panic.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(msg.starts_with("quitter exited (exit status: 1) before a miracle"), "{msg}");
        assert!(msg.contains("dying"), "the log is quoted: {msg}");
    }

    #[test]
    fn terminate_and_drop_stop_the_process() {
        let dir = tempfile::tempdir().expect("temp dir");
        let dir = dir.path();
        let mut sleeper = Child::spawn("sleep", Command::new("sleep").arg("60"), &dir.join("log"), Stdout::Discard);
        let status = sleeper.terminate(Duration::from_secs(10)).expect("sleep exits on SIGTERM");
        assert!(!status.success());

        let sleeper = Child::spawn("sleep", Command::new("sleep").arg("60"), &dir.join("log"), Stdout::Discard);
        let pid = sleeper.id().to_string();
        drop(sleeper);
        let alive = Command::new("kill").args(["-0", &pid]).stderr(Stdio::null()).status().expect("kill runs");
        assert!(!alive.success(), "process {pid} is gone after the drop");
    }
}
