//! Logs in to a cluster, then ends the way a driver can end without dropping its session:
//! the integration tests check that no ssh master outlives it.
//!
//! `blazer-cluster-connect HOST PORT USER KEY KNOWN_HOSTS SSH_CONFIG MODE`, MODE one of
//! `drop` (the session is dropped), `panic` (a panic unwinds), `abort` (as with
//! `panic = "abort"` or `MPI_Abort`), `exit` (`process::exit`), `wait` (sleeps until killed).

use blazer_cluster::{BatchSystem, Cluster};
use std::io::Write;

fn main() {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let [host, port, user, key, known_hosts, config, mode] = &a[..] else {
        eprintln!("usage: blazer-cluster-connect HOST PORT USER KEY KNOWN_HOSTS SSH_CONFIG MODE");
        std::process::exit(2);
    };
    let session = Cluster::new(host, BatchSystem::Mpirun)
        .port(port.parse().expect("port"))
        .user(user)
        .identity(key)
        .known_hosts(known_hosts)
        .ssh_config(config)
        .connect()
        .expect("login");
    println!("CONNECTED");
    let _ = std::io::stdout().flush();
    match mode.as_str() {
        "drop" => drop(session),
        "panic" => panic!("the driver panics while holding a session"),
        "abort" => std::process::abort(),
        "exit" => std::process::exit(0),
        "wait" => loop {
            std::thread::sleep(std::time::Duration::from_secs(60));
        },
        other => panic!("unknown mode {other}"),
    }
}
