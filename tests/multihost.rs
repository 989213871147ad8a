//! blazer across hosts: three simulated hosts h1, h2, h3 (network namespaces on one bridge,
//! each with its own host name, sshd and slurmd) made by `scripts/multihost-env.sh up`.
//!
//! Open MPI runs across them with `mpirun --host` (its ssh launcher, TCP between hosts, shared
//! memory inside one), Slurm with `srun -N` and `sbatch`; one test cuts a host's link in the
//! middle of a run. Without the environment every test fails with a message saying how to
//! start it, unless `BLAZER_MULTIHOST_TESTS=skip` is set.

mod common;
use common::{
    example, probe, streaming_totals, Run, NESTED_OUTPUT, PRIMITIVES_OUTPUT, STREAM_OUTPUT,
};

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Seconds after which a run counts as hung (and is killed).
const LIMIT_S: &str = "120";

/// The tests share three hosts, and one of them cuts a host off: one test at a time.
static HOSTS: Mutex<()> = Mutex::new(());

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/multihost-env.sh")
}

/// The environment's settings (`$BLAZER_MULTIHOST_DIR/env`) and the lock on the hosts, or
/// `None` when the tests are explicitly skipped.
struct Cluster {
    env: Vec<(String, String)>,
    dir: PathBuf,
    _lock: MutexGuard<'static, ()>,
}

fn cluster() -> Option<Cluster> {
    let lock = HOSTS.lock().unwrap_or_else(|e| e.into_inner());
    let dir = PathBuf::from(
        std::env::var("BLAZER_MULTIHOST_DIR")
            .unwrap_or_else(|_| "/tmp/blazer-multihost-env".into()),
    );
    let file = dir.join("env");
    let text = match std::fs::read_to_string(&file) {
        Ok(text) => text,
        Err(e) => {
            if std::env::var("BLAZER_MULTIHOST_TESTS").as_deref() == Ok("skip") {
                common::notice("multihost", "BLAZER_MULTIHOST_TESTS=skip");
                return None;
            }
            panic!(
                "the multi-host test environment is not up ({}: {e}). Start it as root with \
                 `scripts/multihost-env.sh up` (and stop it with `scripts/multihost-env.sh down`), \
                 or set BLAZER_MULTIHOST_TESTS=skip to skip these tests",
                file.display()
            );
        }
    };
    let env = text
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim_matches('"').to_string()))
        .collect();
    Some(Cluster {
        env,
        dir,
        _lock: lock,
    })
}

impl Cluster {
    /// `timeout ... scripts/multihost-env.sh exec HOST ARGS...`: runs on that host, with the
    /// environment's Open MPI and Slurm settings.
    fn command(&self, host: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new("timeout");
        cmd.args(["--kill-after=10", LIMIT_S])
            .arg(script())
            .args(["exec", host])
            .args(args);
        cmd.envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
            .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
            .env("OMPI_MCA_mpi_yield_when_idle", "1")
            .env("BLAZER_PROGRESS", "0")
            .env("RUST_BACKTRACE", "0");
        cmd
    }

    fn run(&self, host: &str, args: &[&str]) -> Run {
        let out = self
            .command(host, args)
            .output()
            .expect("spawn timeout/multihost-env.sh");
        Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// `mpirun --host HOSTS -n N EXE ARGS...`, started on h1.
    fn mpirun(&self, hosts: &str, n: usize, extra: &[&str], exe: &Path, args: &[&str]) -> Run {
        let n = n.to_string();
        let mut all = vec!["mpirun", "--host", hosts, "-n", &n];
        all.extend_from_slice(extra);
        all.push(exe.to_str().expect("utf-8 path"));
        all.extend_from_slice(args);
        self.run("h1", &all)
    }

    /// The probe on two ranks per host, six in all.
    fn probe6(&self, args: &[&str]) -> Run {
        self.mpirun("h1:2,h2:2,h3:2", 6, &[], &probe(), args)
    }

    /// Like [`Cluster::probe6`], run once more when the first run failed with Open MPI 4.1's
    /// TCP connect flake (a connect() still in progress, EINPROGRESS or EAGAIN, reported as a
    /// failure, after which the job hangs): Open MPI's, not blazer's, and said so on stderr.
    /// Seen right after a host's network comes back, on a loaded machine.
    fn probe6_past_tcp_flake(&self, args: &[&str]) -> Run {
        let run = self.probe6(args);
        if run.code == Some(0) || !run.stderr.contains(TCP_FLAKE) {
            return run;
        }
        eprintln!(
            "mpirun hit Open MPI's TCP connect flake; running it again:\n{}",
            run.stderr
        );
        self.probe6(args)
    }
}

/// What Open MPI 4.1 prints when its TCP transport takes a connect() in progress for a failure.
const TCP_FLAKE: &str = "Open MPI failed to TCP connect to a peer MPI process";

fn s(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// The lines `blazer-probe hosts` prints when `per_host[i]` ranks run on host h<i+1>, ranks
/// placed in host order (what `mpirun --host` and Slurm's block distribution do).
fn expected_placement(per_host: &[usize]) -> Vec<String> {
    let mut lines = Vec::new();
    let mut tasks = Vec::new();
    let mut rank = 0;
    for (i, n) in per_host.iter().enumerate() {
        for local in 0..*n {
            lines.push(format!("RANK {rank} HOST h{} LOCAL {local} OF {n}", i + 1));
            if rank > 0 {
                tasks.push(format!("h{}/{rank}", i + 1));
            }
            rank += 1;
        }
    }
    lines.push(format!("TASKS ON {}", tasks.join(" ")));
    lines
}

#[test]
fn mpirun_across_three_hosts_runs_tasks_on_every_host_and_rank() {
    let Some(c) = cluster() else { return };
    // Two ranks per host: each rank knows its host and its place among the ranks that share
    // its memory, and every worker on every host ran tasks.
    assert_eq!(
        c.probe6(&["hosts"]).ok_lines(),
        expected_placement(&[2, 2, 2])
    );
    // One rank per host: every rank alone on its node.
    let run = c.mpirun("h1,h2,h3", 3, &[], &probe(), &["hosts"]);
    assert_eq!(run.ok_lines(), expected_placement(&[1, 1, 1]));
    // Uneven: the driver alone on h1, three workers on h2, one on h3.
    let run = c.mpirun("h1:1,h2:3,h3:1", 5, &[], &probe(), &["hosts"]);
    assert_eq!(run.ok_lines(), expected_placement(&[1, 3, 1]));
}

#[test]
fn hosts_talk_over_tcp_and_share_memory_only_inside_a_host() {
    let Some(c) = cluster() else { return };
    // Without the TCP transport, ranks on different hosts cannot reach each other: the hosts
    // really are apart, and what worked above went over TCP on the test subnet.
    let run = c.mpirun(
        "h1:2,h2:2,h3:2",
        6,
        &["--mca", "btl", "self,vader"],
        &probe(),
        &["hosts"],
    );
    run.assert_failed();
    assert!(
        run.stdout.contains("unable to reach each other")
            || run.stderr.contains("unable to reach each other"),
        "{run:#?}"
    );
    // Without shared memory, TCP alone carries everything, inside hosts too.
    let run = c.mpirun(
        "h1:2,h2:2,h3:2",
        6,
        &["--mca", "btl", "self,tcp"],
        &probe(),
        &["hosts"],
    );
    assert_eq!(run.ok_lines(), expected_placement(&[2, 2, 2]));
}

#[test]
fn integration_modes_give_the_same_results_across_hosts() {
    let Some(c) = cluster() else { return };
    assert_eq!(c.probe6(&["primitives"]).ok_lines(), PRIMITIVES_OUTPUT);
    assert_eq!(c.probe6(&["nested"]).ok_lines(), NESTED_OUTPUT);
    assert_eq!(c.probe6(&["stream"]).ok_lines(), STREAM_OUTPUT);
    // The runtime's view of the nodes: which ranks share a host (MPI's shared-memory split).
    for (hosts, n, nodes, on_h1) in [
        ("h1:2,h2:2,h3:2", 6, "[[0, 1], [2, 3], [4, 5]]", 2),
        ("h1:1,h2:3,h3:1", 5, "[[0], [1, 2, 3], [4]]", 1),
        ("h1:3,h3:2", 5, "[[0, 1, 2], [3, 4]]", 3),
    ] {
        let run = c.mpirun(hosts, n, &[], &probe(), &["world"]);
        let lines = run.ok_lines();
        for want in [
            format!("SIZE {n}"),
            format!("NODES {nodes}"),
            format!(
                "TASK RANKS {{{}}}",
                (1..n).map(|r| r.to_string()).collect::<Vec<_>>().join(", ")
            ),
            format!("LOCAL 0 OF {on_h1}"),
        ] {
            assert!(
                lines.contains(&want.as_str()),
                "{want} on {hosts}: {lines:?}"
            );
        }
    }
}

#[test]
fn a_task_failure_on_a_remote_host_names_its_rank_and_host() {
    let Some(c) = cluster() else { return };
    let run = c.probe6(&["panic"]);
    run.assert_failed();
    assert_eq!(run.code, Some(1), "{run:#?}");
    let out: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(out[0], "SETTLED OK 1", "{run:#?}");
    let rest = out[1]
        .strip_prefix("SETTLED ERR task `blazer_probe::boom` failed on rank ")
        .unwrap_or_else(|| panic!("{run:#?}"));
    // "R (hN): panicked: boom on 2", where rank R runs on host h(R/2 + 1).
    let (rank, rest) = rest.split_once(' ').expect("rank");
    let rank: usize = rank.parse().expect("a rank number");
    assert!(rank > 0, "{run:#?}");
    assert_eq!(
        rest,
        format!("(h{}): panicked: boom on 2", rank / 2 + 1),
        "{run:#?}"
    );
    assert_eq!(out[2], "SETTLED OK 3");
    assert_eq!(out[4], "AFTER [1, 4, 9]", "{run:#?}");
}

#[test]
fn examples_run_across_hosts() {
    let Some(c) = cluster() else { return };
    for name in ["example3", "example1", "streaming", "shared_variables"] {
        assert!(
            example(name).exists(),
            "{} is not built: `cargo test` builds the examples (or `cargo build --examples`)",
            example(name).display()
        );
    }
    let run = c.mpirun("h1:2,h2:2,h3:2", 6, &[], &example("example3"), &[]);
    assert_eq!(run.ok_lines(), ["[1, 4, 9, 16]", "30"]);

    // example1 on 6 ranks: scatter data sized by the world, no padding, input order.
    let run = c.mpirun("h1:2,h2:2,h3:2", 6, &[], &example("example1"), &[]);
    let lines = run.ok_lines();
    assert_eq!(lines.len(), 6, "{lines:#?}");
    assert_eq!(
        lines[0],
        "PARALLEL1: [{'this': 1}, {'this': 2}, {'this': 3}, {'this': 4}, {'this': 5}]"
    );
    let somes = |n: i64| {
        let items: Vec<String> = (0..n).map(|i| format!("{{'some': {i}}}")).collect();
        format!("[{}]", items.join(", "))
    };
    assert_eq!(lines[3], format!("SCATTER_DATA: {}", somes(14)));
    assert_eq!(lines[5], format!("SCATTER: {}", somes(12)));

    let run = c.mpirun("h1:2,h2:2,h3:2", 6, &[], &example("streaming"), &[]);
    let lines = run.ok_lines();
    assert_eq!(
        streaming_totals(&lines).iter().sum::<i64>(),
        1000,
        "{lines:?}"
    );

    // shared_variables is deterministic: across hosts it prints what it prints on one host.
    let across = c.mpirun("h1:2,h2:2,h3:2", 6, &[], &example("shared_variables"), &[]);
    let one_host = c.mpirun("h1:6", 6, &[], &example("shared_variables"), &[]);
    assert_eq!(across.ok_lines(), one_host.ok_lines());
}

#[test]
fn slurm_srun_runs_a_blazer_binary_across_nodes() {
    let Some(c) = cluster() else { return };
    let p = probe();
    let run = c.run(
        "h1",
        &["srun", "-N", "2", "-n", "4", "--mpi=pmix", s(&p), "hosts"],
    );
    assert_eq!(run.ok_lines(), expected_placement(&[2, 2]));
    let run = c.run(
        "h1",
        &["srun", "-N", "3", "-n", "3", "--mpi=pmix", s(&p), "hosts"],
    );
    assert_eq!(run.ok_lines(), expected_placement(&[1, 1, 1]));
}

#[test]
fn slurm_sbatch_job_runs_across_nodes_with_srun_and_mpirun() {
    let Some(c) = cluster() else { return };
    let job_dir = c.dir.join(format!("sbatch-{}", std::process::id()));
    std::fs::create_dir_all(&job_dir).expect("job dir");
    let script = job_dir.join("job.sh");
    let p = probe();
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n#SBATCH --nodes=3\n#SBATCH --ntasks-per-node=2\n#SBATCH --time=2\n\
             echo SRUN\nsrun --mpi=pmix {p} hosts\necho MPIRUN\nmpirun {p} hosts\n",
            p = s(&p)
        ),
    )
    .expect("job script");
    let out = job_dir.join("job.out");
    // Open MPI 4.1's TCP transport now and then reports a connect() still in progress
    // (EINPROGRESS) as a failure when `srun` starts the ranks, and the job then hangs
    // (seen about once in four runs here, never with mpirun). That is Open MPI's, not
    // blazer's: such a job is cancelled and run once more, and said so on stderr.
    let mut attempt = 0;
    let (run, printed) = loop {
        let run = c.run("h1", &["sbatch", "--wait", "--output", s(&out), s(&script)]);
        let printed = std::fs::read_to_string(&out).unwrap_or_default();
        let flake = printed.contains(TCP_FLAKE);
        if run.code == Some(0) || !flake || attempt == 1 {
            break (run, printed);
        }
        attempt += 1;
        eprintln!("sbatch job hit Open MPI's TCP connect flake; cancelling and running it again:\n{printed}");
        if let Some(id) = run.stdout.trim().strip_prefix("Submitted batch job ") {
            let _ = c.run("h1", &["scancel", id]);
            // Wait until the job has left the queue, so the retry gets the nodes.
            for _ in 0..60 {
                if c.run("h1", &["squeue", "-h", "-j", id])
                    .stdout
                    .trim()
                    .is_empty()
                {
                    break;
                }
                std::thread::sleep(Duration::from_millis(500));
            }
        }
    };
    let _ = std::fs::remove_dir_all(&job_dir);
    assert_eq!(run.code, Some(0), "{run:#?}\njob output:\n{printed}");
    let mut expected = vec!["SRUN".to_string()];
    expected.extend(expected_placement(&[2, 2, 2]));
    expected.push("MPIRUN".into());
    expected.extend(expected_placement(&[2, 2, 2]));
    assert_eq!(printed.lines().collect::<Vec<_>>(), expected, "{printed}");
}

/// Brings the host back, whatever happened in the test.
struct Heal(&'static str);

impl Drop for Heal {
    fn drop(&mut self) {
        let _ = Command::new(script()).args(["heal", self.0]).status();
    }
}

/// Pids of the processes named `name` on host `h` (in its network namespace).
fn leftovers(host: &str, names: &[&str]) -> Vec<String> {
    let out = Command::new("ip")
        .args(["netns", "pids", &format!("bzmh-{host}")])
        .output()
        .expect("ip netns pids");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|pid| {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
            names
                .contains(&comm.trim())
                .then(|| format!("{pid} {}", comm.trim()))
        })
        .collect()
}

#[test]
fn a_host_cut_off_mid_run_ends_the_job_with_an_error_naming_the_host() {
    let Some(c) = cluster() else { return };
    // Open MPI notices a silent peer only through TCP keep-alive on its daemons' connections
    // (defaults: 300 s idle + 9 probes 20 s apart, so about 8 minutes). These settings make it
    // about 5 s; the guide (docs/guide/running.md) recommends them for real
    // clusters too.
    let keepalive = [
        "--mca",
        "oob_tcp_keepalive_time",
        "2",
        "--mca",
        "oob_tcp_keepalive_intvl",
        "1",
        "--mca",
        "oob_tcp_keepalive_probes",
        "3",
    ];
    let p = probe();
    let mut args = vec!["mpirun", "--host", "h1:2,h2:2,h3:2", "-n", "6"];
    args.extend_from_slice(&keepalive);
    // blazer's own detector: a worker silent for 3 s while holding work is declared lost,
    // named with its host, before Open MPI's keep-alive ends the job.
    args.extend_from_slice(&["-x", "BLAZER_WORKER_TIMEOUT=3"]);
    // 60 s of 100 ms tasks on five workers: far longer than detection should take.
    args.extend_from_slice(&[s(&p), "hosts", "60"]);
    let mut child = c
        .command("h1", &args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn mpirun");
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().expect("stdout");
    let out_reader = std::thread::spawn(move || {
        let mut all = Vec::new();
        for line in BufReader::new(stdout).lines().map_while(|l| l.ok()) {
            let _ = tx.send(line.clone());
            all.push(line);
        }
        all
    });
    let mut stderr = child.stderr.take().expect("stderr");
    let err_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    // Wait until every host has run tasks and the slow work is under way.
    let started = Instant::now();
    let mut seen = Vec::new();
    while !seen.iter().any(|l| l == "SLOW WORK STARTED") {
        match rx.recv_timeout(Duration::from_secs(60).saturating_sub(started.elapsed())) {
            Ok(line) => seen.push(line),
            Err(_) => {
                let _ = child.kill();
                panic!("the run did not start its slow work: {seen:?}");
            }
        }
    }
    assert!(
        seen.iter()
            .any(|l| l.starts_with("TASKS ON") && l.contains("h3/")),
        "{seen:?}"
    );
    std::thread::sleep(Duration::from_secs(1));

    let heal = Heal("h3");
    let cut = Command::new(script())
        .args(["cut", "h3"])
        .status()
        .expect("cut h3");
    assert!(cut.success());
    let cut_at = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for mpirun") {
            break status;
        }
        if cut_at.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the run was still going 60 s after h3 was cut off: it hangs");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let detected = cut_at.elapsed();
    let stdout = out_reader.join().expect("stdout reader");
    let stderr = err_reader.join().expect("stderr reader");
    eprintln!("h3 cut off: mpirun exited with {status} after {detected:.1?}\n{stderr}");
    assert!(!status.success(), "{stdout:?}\n{stderr}");
    assert_ne!(status.code(), Some(124), "timed out: {stderr}");
    assert!(
        !stdout.iter().any(|l| l.starts_with("SLOW WORK DONE")),
        "the work cannot finish without h3: {stdout:?}"
    );
    assert!(
        detected < Duration::from_secs(30),
        "detection took {detected:?}"
    );
    // The driver names the lost ranks and their host (h3 holds ranks 4 and 5)...
    let lost: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("blazer: lost rank(s) "))
        .collect();
    assert!(
        !lost.is_empty(),
        "the driver reports the lost ranks: {stderr}"
    );
    for line in &lost {
        assert!(
            (line.contains("4 (h3)") || line.contains("5 (h3)"))
                && !line.contains("(h1)")
                && !line.contains("(h2)"),
            "only h3's ranks are lost: {line}"
        );
    }
    // ...and Open MPI's message names the lost daemon's node.
    assert!(
        stderr.contains("ORTE has lost communication with a remote daemon")
            && stderr.contains("on node h3"),
        "{stderr}"
    );
    // Nothing is left running: not on the cut-off host (its daemon loses mpirun the same way
    // and ends its ranks) nor on the others.
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut left: HashMap<&str, Vec<String>> = HashMap::new();
    while Instant::now() < deadline {
        left = ["h1", "h2", "h3"]
            .into_iter()
            .map(|h| (h, leftovers(h, &["orted", "blazer-probe", "mpirun"])))
            .filter(|(_, pids)| !pids.is_empty())
            .collect();
        if left.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(left.is_empty(), "processes left behind: {left:?}");
    drop(heal);
    // Healed, the hosts serve a new run again.
    assert_eq!(
        c.probe6_past_tcp_flake(&["hosts"]).ok_lines(),
        expected_placement(&[2, 2, 2])
    );
}
