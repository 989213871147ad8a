//! Integration tests against real servers on 127.0.0.1: the OpenSSH server and the one-node
//! Slurm that `scripts/cluster-env.sh up` starts. Without that environment these tests fail
//! (so CI cannot skip them by accident) unless `BLAZER_CLUSTER_TESTS=skip` is set.

use blazer_cluster::{
    self as cluster, BatchSystem, Cluster, ClusterError, JobSpec, JobState, Prompt, Secret, Stage,
};
mod common;
use common::{bounded, cluster, env, slurm_job, TESTJOB};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[blazer_macros::task(crate = blazer_runtime)]
fn numbers(n: i64) -> Vec<i64> {
    (1..=n).collect()
}

#[blazer_macros::task(crate = blazer_runtime)]
fn describe(result: (i64, String)) -> String {
    format!("sum of squares {} ({})", result.0, result.1)
}

/// `blazer!` with `crate = path;` builds where no `blazer` crate exists (checked by compiling
/// this test; it needs no cluster, so it is not run against one).
#[allow(dead_code)]
fn composed_without_the_facade() -> blazer_runtime::Result<String> {
    blazer_macros::blazer! {
        crate = blazer_runtime;
        pipeline[numbers(3), constant((14i64, "local".to_string())), describe]
    }
}

#[test]
fn pipeline_runs_a_local_task_then_a_slurm_job_over_ssh_then_a_task_on_its_result() {
    let Some(env) = env() else { return };
    bounded(Duration::from_secs(90), "pipeline", || {
        let session = cluster(&env, BatchSystem::Slurm).connect().expect("login");
        let sumsq: cluster::Job<Vec<i64>, (i64, String)> = session.job(slurm_job(&env, "sumsq"));
        let out = cluster::run_stages(
            cluster::stage(blazer_runtime::call::<numbers>(4))
                .then(sumsq)
                .then(blazer_runtime::task::<describe>()),
        )
        .expect("pipeline");
        // 1 + 4 + 9 + 16, computed by the remote program inside a Slurm allocation.
        assert!(out.starts_with("sum of squares 30 (slurm job "), "{out}");
    });
}

#[test]
fn a_job_exposes_its_id_state_and_logs() {
    let Some(env) = env() else { return };
    bounded(Duration::from_secs(90), "state", || {
        let session = cluster(&env, BatchSystem::Slurm).connect().expect("login");
        let job: cluster::Job<Vec<i64>, (i64, String)> = session.job(slurm_job(&env, "sumsq"));
        let running = job.submit(&vec![2, 3]).expect("submit");
        assert!(
            running.id().parse::<u64>().is_ok(),
            "slurm id {}",
            running.id()
        );
        assert!(running.dir().starts_with(&env["DIR"]), "{}", running.dir());
        let id = running.id().to_string();
        let (total, place) = running.wait().expect("result");
        assert_eq!((total, place), (13, format!("slurm job {id}")));

        // A cancelled job ends CANCELLED, through scancel and the state machine.
        let sleeper: cluster::Job<(), ()> = session.job(
            JobSpec::command(["sleep", "60"])
                .queue(&env["BLAZER_CLUSTER_PARTITION"])
                .wait_timeout(Duration::from_secs(30)),
        );
        let mut running = sleeper.submit(&()).expect("submit");
        running.cancel().expect("scancel");
        while !running.refresh().expect("poll").is_terminal() {
            std::thread::sleep(Duration::from_millis(100));
        }
        assert_eq!(running.state(), &JobState::Cancelled);
        match running.wait() {
            Err(ClusterError::JobFailed { state, .. }) => assert_eq!(state, "CANCELLED"),
            other => panic!("expected a cancelled job, got {other:?}"),
        }
    });
}

#[test]
fn one_login_serves_every_command_and_job_of_a_session() {
    let Some(env) = env() else { return };
    bounded(Duration::from_secs(90), "reuse", || {
        let session = cluster(&env, BatchSystem::Slurm).connect().expect("login");
        // SSH_CLIENT names the client's TCP port: one connection means one port.
        let ports: Vec<String> = (0..4)
            .map(|_| {
                let out = session
                    .run(["sh", "-c", "echo $SSH_CLIENT"])
                    .expect("command");
                out.split_whitespace().nth(1).expect("port").to_string()
            })
            .collect();
        assert!(ports.iter().all(|p| *p == ports[0]), "{ports:?}");
        let job: cluster::Job<Vec<i64>, (i64, String)> = session.job(slurm_job(&env, "sumsq"));
        assert_eq!(job.run(vec![1]).expect("job").0, 1);
        assert_eq!(job.run(vec![5]).expect("job").0, 25);
        let again = session
            .run(["sh", "-c", "echo $SSH_CLIENT"])
            .expect("command");
        assert_eq!(again.split_whitespace().nth(1), Some(ports[0].as_str()));
        // sshd authenticated exactly one connection from that port.
        let log = std::fs::read_to_string(format!("{}/sshd.log", env["DIR"])).expect("sshd log");
        let from_port = format!("from 127.0.0.1 port {} ssh2", ports[0]);
        let logins = log
            .lines()
            .filter(|l| l.starts_with("Accepted publickey") && l.contains(&from_port))
            .count();
        assert_eq!(logins, 1, "logins from port {}:\n{log}", ports[0]);
    });
}

#[test]
fn parallel_mixes_slurm_jobs_and_local_work_on_the_calling_thread() {
    let Some(env) = env() else { return };
    bounded(Duration::from_secs(90), "parallel", || {
        let session = cluster(&env, BatchSystem::Slurm).connect().expect("login");
        let caller = std::thread::current().id();
        let job =
            || -> cluster::Job<Vec<i64>, (i64, String)> { session.job(slurm_job(&env, "sumsq")) };
        let local = cluster::local(move |xs: Vec<i64>| {
            assert_eq!(
                std::thread::current().id(),
                caller,
                "local stage off the caller's thread"
            );
            (xs.iter().sum::<i64>(), "local".to_string())
        });
        let fan = cluster::fork_stages(vec![job().boxed(), local.boxed(), job().boxed()]);
        let out = fan.run(vec![1, 2, 3]).expect("parallel");
        assert_eq!(out.len(), 3);
        assert_eq!(out[0].0, 14);
        assert_eq!(out[1], (6, "local".to_string()));
        assert_eq!(out[2].0, 14);
        assert_ne!(out[0].1, out[2].1, "two distinct Slurm jobs");
    });
}

#[test]
fn hostile_arguments_arrive_verbatim() {
    let Some(env) = env() else { return };
    bounded(Duration::from_secs(90), "quoting", || {
        let marker = format!("{}/pwned", env["DIR"]);
        let hostile = vec![
            format!("'; touch {marker}; echo '"),
            format!("$(touch {marker})"),
            format!("`touch {marker}`"),
            format!("a\nb; touch {marker}"),
            "*".to_string(),
            "$HOME \"x\" \\".to_string(),
            String::new(),
        ];
        let session = cluster(&env, BatchSystem::Slurm).connect().expect("login");
        // Straight over ssh...
        let mut args = vec!["printf".to_string(), "%s\\0".to_string()];
        args.extend(hostile.iter().cloned());
        let out = session.run(&args).expect("printf");
        let echoed: Vec<&str> = out.split('\0').collect();
        assert_eq!(
            &echoed[..hostile.len()],
            &hostile.iter().map(String::as_str).collect::<Vec<_>>()[..]
        );
        // ...and through a batch script, a job name and sbatch.
        let mut spec = slurm_job(&env, "echo").name(format!("x'; touch {marker}"));
        for a in &hostile {
            spec = spec.arg(a);
        }
        let job: cluster::Job<String, (String, Vec<String>)> = session.job(spec);
        let (input, argv) = job.run(hostile[1].clone()).expect("echo job");
        assert_eq!(input, hostile[1]);
        assert_eq!(argv, hostile);
        assert!(
            !std::path::Path::new(&marker).exists(),
            "an argument was executed"
        );
    });
}

#[test]
fn an_unreachable_host_is_a_clear_error() {
    let Some(env) = env() else { return };
    bounded(Duration::from_secs(30), "unreachable", || {
        // A port that was free a moment ago: nothing listens there.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let err = cluster(&env, BatchSystem::Slurm)
            .port(port)
            .connect()
            .unwrap_err();
        match &err {
            ClusterError::Unreachable { detail, .. } => {
                assert!(detail.contains("Connection refused"), "{err}")
            }
            other => panic!("expected Unreachable, got {other:?}"),
        }
        assert!(
            err.to_string()
                .starts_with(&format!("cannot reach 127.0.0.1:{port}")),
            "{err}"
        );
    });
}

#[test]
fn a_failed_login_is_a_clear_error() {
    let Some(env) = env() else { return };
    bounded(Duration::from_secs(30), "login", || {
        let wrong_key = cluster(&env, BatchSystem::Slurm)
            .identity(&env["BLAZER_CLUSTER_STRANGER_KEY"])
            .connect()
            .unwrap_err();
        let wrong_user = cluster(&env, BatchSystem::Slurm)
            .user("nobody-here")
            .connect()
            .unwrap_err();
        for err in [wrong_key, wrong_user] {
            match &err {
                ClusterError::Login { detail, .. } => {
                    assert!(detail.contains("Permission denied"), "{err}")
                }
                other => panic!("expected Login, got {other:?}"),
            }
        }
    });
}

#[test]
fn a_rejected_submission_is_a_clear_error() {
    let Some(env) = env() else { return };
    bounded(Duration::from_secs(30), "rejected", || {
        let session = cluster(&env, BatchSystem::Slurm).connect().expect("login");
        let job: cluster::Job<Vec<i64>, (i64, String)> =
            session.job(slurm_job(&env, "sumsq").queue("no-such-partition"));
        match job.run(vec![1]).unwrap_err() {
            ClusterError::Rejected {
                batch_system,
                detail,
            } => {
                assert_eq!(batch_system, "slurm");
                assert!(detail.contains("invalid partition"), "{detail}");
            }
            other => panic!("expected Rejected, got {other:?}"),
        }
    });
}

#[test]
fn a_failed_job_reports_its_state_exit_code_and_stderr() {
    let Some(env) = env() else { return };
    bounded(Duration::from_secs(90), "failed", || {
        let session = cluster(&env, BatchSystem::Slurm).connect().expect("login");
        let job: cluster::Job<Vec<i64>, i64> = session.job(slurm_job(&env, "fail"));
        let err = cluster::run_stages(cluster::value(vec![1]).then(job)).unwrap_err();
        match &err {
            ClusterError::JobFailed {
                state,
                exit_code,
                stderr_tail,
                ..
            } => {
                assert_eq!(state, "FAILED");
                assert_eq!(*exit_code, Some(3));
                assert!(stderr_tail.contains("failing on purpose"), "{err}");
            }
            other => panic!("expected JobFailed, got {other:?}"),
        }
        // A job that exits 0 but writes no result cannot give an i64...
        let silent: cluster::Job<(), i64> =
            session.job(JobSpec::command(["true"]).queue(&env["BLAZER_CLUSTER_PARTITION"]));
        assert!(matches!(
            silent.run(()),
            Err(ClusterError::JobFailed { .. })
        ));
        // ...but can give `()`.
        let unit: cluster::Job<(), ()> =
            session.job(JobSpec::command(["true"]).queue(&env["BLAZER_CLUSTER_PARTITION"]));
        unit.run(()).expect("a job with no result");
    });
}

#[test]
fn mpirun_over_ssh_without_a_scheduler() {
    let Some(env) = env() else { return };
    bounded(Duration::from_secs(60), "mpirun", || {
        let session = cluster(&env, BatchSystem::Mpirun).connect().expect("login");
        let job: cluster::Job<Vec<i64>, (i64, String)> = session.job(
            JobSpec::command([TESTJOB, "sumsq"])
                .mpi(1)
                .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
                .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
                .wait_timeout(Duration::from_secs(30)),
        );
        assert_eq!(
            job.run(vec![3, 4]).expect("mpirun job"),
            (25, "no-slurm".to_string())
        );
        let failing: cluster::Job<(), ()> = session.job(JobSpec::command([TESTJOB, "fail"]));
        match failing.run(()).unwrap_err() {
            ClusterError::JobFailed { exit_code, .. } => assert_eq!(exit_code, Some(3)),
            other => panic!("expected JobFailed, got {other:?}"),
        }
    });
}

#[test]
fn a_password_is_asked_once_and_never_shows_up() {
    let Some(env) = env() else { return };
    bounded(Duration::from_secs(60), "password", || {
        let password = std::fs::read_to_string(&env["BLAZER_CLUSTER_PW_FILE"]).expect("password");
        let password = password.trim().to_string();
        let asked = Arc::new(AtomicUsize::new(0));
        let questions = Arc::new(Mutex::new(Vec::new()));
        let login = |answer: String| {
            let (asked, questions) = (asked.clone(), questions.clone());
            Cluster::new(&env["BLAZER_CLUSTER_HOST"], BatchSystem::Slurm)
                .port(env["BLAZER_CLUSTER_PORT"].parse().unwrap())
                .user(&env["BLAZER_CLUSTER_PW_USER"])
                .known_hosts(&env["BLAZER_CLUSTER_KNOWN_HOSTS"])
                .ssh_config("/dev/null")
                .prompt(Prompt::with(move |question| {
                    questions.lock().unwrap().push(question.to_string());
                    asked.fetch_add(1, Ordering::SeqCst);
                    Ok(Secret::new(answer.clone()))
                }))
                .connect()
        };
        let session = login(password.clone()).expect("password login");
        for _ in 0..3 {
            assert_eq!(
                session.run(["id", "-un"]).expect("id").trim(),
                env["BLAZER_CLUSTER_PW_USER"]
            );
        }
        assert_eq!(
            asked.load(Ordering::SeqCst),
            1,
            "asked once for the whole session"
        );
        drop(session);

        let wrong = format!("{password}-wrong");
        let err = login(wrong.clone()).unwrap_err();
        assert!(matches!(err, ClusterError::Login { .. }), "{err:?}");
        for text in [err.to_string(), format!("{err:?}")] {
            assert!(
                !text.contains(&wrong) && !text.contains(&password),
                "secret in {text}"
            );
        }
        assert!(!format!("{:?}", Secret::new(password.clone())).contains(&password));
        let log = std::fs::read_to_string(format!("{}/sshd.log", env["DIR"])).unwrap_or_default();
        assert!(
            !log.contains(&password) && !log.contains(&wrong),
            "secret in the sshd log"
        );
    });
}
