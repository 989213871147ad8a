# Shell helpers shared by the scripts that start test servers (cluster-env.sh,
# multihost-env.sh). Source it after defining `log`.

# Installs, with apt, the Debian packages named in "$@" (nothing when the list is empty).
apt_install() {
    [ $# -gt 0 ] || return 0
    log "installing $*"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# Packages that sshd, munge and Slurm need and that are missing, one per line.
missing_server_packages() {
    [ -x /usr/sbin/sshd ] || echo openssh-server
    command -v ssh >/dev/null 2>&1 || echo openssh-client
    [ -x /usr/sbin/munged ] || echo munge
    [ -x /usr/sbin/slurmctld ] || echo slurmctld
    [ -x /usr/sbin/slurmd ] || echo slurmd
    command -v sbatch >/dev/null 2>&1 || echo slurm-client
}

# Kills the process whose pid is in file $1, if it is still alive, and waits for it.
stop_pidfile() {
    local f="$1" pid
    [ -s "$f" ] || { rm -f "$f"; return 0; }
    pid="$(cat "$f")"
    if kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$f"
}

# Waits until "$@" succeeds (at most 30 s); shows the log file $2 on failure.
wait_for() {
    local what="$1" logfile="$2"; shift 2
    for _ in $(seq 150); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.2
    done
    log "$what did not come up; its log:"
    cat "$logfile" >&2 || true
    return 1
}

# The slurm.conf lines both test Slurms share: no cgroups, no accounting database (finished
# jobs stay visible to scontrol for 5 minutes instead), cores as the unit of allocation.
slurm_common_settings() {
    cat <<'CONF'
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
MinJobAge=300
SchedulerType=sched/backfill
CONF
}

# Starts a munged with its own key and socket in directory $1 (created), writes its pid to
# file $2, and waits until its socket is up. Slurm's configs point at "$1/munge.socket".
start_munge() {
    local dir="$1" pidfile="$2"
    mkdir -p "$dir"
    mungekey -c -k "$dir/munge.key" 2>/dev/null \
        || dd if=/dev/urandom of="$dir/munge.key" bs=1 count=128 2>/dev/null
    chown -R munge:munge "$dir"
    chmod 700 "$dir"
    chmod 600 "$dir/munge.key"
    # Daemons never hold the caller's stdout: a caller reading it through a pipe would wait
    # for them forever.
    runuser -u munge -- /usr/sbin/munged -F --force \
        --socket="$dir/munge.socket" --key-file="$dir/munge.key" \
        --pid-file="$dir/munged.pidfile" --log-file="$dir/munged.log" \
        --seed-file="$dir/munged.seed" </dev/null >"$dir/munged.out" 2>&1 &
    echo $! >"$pidfile"
    # Slurm's daemons and clients, not only the munge user, must reach the socket.
    chmod 755 "$dir"
    wait_for munged "$dir/munged.log" test -S "$dir/munge.socket"
}
