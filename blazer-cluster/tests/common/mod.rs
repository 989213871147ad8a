//! What the tests against the loopback sshd and Slurm share: their settings, the cluster and
//! job they start from, and a time limit.
#![allow(dead_code)] // each test file uses its own part

use blazer_cluster::{BatchSystem, Cluster, JobSpec};
use std::collections::HashMap;
use std::sync::mpsc;
use std::time::Duration;

pub(crate) const TESTJOB: &str = env!("CARGO_BIN_EXE_blazer-cluster-testjob");

/// The settings `cluster-env.sh up` wrote, or `None` when skipping was asked for explicitly.
pub(crate) fn env() -> Option<HashMap<String, String>> {
    if std::env::var("BLAZER_CLUSTER_TESTS").as_deref() == Ok("skip") {
        eprintln!("BLAZER_CLUSTER_TESTS=skip: not testing against real ssh and Slurm servers");
        // The ledger of skipped checks that `scripts/test.sh` counts (kind `cluster`).
        if let Some(path) = std::env::var_os("BLAZER_SKIP_LOG") {
            let line = "cluster\tblazer-cluster tests\tBLAZER_CLUSTER_TESTS=skip\n";
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .and_then(|mut f| std::io::Write::write_all(&mut f, line.as_bytes()))
                .expect("BLAZER_SKIP_LOG");
        }
        return None;
    }
    let dir = std::env::var("BLAZER_CLUSTER_DIR").unwrap_or("/tmp/blazer-cluster-env".into());
    let file = format!("{dir}/env");
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| {
        panic!(
            "the cluster test environment is not up ({file}: {e}). Start it with \
             `scripts/cluster-env.sh up` (as root), or set BLAZER_CLUSTER_TESTS=skip to skip \
             these tests on purpose"
        )
    });
    let mut map: HashMap<String, String> = text
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    map.insert("DIR".into(), dir);
    Some(map)
}

/// Runs `body` with a hard time limit: a hung test ends the test process with a message.
pub(crate) fn bounded(limit: Duration, name: &'static str, body: impl FnOnce()) {
    let (done, wait) = mpsc::channel::<()>();
    std::thread::spawn(move || {
        if let Err(mpsc::RecvTimeoutError::Timeout) = wait.recv_timeout(limit) {
            eprintln!("test `{name}` took longer than {limit:?}: aborting");
            std::process::exit(124);
        }
    });
    body();
    let _ = done.send(());
}

pub(crate) fn cluster(env: &HashMap<String, String>, batch_system: BatchSystem) -> Cluster {
    Cluster::new(&env["BLAZER_CLUSTER_HOST"], batch_system)
        .port(env["BLAZER_CLUSTER_PORT"].parse().expect("port"))
        .user(&env["BLAZER_CLUSTER_USER"])
        .identity(&env["BLAZER_CLUSTER_KEY"])
        .known_hosts(&env["BLAZER_CLUSTER_KNOWN_HOSTS"])
        .ssh_config("/dev/null")
        .workdir(format!("{}/jobs", env["DIR"]))
        .poll_interval(Duration::from_millis(200))
        .connect_timeout(Duration::from_secs(5))
        .command_timeout(Duration::from_secs(30))
}

pub(crate) fn slurm_job(env: &HashMap<String, String>, mode: &str) -> JobSpec {
    JobSpec::command([TESTJOB, mode])
        .name(format!("test-{mode}"))
        .queue(&env["BLAZER_CLUSTER_PARTITION"])
        .nodes(1)
        .time_limit(Duration::from_secs(120))
        .wait_timeout(Duration::from_secs(60))
}
