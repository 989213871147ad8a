//! A cross-cluster pipeline: a local task, then a Slurm job over ssh, then a local task on the
//! job's result. The same binary is the driver and, submitted through Slurm, the remote job.
//!
//! ```sh
//! scripts/cluster-env.sh up                        # or point the variables at a real cluster
//! set -a; . /tmp/blazer-cluster-env/env; set +a    # BLAZER_CLUSTER_HOST, _PORT, _USER, _KEY...
//! cargo run --example cluster_pipeline
//! ```
//!
//! Settings (environment): `BLAZER_CLUSTER_HOST`, `BLAZER_CLUSTER_USER`, `BLAZER_CLUSTER_KEY`
//! (required); `BLAZER_CLUSTER_PORT` (22), `BLAZER_CLUSTER_PARTITION` (the default partition),
//! `BLAZER_CLUSTER_KNOWN_HOSTS` (ssh's usual files) and `BLAZER_CLUSTER_BINARY` (this program's
//! path on the cluster; by default its local path, right when the cluster shares this file
//! system, as the loopback test cluster does).

use blazer::cluster::{self, BatchSystem, Cluster, JobSpec, Stage};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// What the remote job sends back.
#[derive(Debug, Serialize, Deserialize)]
struct Summary {
    sum_of_squares: i64,
    slurm_job: String,
    host: String,
}

#[blazer::task]
fn numbers(n: i64) -> Vec<i64> {
    (1..=n).collect()
}

#[blazer::task]
fn report(s: Summary) -> String {
    format!(
        "sum of squares {} computed by Slurm job {} on {}",
        s.sum_of_squares, s.slurm_job, s.host
    )
}

/// The job's side: runs on the cluster, inside the Slurm allocation.
fn remote(xs: Vec<i64>) -> Summary {
    Summary {
        sum_of_squares: xs.iter().map(|x| x * x).sum(),
        slurm_job: std::env::var("SLURM_JOB_ID").unwrap_or_else(|_| "?".into()),
        host: blazer::host(),
    }
}

fn setting(key: &str) -> blazer::Result<String> {
    std::env::var(key).map_err(|_| {
        blazer::Error::Usage(format!(
            "{key} is not set. This example needs BLAZER_CLUSTER_HOST, BLAZER_CLUSTER_USER and \
             BLAZER_CLUSTER_KEY (and optionally BLAZER_CLUSTER_PORT, BLAZER_CLUSTER_PARTITION, \
             BLAZER_CLUSTER_KNOWN_HOSTS, BLAZER_CLUSTER_BINARY); `scripts/cluster-env.sh up` \
             writes them for a loopback test cluster to /tmp/blazer-cluster-env/env"
        ))
    })
}

#[blazer::main]
fn main() -> blazer::Result<()> {
    if cluster::remote::is_job() {
        cluster::remote::serve(remote)?;
        return Ok(());
    }
    let port = std::env::var("BLAZER_CLUSTER_PORT").unwrap_or_else(|_| "22".into());
    let port = port
        .parse()
        .map_err(|_| blazer::Error::Usage(format!("BLAZER_CLUSTER_PORT={port} is not a port")))?;
    let mut hpc = Cluster::new(setting("BLAZER_CLUSTER_HOST")?, BatchSystem::Slurm)
        .port(port)
        .user(setting("BLAZER_CLUSTER_USER")?)
        .identity(setting("BLAZER_CLUSTER_KEY")?)
        .poll_interval(Duration::from_millis(500));
    if let Ok(file) = std::env::var("BLAZER_CLUSTER_KNOWN_HOSTS") {
        hpc = hpc.known_hosts(file);
    }
    let binary = match std::env::var("BLAZER_CLUSTER_BINARY") {
        Ok(path) => path,
        Err(_) => std::env::current_exe()
            .map_err(|e| blazer::Error::Usage(e.to_string()))?
            .display()
            .to_string(),
    };
    let mut spec = JobSpec::binary(binary)
        .name("cluster_pipeline")
        .nodes(1)
        .time_limit(Duration::from_secs(300))
        .wait_timeout(Duration::from_secs(300));
    if let Ok(partition) = std::env::var("BLAZER_CLUSTER_PARTITION") {
        spec = spec.queue(partition);
    }

    let session = hpc.connect()?; // one login for every job of the session
    let job: cluster::Job<Vec<i64>, Summary> = session.job(spec);
    let text = cluster::run_stages(
        cluster::stage(blazer::call::<numbers>(4))
            .then(job)
            .then(blazer::task::<report>()),
    )?;
    blazer::root_println!("{text}");
    Ok(())
}
