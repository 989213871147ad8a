//! Runs a launcher with a time limit, reading its output as it comes.

use crate::output::{split_line, ByRank, Piece};
use crate::Family;
use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How a supervised run ended.
#[derive(Debug)]
pub struct Finished {
    /// The launcher's exit status; after a time-out, the status of the killed launcher.
    pub status: ExitStatus,
    /// Whether the run was killed at its time limit.
    pub timed_out: bool,
    /// Everything it printed, on stdout and stderr, split by rank.
    pub output: ByRank,
}

/// How long to wait for the output pipes to close once the launcher has exited (a rank it
/// left behind may hold them open).
const DRAIN: Duration = Duration::from_secs(5);
/// How long a process group has between SIGTERM and SIGKILL.
const GRACE: Duration = Duration::from_secs(3);

/// Runs `cmd` in a process group of its own, its stdout and stderr read line by line and split
/// by rank (tags as `family`'s launcher writes them). `live` sees each piece as it comes, with
/// `true` for stderr. At `limit`, the whole process group gets SIGTERM (the launcher passes it
/// on to the ranks), then SIGKILL after 3 s.
pub fn supervise(
    mut cmd: Command,
    family: Family,
    limit: Option<Duration>,
    mut live: impl FnMut(bool, &Piece),
) -> io::Result<Finished> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = cmd.spawn()?;
    let pgid = child.id() as i32;
    let (tx, rx) = mpsc::channel::<(bool, String)>();
    let readers = [
        reader(
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
            false,
            &tx,
        ),
        reader(
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
            true,
            &tx,
        ),
    ];
    drop(tx);
    let start = Instant::now();
    let mut output = ByRank::default();
    // Each rank's line so far on each stream, for `live`, which sees whole lines.
    let mut partial: HashMap<(bool, Option<u32>), String> = HashMap::new();
    let mut take = |(err, line): (bool, String), output: &mut ByRank| {
        for piece in split_line(family, &line) {
            let so_far = partial.entry((err, piece.rank)).or_default();
            so_far.push_str(&piece.text);
            if piece.ends_line {
                let text = std::mem::take(so_far);
                live(err, &Piece { text, ..piece });
            }
        }
        output.push_line(family, &line);
    };
    let mut timed_out = false;
    let mut term_sent: Option<Instant> = None;
    let mut exited: Option<(ExitStatus, Instant)> = None;
    loop {
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(msg) => take(msg, &mut output),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                if exited.is_none() {
                    exited = Some((child.wait()?, Instant::now()));
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        if exited.is_none() {
            if let Some(status) = child.try_wait()? {
                exited = Some((status, Instant::now()));
            }
        }
        if let Some((status, at)) = exited {
            let done = readers.iter().all(|r| r.is_finished());
            if done || at.elapsed() > DRAIN {
                while let Ok(msg) = rx.try_recv() {
                    take(msg, &mut output);
                }
                if !done {
                    // A rank left behind holds the pipes: end the group it is in.
                    signal_group(pgid, libc::SIGKILL);
                }
                // Lines a rank left unfinished.
                for ((err, rank), text) in partial.drain() {
                    if !text.is_empty() {
                        let ends_line = true;
                        live(
                            err,
                            &Piece {
                                rank,
                                text,
                                ends_line,
                            },
                        );
                    }
                }
                return Ok(Finished {
                    status,
                    timed_out,
                    output,
                });
            }
            continue;
        }
        if let Some(limit) = limit {
            match term_sent {
                None if start.elapsed() > limit => {
                    timed_out = true;
                    signal_group(pgid, libc::SIGTERM);
                    term_sent = Some(Instant::now());
                }
                Some(at) if at.elapsed() > GRACE => {
                    signal_group(pgid, libc::SIGKILL);
                    term_sent = Some(Instant::now() + Duration::from_secs(3600));
                }
                _ => {}
            }
        }
    }
}

fn reader(
    pipe: Option<Box<dyn Read + Send>>,
    err: bool,
    tx: &mpsc::Sender<(bool, String)>,
) -> std::thread::JoinHandle<()> {
    let tx = tx.clone();
    std::thread::spawn(move || {
        let Some(pipe) = pipe else { return };
        let mut pipe = BufReader::new(pipe);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match pipe.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => return,
                Ok(_) => {
                    let line = String::from_utf8_lossy(&buf);
                    let line = line.strip_suffix('\n').unwrap_or(&line);
                    if tx.send((err, line.to_string())).is_err() {
                        return;
                    }
                }
            }
        }
    })
}

/// Sends `signal` to every process of the group `pgid`.
fn signal_group(pgid: i32, signal: i32) {
    // SAFETY: kill(2) with a negative pid signals a process group; no memory is involved.
    unsafe {
        libc::kill(-pgid, signal);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_and_status_come_back() {
        let mut cmd = Command::new("sh");
        cmd.args([
            "-c",
            "echo '[1,0]<stdout>:out'; echo '[1,1]<stderr>:err' >&2; exit 3",
        ]);
        let mut seen = Vec::new();
        let f = supervise(
            cmd,
            Family::OpenMpi,
            Some(Duration::from_secs(30)),
            |e, p| seen.push((e, p.rank, p.text.clone())),
        )
        .unwrap();
        assert_eq!(f.status.code(), Some(3));
        assert!(!f.timed_out);
        assert_eq!(f.output.ranks[&0], "out\n");
        assert_eq!(f.output.ranks[&1], "err\n");
        seen.sort();
        assert_eq!(
            seen,
            vec![
                (false, Some(0), "out".to_string()),
                (true, Some(1), "err".to_string())
            ]
        );
    }

    #[test]
    fn time_limit_kills_the_whole_group() {
        // A child that ignores SIGTERM and a grandchild holding the pipes: both must go.
        let dir = std::env::temp_dir().join(format!("blazer-launch-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pidfile = dir.join("pid");
        let mut cmd = Command::new("sh");
        cmd.args([
            "-c",
            "trap '' TERM; sleep 600 & echo $! > \"$1\"; echo started; wait",
            "sh",
        ])
        .arg(&pidfile);
        let start = Instant::now();
        let f = supervise(
            cmd,
            Family::OpenMpi,
            Some(Duration::from_millis(500)),
            |_, _| {},
        )
        .unwrap();
        assert!(f.timed_out);
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{:?}",
            start.elapsed()
        );
        assert_eq!(f.output.launcher, "started\n");
        let pid = std::fs::read_to_string(&pidfile).unwrap();
        let proc = format!("/proc/{}", pid.trim());
        // Reaped by init shortly after the kill.
        let gone = (0..50).any(|_| {
            std::thread::sleep(Duration::from_millis(100));
            std::fs::read_to_string(format!("{proc}/stat"))
                .map_or(true, |s| s.split_whitespace().nth(2) == Some("Z"))
        });
        assert!(gone, "the grandchild {pid} survived the time-out");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
