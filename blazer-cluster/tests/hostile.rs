//! Hostile input, local files and what a cluster session leaves behind, against the real
//! sshd and one-node Slurm that `scripts/cluster-env.sh up` starts (see `cluster.rs`).

mod common;
use blazer_cluster::{self as cluster, BatchSystem, ClusterError, JobSpec};
use common::{bounded, cluster, env, slurm_job};
use std::path::Path;
use std::time::Duration;

/// A value that runs `touch MARKER` wherever a newline ends what it was meant to be.
fn payload(marker: &Path) -> String {
    format!("probe\ntouch {} #", marker.display())
}

#[test]
fn control_characters_in_any_job_setting_are_refused_and_never_run() {
    let Some(env) = env() else { return };
    bounded(Duration::from_secs(120), "control characters", || {
        let session = cluster(&env, BatchSystem::Slurm).connect().expect("login");
        let dir = Path::new(&env["DIR"]).join("injection");
        std::fs::create_dir_all(&dir).unwrap();
        type Field = (&'static str, fn(JobSpec, String) -> JobSpec);
        // Names and settings: every control character is refused.
        let settings: [Field; 5] = [
            ("name", |s, v| s.name(v)),
            ("queue", |s, v| s.queue(v)),
            ("account", |s, v| s.account(v)),
            ("batch-system argument", |s, v| s.batch_arg(v)),
            ("environment variable", |s, v| s.env(v, "x")),
        ];
        // Values the program receives travel quoted: only NUL, which nothing carries, is
        // refused; a newline or carriage return arrives as it is and runs nothing.
        let values: [Field; 2] = [
            ("argument", |s, v| s.arg(v)),
            ("environment variable", |s, v| s.env("X", v)),
        ];
        let mut markers = Vec::new();
        for (i, (what, set)) in settings.into_iter().chain(values).enumerate() {
            for sep in ['\n', '\r', '\0'] {
                let marker = dir.join(format!("injected-{i}-{}", sep as u32));
                let value = payload(&marker).replace('\n', &sep.to_string());
                let job: cluster::Job<Vec<i64>, (i64, String)> =
                    session.job(set(slurm_job(&env, "sumsq"), value));
                let refused = i < 5 || sep == '\0';
                match job.submit(&vec![1]) {
                    Err(ClusterError::Usage(m)) if refused => {
                        assert!(m.contains(what), "{what}: {m}")
                    }
                    Err(other) => panic!("{what} with {sep:?}: {other:?}"),
                    Ok(running) if !refused => {
                        assert_eq!(running.wait().expect("the job runs").0, 1, "{what}");
                    }
                    Ok(running) => {
                        let _ = running.wait();
                        panic!("{what} with {sep:?} was accepted");
                    }
                }
                markers.push(marker);
            }
        }
        // Nothing refused was submitted, so nothing can run later either; check a while anyway.
        std::thread::sleep(Duration::from_secs(2));
        for m in markers {
            assert!(!m.exists(), "{} was created: the payload ran", m.display());
        }
        // The same settings of the cluster itself.
        let base = || cluster(&env, BatchSystem::Slurm);
        for (what, c) in [
            ("user", base().user("me\nyou")),
            ("work directory", base().workdir("jobs\ntouch x")),
            ("environment variable", base().env("X", "a\0b")),
            ("environment variable", base().env("A B", "x")),
            (
                "host",
                cluster::Cluster::new("-oProxyCommand=touch /tmp/blazer-x", BatchSystem::Slurm),
            ),
        ] {
            match c.connect() {
                Err(ClusterError::Usage(m)) => assert!(m.contains(what), "{what}: {m}"),
                other => panic!("{what}: expected a usage error, got {other:?}"),
            }
        }
    });
}

/// The processes whose command line holds `needle`, this test's own excepted.
fn processes_with(needle: &str) -> Vec<String> {
    let out = std::process::Command::new("pgrep")
        .args(["-a", "-f", needle])
        .output()
        .expect("pgrep");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.contains("pgrep"))
        .map(String::from)
        .collect()
}

#[test]
fn no_ssh_master_outlives_its_program_however_it_ends() {
    let Some(env) = env() else { return };
    bounded(Duration::from_secs(120), "master lifetime", || {
        for mode in ["drop", "panic", "abort", "exit", "wait"] {
            // A config file of its own names this run's ssh processes on their command line.
            let config = Path::new(&env["DIR"]).join(format!("ssh-config-{mode}"));
            std::fs::write(&config, "").unwrap();
            let needle = config.to_string_lossy().into_owned();
            let mut child =
                std::process::Command::new(env!("CARGO_BIN_EXE_blazer-cluster-connect"))
                    .args([
                        &env["BLAZER_CLUSTER_HOST"],
                        &env["BLAZER_CLUSTER_PORT"],
                        &env["BLAZER_CLUSTER_USER"],
                        &env["BLAZER_CLUSTER_KEY"],
                        &env["BLAZER_CLUSTER_KNOWN_HOSTS"],
                        &needle,
                        mode,
                    ])
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::null())
                    .spawn()
                    .expect("start the program");
            let mut line = String::new();
            use std::io::BufRead;
            std::io::BufReader::new(child.stdout.take().unwrap())
                .read_line(&mut line)
                .unwrap();
            assert_eq!(line.trim(), "CONNECTED", "{mode}");
            if mode == "wait" {
                assert!(
                    !processes_with(&needle).is_empty(),
                    "the master runs while in use"
                );
                child.kill().unwrap(); // SIGKILL: nothing of the program runs any more
            }
            let _ = child.wait();
            let deadline = std::time::Instant::now() + Duration::from_secs(5);
            let mut left = processes_with(&needle);
            while !left.is_empty() && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
                left = processes_with(&needle);
            }
            assert!(left.is_empty(), "after `{mode}`, left running: {left:?}");
        }
    });
}

#[test]
fn shell_start_up_files_that_print_change_nothing_read_back() {
    let Some(env) = env() else { return };
    bounded(Duration::from_secs(120), "noisy login", || {
        // A user whose .bashrc and .profile print on stdout and stderr.
        let noisy = |system| {
            cluster(&env, system)
                .user(&env["BLAZER_CLUSTER_NOISY_USER"])
                .workdir(format!("{}/noisy-jobs", env["DIR"]))
        };
        let session = noisy(BatchSystem::Slurm).connect().expect("login");
        assert_eq!(
            session.run(["printf", "%s", "exactly this"]).unwrap(),
            "exactly this"
        );
        assert_eq!(session.run(["echo", "and a line"]).unwrap(), "and a line\n");
        // The job directory comes from `pwd`, the result from `cat`, the id from sbatch, the
        // state from squeue/sacct/scontrol: all read back through the same shell.
        let job: cluster::Job<Vec<i64>, (i64, String)> = session.job(slurm_job(&env, "sumsq"));
        let mut running = job.submit(&vec![1, 2, 3]).expect("submit");
        assert!(running.dir().starts_with('/'), "{:?}", running.dir());
        assert!(!running.id().is_empty() && running.id().chars().all(|c| c.is_ascii_digit()));
        running.refresh().expect("state");
        let (sum, _) = running.wait().expect("the job's result");
        assert_eq!(sum, 14);
        // The same with mpirun on the login host: a pid for an id, a status file for a state.
        let mpirun = noisy(BatchSystem::Mpirun).connect().expect("login");
        let job: cluster::Job<Vec<i64>, (i64, String)> =
            mpirun.job(JobSpec::command([common::TESTJOB, "sumsq"]).name("noisy-mpirun"));
        assert_eq!(job.run(vec![2, 2]).expect("mpirun job").0, 8);
    });
}

#[test]
fn a_job_given_up_on_is_cancelled_not_left_running() {
    let Some(env) = env() else { return };
    bounded(Duration::from_secs(90), "given up", || {
        let session = cluster(&env, BatchSystem::Slurm).connect().expect("login");
        let sleeper: cluster::Job<(), ()> = session.job(
            JobSpec::command(["sleep", "120"])
                .name("given-up")
                .queue(&env["BLAZER_CLUSTER_PARTITION"])
                .wait_timeout(Duration::from_secs(2)),
        );
        let running = sleeper.submit(&()).expect("submit");
        let id = running.id().to_string();
        let err = running.wait().unwrap_err();
        assert!(matches!(err, ClusterError::Timeout(_)), "{err:?}");
        assert!(err.to_string().contains("it was cancelled"), "{err}");
        // Slurm lets it go: gone from the queue (or CANCELLED while it leaves).
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let state = session
                .run(["squeue", "-h", "-j", &id, "-o", "%T"])
                .unwrap_or_default();
            let state = state.trim();
            if state.is_empty() || state.starts_with("CANCELLED") {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "job {id} still {state}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    });
}
