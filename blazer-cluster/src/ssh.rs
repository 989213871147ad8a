//! [`Cluster`] (where and how to log in) and [`Session`] (one authenticated OpenSSH
//! connection, a ControlMaster, that every later command and job reuses).

use crate::batch_system::BatchSystem;
use crate::error::{ClusterError, Result};
use crate::private_files;
use crate::process;
use crate::process::ShellOutput;
use crate::quote::quote;
use crate::secret::{Prompt, Relay};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A remote machine and how to use it: host, user, port, authentication and batch system.
/// Build it with the setters, then [`Cluster::connect`] once.
///
/// ```no_run
/// use blazer_cluster::{Cluster, Prompt, BatchSystem};
/// let hpc = Cluster::new("login.hpc.example.org", BatchSystem::Slurm)
///     .user("alice")
///     .prompt(Prompt::Terminal); // password or one-time code, asked once by ssh
/// let session = hpc.connect()?;
/// # Ok::<(), blazer_cluster::ClusterError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Cluster {
    pub(crate) host: String,
    user: Option<String>,
    port: u16,
    identity: Option<PathBuf>,
    prompt: Option<Prompt>,
    known_hosts: Option<PathBuf>,
    ssh_config: Option<PathBuf>,
    pub(crate) batch_system: BatchSystem,
    pub(crate) workdir: String,
    connect_timeout: Duration,
    pub(crate) command_timeout: Duration,
    pub(crate) poll_interval: Duration,
    env: Vec<(String, String)>,
}

impl Cluster {
    /// A cluster reached at `host` (port 22, the local user name, ssh's usual keys) whose jobs
    /// go through `batch_system`.
    pub fn new(host: impl Into<String>, batch_system: BatchSystem) -> Self {
        Cluster {
            host: host.into(),
            user: None,
            port: 22,
            identity: None,
            prompt: None,
            known_hosts: None,
            ssh_config: None,
            batch_system,
            workdir: ".blazer/jobs".into(),
            connect_timeout: Duration::from_secs(15),
            command_timeout: Duration::from_secs(120),
            poll_interval: Duration::from_secs(2),
            env: Vec::new(),
        }
    }

    /// The remote user name.
    pub fn user(mut self, user: impl Into<String>) -> Self {
        self.user = Some(user.into());
        self
    }

    /// The ssh port.
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Logs in with this private key only (`IdentitiesOnly`).
    pub fn identity(mut self, key: impl Into<PathBuf>) -> Self {
        self.identity = Some(key.into());
        self
    }

    /// Answers password and one-time-code questions with `prompt`, once per connection.
    /// Without it, login must need no answer (keys or an agent): ssh runs in batch mode.
    pub fn prompt(mut self, prompt: Prompt) -> Self {
        self.prompt = Some(prompt);
        self
    }

    /// Trusts exactly the host keys in this `known_hosts` file (`StrictHostKeyChecking=yes`).
    pub fn known_hosts(mut self, file: impl Into<PathBuf>) -> Self {
        self.known_hosts = Some(file.into());
        self
    }

    /// Reads this ssh configuration file instead of `~/.ssh/config` (`/dev/null` for none).
    pub fn ssh_config(mut self, file: impl Into<PathBuf>) -> Self {
        self.ssh_config = Some(file.into());
        self
    }

    /// The remote directory under which each job gets its own directory (relative paths are
    /// relative to the remote home). Default `.blazer/jobs`.
    pub fn workdir(mut self, dir: impl Into<String>) -> Self {
        self.workdir = dir.into();
        self
    }

    /// How long to wait for the server to answer a connection. Default 15 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long one remote command (submission, poll, fetch) may take. Default 120 s.
    pub fn command_timeout(mut self, timeout: Duration) -> Self {
        self.command_timeout = timeout;
        self
    }

    /// How often a waiting job asks the batch system for its state. Default 2 s.
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// Sets an environment variable for every remote command, jobs included.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// The batch system jobs go through.
    pub fn batch_system(&self) -> &BatchSystem {
        &self.batch_system
    }

    /// `user@host:port`, for messages.
    pub fn target(&self) -> String {
        match &self.user {
            Some(u) => format!("{u}@{}:{}", self.host, self.port),
            None => format!("{}:{}", self.host, self.port),
        }
    }

    /// Logs in once (asking for a password or code if the server wants one) and keeps the
    /// connection open as an OpenSSH ControlMaster for every later command of the session.
    pub fn connect(&self) -> Result<Session> {
        self.check()?;
        let dir = private_dir()?;
        let control = dir.join("cm");
        let log_path = dir.join("master.log");
        let log = private_files::create_private_file(&log_path, 0o600)
            .map_err(|e| ClusterError::Io(format!("cannot create {}: {e}", log_path.display())))?;
        let mut cmd = self.ssh(&control);
        // The master stays in the foreground as our child (no `-f`, no ControlPersist, which
        // would fork it away into the background), tied to this process: it ends when the
        // session is dropped, and when this process ends without dropping it.
        cmd.args(["-M", "-o", "ControlMaster=yes", "-o", "ControlPersist=no"])
            .args([
                "-o",
                "ServerAliveInterval=15",
                "-o",
                "ServerAliveCountMax=4",
            ])
            .arg("-N");
        // Kept alive until the master has authenticated: it answers ssh's questions.
        let mut relay = None;
        let timeout = match &self.prompt {
            None => {
                cmd.args(["-o", "BatchMode=yes"]);
                self.connect_timeout * 2
            }
            Some(Prompt::Terminal) => {
                cmd.args(["-o", "NumberOfPasswordPrompts=1"]);
                Duration::from_secs(300)
            }
            Some(Prompt::With(answer)) => {
                let r = Relay::start(&dir, answer.clone())?;
                cmd.env("SSH_ASKPASS", r.script())
                    .env("SSH_ASKPASS_REQUIRE", "force")
                    .args(["-o", "NumberOfPasswordPrompts=1"]);
                relay = Some(r);
                Duration::from_secs(300)
            }
        };
        cmd.arg(&self.host);
        let stdin = match self.prompt {
            Some(Prompt::Terminal) => Stdio::inherit(),
            _ => Stdio::null(),
        };
        // stderr goes to a file, not a pipe: the master keeps it open for good.
        cmd.stdin(stdin).stdout(Stdio::null()).stderr(log);
        let master = process::spawn_tied(cmd)
            .map_err(|e| ClusterError::Io(format!("cannot start ssh: {e}")))?;
        let master = self.wait_until_ready(master, &control, timeout);
        drop(relay);
        let master = match master {
            Ok(m) => m,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(e);
            }
        };
        Ok(Session {
            inner: Arc::new(Inner {
                cluster: self.clone(),
                dir,
                control,
                master: Mutex::new(master),
            }),
        })
    }

    /// Waits until `master` has logged in (its control socket answers), or has given up (its
    /// log says why), or `timeout` has passed (it is killed).
    fn wait_until_ready(
        &self,
        mut master: Child,
        control: &Path,
        timeout: Duration,
    ) -> Result<Child> {
        let log_path = control.with_file_name("master.log");
        let deadline = Instant::now() + timeout;
        loop {
            match master.try_wait() {
                Ok(Some(status)) => {
                    let said = std::fs::read_to_string(&log_path).unwrap_or_default();
                    return Err(self.classify(status.code(), &said));
                }
                Ok(None) => {}
                Err(e) => return Err(ClusterError::Io(format!("waiting for ssh: {e}"))),
            }
            // The control socket appears once the master has authenticated.
            if control.exists() && self.check_master(control) {
                return Ok(master);
            }
            if Instant::now() >= deadline {
                let _ = master.kill();
                let _ = master.wait();
                return Err(ClusterError::Timeout(format!(
                    "ssh login took longer than {timeout:?}"
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether the master behind `control` answers (`ssh -O check`).
    fn check_master(&self, control: &Path) -> bool {
        let mut cmd = self.ssh(control);
        cmd.args(["-O", "check"]).arg(&self.host);
        matches!(process::run(cmd, None, Duration::from_secs(10)), Ok(o) if o.status == Some(0))
    }

    /// Refuses settings that cannot travel safely (see [`crate::check`]).
    fn check(&self) -> Result<()> {
        use crate::check::{host_name, no_nul, plain_text, variable_name};
        host_name(&self.host)?;
        if let Some(u) = &self.user {
            plain_text("the cluster's user", u)?;
        }
        plain_text("the cluster's work directory", &self.workdir)?;
        for (k, v) in &self.env {
            variable_name("the cluster's environment variable", k)?;
            no_nul(&format!("the cluster's environment variable {k}"), v)?;
        }
        Ok(())
    }

    /// The ssh command with this cluster's connection options, through `control`.
    fn ssh(&self, control: &Path) -> Command {
        let mut cmd = Command::new("ssh");
        if let Some(cfg) = &self.ssh_config {
            cmd.arg("-F").arg(cfg);
        }
        cmd.arg("-p").arg(self.port.to_string());
        if let Some(user) = &self.user {
            cmd.arg("-l").arg(user);
        }
        cmd.arg("-o")
            .arg(format!("ControlPath={}", control.display()));
        cmd.arg("-o").arg(format!(
            "ConnectTimeout={}",
            self.connect_timeout.as_secs().max(1)
        ));
        if let Some(key) = &self.identity {
            cmd.arg("-i").arg(key).args(["-o", "IdentitiesOnly=yes"]);
        }
        if let Some(file) = &self.known_hosts {
            cmd.arg("-o")
                .arg(format!("UserKnownHostsFile={}", file.display()))
                .args(["-o", "StrictHostKeyChecking=yes"]);
        }
        cmd
    }

    /// Turns ssh's own failure (status 255) into an unreachable-host or failed-login error.
    fn classify(&self, status: Option<i32>, said: &str) -> ClusterError {
        let detail = said
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with("Warning: Permanently added"))
            .collect::<Vec<_>>()
            .join("; ");
        let detail = if detail.is_empty() {
            format!("ssh exited with {status:?}")
        } else {
            detail
        };
        const UNREACHABLE: &[&str] = &[
            "Connection refused",
            "Could not resolve hostname",
            "No route to host",
            "Network is unreachable",
            "Connection timed out",
            "Operation timed out",
            "connect to host",
            "Connection reset",
            "Connection closed by",
        ];
        const LOGIN: &[&str] = &[
            "Permission denied",
            "Too many authentication failures",
            "Host key verification failed",
            "IDENTIFICATION HAS CHANGED",
            "No more authentication methods",
            "Authentication failed",
        ];
        if LOGIN.iter().any(|p| detail.contains(p)) {
            ClusterError::Login {
                target: self.target(),
                detail,
            }
        } else if UNREACHABLE.iter().any(|p| detail.contains(p)) {
            ClusterError::Unreachable {
                host: format!("{}:{}", self.host, self.port),
                detail,
            }
        } else {
            ClusterError::Login {
                target: self.target(),
                detail,
            }
        }
    }
}

/// Two markers, unique to one remote command, that frame its output.
fn markers() -> (String, String) {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let id = format!(
        "{nanos:x}{:x}{:x}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    (
        format!("__blazer_{id}_begin__"),
        format!("__blazer_{id}_end__"),
    )
}

/// What a command printed between its markers: the line after `begin`, up to the newline
/// that the shell printed before `end`. Without the end marker (the command cut the shell
/// short), everything after `begin`; without either, all of it.
fn between<'a>(out: &'a str, begin: &str, end: &str) -> &'a str {
    let from = out
        .find(&format!("{begin}\n"))
        .map_or(0, |i| i + begin.len() + 1);
    let rest = &out[from..];
    match rest.rfind(&format!("\n{end}")) {
        Some(i) => &rest[..i],
        None => rest,
    }
}

/// A fresh directory only we can enter, for the control socket, logs and the askpass FIFOs.
/// Short, because a Unix socket path must fit in about 100 bytes.
fn private_dir() -> Result<PathBuf> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let base = std::env::temp_dir();
    let base = if base.as_os_str().len() > 60 {
        PathBuf::from("/tmp")
    } else {
        base
    };
    let dir = base.join(format!(
        "blz-{}-{}-{nanos:x}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    private_files::create_private_dir(&dir)
        .map_err(|e| ClusterError::Io(format!("cannot create {}: {e}", dir.display())))?;
    Ok(dir)
}

/// One logged-in connection to a [`Cluster`]. Cheap to clone; the connection closes when the
/// last clone (and the last job using it) is dropped.
#[derive(Clone, Debug)]
pub struct Session {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    cluster: Cluster,
    dir: PathBuf,
    control: PathBuf,
    /// The ssh master: our child, ended with us (see [`process::spawn_tied`]).
    master: Mutex<Child>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        let mut cmd = self.cluster.ssh(&self.control);
        cmd.args(["-O", "exit"]).arg(&self.cluster.host);
        let _ = process::run(cmd, None, Duration::from_secs(10));
        let master = self.master.get_mut().unwrap_or_else(|p| p.into_inner());
        let _ = master.kill();
        let _ = master.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Session {
    /// The cluster this session is logged in to.
    pub fn cluster(&self) -> &Cluster {
        &self.inner.cluster
    }

    /// Runs `args` as one remote command, each argument quoted: nothing in them is
    /// interpreted by the remote shell. Fails unless it exits with status 0.
    pub fn run<S: AsRef<str>>(&self, args: impl IntoIterator<Item = S>) -> Result<String> {
        self.shell_ok(&crate::quote::command_line(args), None)
    }

    /// Runs a remote shell command line as written (the caller quotes its parts with
    /// [`crate::quote`]), feeding `stdin` to it. Returns whatever its status.
    pub fn shell(&self, command: &str, stdin: Option<Vec<u8>>) -> Result<ShellOutput> {
        let c = &self.inner.cluster;
        // Start-up files of the login shell (`.bashrc`, `.profile`) may print banners before
        // the command runs: its own output is read between two markers no banner can guess.
        let (begin, end) = markers();
        let mut line = format!("printf '%s\\n' {begin}\n");
        for (k, v) in &c.env {
            line.push_str(&format!("export {}; ", quote(&format!("{k}={v}"))));
        }
        line.push_str(command);
        line.push_str(&format!(
            "\n__blazer_status=$?; printf '\\n%s\\n' {end}; exit $__blazer_status"
        ));
        let mut cmd = c.ssh(&self.inner.control);
        // No master left means no prompt now: batch mode fails instead of asking again.
        cmd.args(["-o", "ControlMaster=no", "-o", "BatchMode=yes"])
            .arg(&c.host)
            .arg("--")
            .arg(&line);
        let out = process::run(cmd, stdin, c.command_timeout)?;
        let stderr = out.stderr;
        if out.status == Some(255) && !self.alive() {
            return Err(c.classify(out.status, &stderr));
        }
        let stdout = String::from_utf8_lossy(&out.stdout);
        Ok(ShellOutput {
            status: out.status,
            stdout: between(&stdout, &begin, &end).to_string(),
            stderr,
        })
    }

    /// Like [`Session::shell`], but an error unless the command exits with status 0.
    pub fn shell_ok(&self, command: &str, stdin: Option<Vec<u8>>) -> Result<String> {
        let r = self.shell(command, stdin)?;
        if r.status == Some(0) {
            Ok(r.stdout)
        } else {
            Err(ClusterError::Remote {
                command: command.to_string(),
                status: r.status,
                stderr: r.stderr,
            })
        }
    }

    /// Writes `bytes` to the remote file `path` (creating its directory) over the session.
    pub fn upload(&self, bytes: Vec<u8>, path: &str) -> Result<()> {
        let dir = match path.rfind('/') {
            Some(0) => "/",
            Some(i) => &path[..i],
            None => ".",
        };
        let line = format!("mkdir -p {} && cat > {}", quote(dir), quote(path));
        self.shell_ok(&line, Some(bytes)).map(drop)
    }

    /// Whether the shared connection is still up (`ssh -O check`).
    pub fn alive(&self) -> bool {
        self.inner.cluster.check_master(&self.inner.control)
    }
}

impl crate::batch_system::Shell for Session {
    fn shell(&self, command: &str, stdin: Option<Vec<u8>>) -> Result<ShellOutput> {
        Session::shell(self, command, stdin)
    }
    fn shell_ok(&self, command: &str, stdin: Option<Vec<u8>>) -> Result<String> {
        Session::shell_ok(self, command, stdin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_is_read_between_its_markers() {
        let (b, e) = markers();
        let noisy = format!("Welcome!\n{b}\nexactly this\n{e}\n");
        assert_eq!(between(&noisy, &b, &e), "exactly this");
        let with_newline = format!("{b}\nline\n\n{e}\n");
        assert_eq!(between(&with_newline, &b, &e), "line\n");
        assert_eq!(between(&format!("{b}\n\n{e}\n"), &b, &e), "", "no output");
        assert_eq!(between("no markers", &b, &e), "no markers");
        assert_ne!(markers(), markers());
    }
}
