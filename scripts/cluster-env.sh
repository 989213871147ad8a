#!/usr/bin/env bash
# Starts (or stops) the real servers that blazer-cluster's tests run against, on loopback only:
# an OpenSSH server on 127.0.0.1 with generated keys, and a one-node Slurm (munged, slurmctld,
# slurmd in the foreground, in the background of this script). Everything lives in one
# directory, $BLAZER_CLUSTER_DIR (default /tmp/blazer-cluster-env); `up` writes its settings to
# $BLAZER_CLUSTER_DIR/env, which the tests read. Needs root (slurmd and sshd run as root).
#
#   scripts/cluster-env.sh up     # install what is missing, start everything, wait until ready
#   scripts/cluster-env.sh down   # stop everything and remove the directory, whatever state it is in
set -euo pipefail

DIR="${BLAZER_CLUSTER_DIR:-/tmp/blazer-cluster-env}"
PORT="${BLAZER_CLUSTER_SSH_PORT:-22422}"
# A user that logs in with a password: the tests of the prompt path need one.
PW_USER="blazerpw"
# A user whose shell start-up files print banners on stdout and stderr, as many clusters'
# do: what blazer reads back from remote commands must not depend on them.
NOISY_USER="blazernoisy"

log() { echo "cluster-env: $*" >&2; }

# shellcheck source=lib/daemons.sh
. "$(dirname "$0")/lib/daemons.sh"

install_missing() {
    local need=()
    mapfile -t -O "${#need[@]}" need < <(missing_server_packages)
    apt_install "${need[@]}"
}

down() {
    if [ -d "$DIR" ]; then
        # Reverse order of start-up: Slurm daemons, then munge, then sshd.
        for p in slurmd slurmctld munged sshd; do stop_pidfile "$DIR/$p.pid"; done
        rm -rf "$DIR"
    fi
    for u in "$PW_USER" "$NOISY_USER"; do
        if id "$u" >/dev/null 2>&1; then userdel "$u" 2>/dev/null || true; fi
    done
    log "down"
}

up() {
    [ "$(id -u)" -eq 0 ] || { log "must run as root (slurmd and sshd need it)"; exit 1; }
    install_missing
    down 2>/dev/null || true
    mkdir -p "$DIR"
    chmod 755 "$DIR"
    local me; me="$(id -un)"

    # --- OpenSSH on 127.0.0.1 ---
    ssh-keygen -q -t ed25519 -N '' -f "$DIR/host_key"
    ssh-keygen -q -t ed25519 -N '' -C blazer-cluster-test -f "$DIR/client_key"
    # A second key that is not authorized: the failed-login tests use it.
    ssh-keygen -q -t ed25519 -N '' -C blazer-cluster-stranger -f "$DIR/stranger_key"
    cp "$DIR/client_key.pub" "$DIR/authorized_keys"
    echo "127.0.0.1 $(cut -d' ' -f1,2 "$DIR/host_key.pub")" >"$DIR/known_hosts"
    echo "[127.0.0.1]:$PORT $(cut -d' ' -f1,2 "$DIR/host_key.pub")" >>"$DIR/known_hosts"
    # The password user: a fresh random password each time, kept only in this test directory.
    local pw; pw="$(head -c 18 /dev/urandom | base64 | tr -d '/+=')"
    useradd -M -d /nonexistent -s /bin/sh "$PW_USER"
    echo "$PW_USER:$pw" | chpasswd
    printf '%s\n' "$pw" >"$DIR/password"
    chmod 600 "$DIR/password"
    # The noisy user: bash, with a home whose start-up files talk.
    useradd -M -d "$DIR/noisy-home" -s /bin/bash "$NOISY_USER"
    usermod -p "*" "$NOISY_USER" # no password, but not locked: sshd lets its key in
    mkdir -p "$DIR/noisy-home" "$DIR/noisy-jobs"
    for f in .bashrc .profile .bash_profile; do
        printf 'echo "Welcome to the cluster ($f on $(hostname))"\necho "Quota: 12 of 50 GB" >&2\n' \
            >"$DIR/noisy-home/$f"
    done
    chown -R "$NOISY_USER" "$DIR/noisy-home" "$DIR/noisy-jobs"
    mkdir -p /run/sshd
    cat >"$DIR/sshd_config" <<CONF
ListenAddress 127.0.0.1
Port $PORT
HostKey $DIR/host_key
PidFile $DIR/sshd.pid
AuthorizedKeysFile $DIR/authorized_keys
# The key files live in a temporary directory, not in a home directory.
StrictModes no
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication yes
KbdInteractiveAuthentication no
UsePAM no
MaxStartups 50
MaxSessions 50
LogLevel VERBOSE
SetEnv SLURM_CONF=$DIR/slurm/slurm.conf
Subsystem sftp internal-sftp
CONF
    /usr/sbin/sshd -t -f "$DIR/sshd_config"
    # Daemons never hold this script's stdout: a caller reading it through a pipe would wait
    # for them forever.
    /usr/sbin/sshd -D -f "$DIR/sshd_config" -E "$DIR/sshd.log" </dev/null >"$DIR/sshd.out" 2>&1 &
    echo $! >"$DIR/sshd.pid.bg"

    # --- munge, with its own key and socket ---
    start_munge "$DIR/munge" "$DIR/munged.pid"

    # --- Slurm: one node, one partition, no accounting database ---
    mkdir -p "$DIR/slurm/state" "$DIR/slurm/spool"
    local cpus; cpus="$(nproc)"
    cat >"$DIR/slurm/slurm.conf" <<CONF
ClusterName=blazertest
SlurmctldHost=localhost
SlurmctldPort=26817
SlurmdPort=26818
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$DIR/munge/munge.socket
StateSaveLocation=$DIR/slurm/state
SlurmdSpoolDir=$DIR/slurm/spool
SlurmctldPidFile=$DIR/slurm/slurmctld.pid
SlurmdPidFile=$DIR/slurm/slurmd.pid
SlurmctldLogFile=$DIR/slurm/slurmctld.log
SlurmdLogFile=$DIR/slurm/slurmd.log
$(slurm_common_settings)
NodeName=localhost CPUs=$cpus State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
    export SLURM_CONF="$DIR/slurm/slurm.conf"
    /usr/sbin/slurmctld -D -i -f "$SLURM_CONF" </dev/null >"$DIR/slurm/slurmctld.out" 2>&1 &
    echo $! >"$DIR/slurmctld.pid"
    /usr/sbin/slurmd -D -f "$SLURM_CONF" </dev/null >"$DIR/slurm/slurmd.out" 2>&1 &
    echo $! >"$DIR/slurmd.pid"
    wait_for "slurm" "$DIR/slurm/slurmctld.log" sh -c \
        "sinfo -h -N -o '%t' | grep -qx idle"
    # sshd came up long ago; check it answers before declaring the environment ready.
    mv "$DIR/sshd.pid.bg" "$DIR/sshd.pid" 2>/dev/null || true
    wait_for sshd "$DIR/sshd.log" ssh -F /dev/null -o BatchMode=yes \
        -o UserKnownHostsFile="$DIR/known_hosts" -o StrictHostKeyChecking=yes \
        -i "$DIR/client_key" -p "$PORT" "$me@127.0.0.1" true

    cat >"$DIR/env" <<ENV
BLAZER_CLUSTER_HOST=127.0.0.1
BLAZER_CLUSTER_PORT=$PORT
BLAZER_CLUSTER_USER=$me
BLAZER_CLUSTER_KEY=$DIR/client_key
BLAZER_CLUSTER_STRANGER_KEY=$DIR/stranger_key
BLAZER_CLUSTER_KNOWN_HOSTS=$DIR/known_hosts
BLAZER_CLUSTER_PW_USER=$PW_USER
BLAZER_CLUSTER_PW_FILE=$DIR/password
BLAZER_CLUSTER_NOISY_USER=$NOISY_USER
BLAZER_CLUSTER_PARTITION=debug
ENV
    log "up: sshd on 127.0.0.1:$PORT, slurm partition 'debug' on localhost ($DIR/env)"
}

case "${1:-}" in
    up) up ;;
    down) down ;;
    *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
