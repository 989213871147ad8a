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
        let fields: [Field; 7] = [
            ("name", |s, v| s.name(v)),
            ("queue", |s, v| s.queue(v)),
            ("account", |s, v| s.account(v)),
            ("argument", |s, v| s.arg(v)),
            ("batch-system argument", |s, v| s.batch_arg(v)),
            ("environment variable", |s, v| s.env("X", v)),
            ("environment variable", |s, v| s.env(v, "x")),
        ];
        let mut markers = Vec::new();
        for (i, (what, set)) in fields.into_iter().enumerate() {
            for sep in ['\n', '\r', '\0'] {
                let marker = dir.join(format!("injected-{i}-{}", sep as u32));
                let value = payload(&marker).replace('\n', &sep.to_string());
                let job: cluster::Job<Vec<i64>, (i64, String)> =
                    session.job(set(slurm_job(&env, "sumsq"), value));
                match job.submit(&vec![1]) {
                    Err(ClusterError::Usage(m)) => assert!(m.contains(what), "{what}: {m}"),
                    Err(other) => panic!("{what}: expected a usage error, got {other:?}"),
                    Ok(running) => {
                        let _ = running.wait();
                        panic!("{what} with {sep:?} was accepted");
                    }
                }
                markers.push(marker);
            }
        }
        // Nothing was submitted, so nothing can run later either; check a while anyway.
        std::thread::sleep(Duration::from_secs(2));
        for m in markers {
            assert!(!m.exists(), "{} was created: the payload ran", m.display());
        }
        // The same settings of the cluster itself.
        let base = || cluster(&env, BatchSystem::Slurm);
        for (what, c) in [
            ("user", base().user("me\nyou")),
            ("work directory", base().workdir("jobs\ntouch x")),
            ("environment variable", base().env("X", "a\nb")),
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
