#!/usr/bin/env bash
# Simulated cluster for blazer's multi-host tests: three hosts h1, h2, h3 on this machine, each
# a network namespace with its own host name, one veth into a bridge, an address in a private
# test subnet, an OpenSSH server with a generated key, and a Slurm slurmd (slurmctld on h1).
#
# Nothing is added to the machine's own network namespace: the bridge lives in a fourth
# namespace (the "switch"), and each veth pair is created directly between a host namespace and
# the switch, so the test subnet 10.77.0.0/24 exists only inside those namespaces and has no
# route anywhere else. Everything else lives in $BLAZER_MULTIHOST_DIR (default
# /tmp/blazer-multihost-env), including the hosts file that each host sees as /etc/hosts.
# Needs root.
#
#   scripts/multihost-env.sh up           # install what is missing, start everything, wait until ready
#   scripts/multihost-env.sh down         # remove everything, whatever state it is in
#   scripts/multihost-env.sh exec hN CMD  # run CMD on host hN (its network, host name and /etc/hosts)
#   scripts/multihost-env.sh cut hN       # take hN's port on the bridge down (a pulled cable)
#   scripts/multihost-env.sh heal hN      # bring it back up
#   scripts/multihost-env.sh status       # show namespaces, links and daemons
#
# `up` writes $BLAZER_MULTIHOST_DIR/env: the Open MPI and Slurm settings the tests use.
set -euo pipefail

DIR="${BLAZER_MULTIHOST_DIR:-/tmp/blazer-multihost-env}"
SUBNET_PREFIX="10.77.0"
HOSTS=(h1 h2 h3)
NS_PREFIX="bzmh-"
SWITCH="${NS_PREFIX}sw"
BRIDGE="bzbr0"
# Slurm ports (inside the namespaces only; they cannot clash with a Slurm on the machine itself).
CTLD_PORT=6917
SLURMD_PORT=6918
SELF="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"

log() { echo "multihost-env: $*" >&2; }

# shellcheck source=lib/daemons.sh
. "$(dirname "$0")/lib/daemons.sh"

install_missing() {
    local need=()
    command -v ip >/dev/null 2>&1 || need+=(iproute2)
    command -v unshare >/dev/null 2>&1 || need+=(util-linux)
    command -v mpirun >/dev/null 2>&1 || need+=(openmpi-bin)
    mapfile -t -O "${#need[@]}" need < <(missing_server_packages)
    apt_install "${need[@]}"
}

ns() { echo "${NS_PREFIX}$1"; }
addr() { echo "$SUBNET_PREFIX.${1#h}"; }

# Runs "$@" on host $1: in its network namespace, in a fresh UTS namespace whose host name is
# the host's name, and in a private mount namespace where /etc/hosts is the test hosts file and
# /etc/resolv.conf is empty (names outside the test fail at once). Not `ip netns exec`: that
# remounts /sys, which hides the cgroup file systems slurmd needs. `exec` all the way down, so
# the pid of this call is the pid of the command (what `timeout` and the pid files rely on).
on_host() {
    local h="$1"; shift
    [ -f "$DIR/hosts" ] || { log "not up: no $DIR/hosts (run: $0 up)"; exit 1; }
    exec nsenter --net="/run/netns/$(ns "$h")" unshare --uts --mount --propagation private \
        sh -c 'mount --bind "$1" /etc/hosts && mount --bind "$2" /etc/resolv.conf \
            && hostname "$0" && shift 2 && exec "$@"' \
        "$h" "$DIR/hosts" "$DIR/resolv.conf" "$@"
}

down() {
    if [ -d "$DIR" ]; then
        local f
        # Slurm first (slurmd, then slurmctld), then munge, then the sshds.
        for f in "$DIR"/pids/slurmd-*.pid "$DIR"/pids/slurmctld.pid "$DIR"/pids/munged.pid \
            "$DIR"/pids/sshd-*.pid; do
            [ -e "$f" ] && stop_pidfile "$f"
        done
    fi
    # Any process still inside a test namespace (an orted or a rank left by a killed run, a
    # slurmstepd) belongs to this environment: end it, by pid, before removing the namespace.
    local h n pids
    for h in "${HOSTS[@]}" sw; do
        n="$(ns "$h")"
        if ip netns list 2>/dev/null | grep -qw "$n"; then
            pids="$(ip netns pids "$n" 2>/dev/null || true)"
            if [ -n "$pids" ]; then
                # shellcheck disable=SC2086
                kill $pids 2>/dev/null || true
                sleep 0.5
                pids="$(ip netns pids "$n" 2>/dev/null || true)"
                # shellcheck disable=SC2086
                [ -z "$pids" ] || kill -9 $pids 2>/dev/null || true
            fi
            # Deleting a namespace deletes its veth ends, and with them their peers.
            ip netns del "$n" 2>/dev/null || true
        fi
    done
    rm -rf "$DIR"
    log "down"
}

up_network() {
    ip netns add "$SWITCH"
    ip -n "$SWITCH" link set lo up
    ip -n "$SWITCH" link add "$BRIDGE" type bridge
    ip -n "$SWITCH" link set "$BRIDGE" up
    local h n
    for h in "${HOSTS[@]}"; do
        n="$(ns "$h")"
        ip netns add "$n"
        ip -n "$n" link set lo up
        # eth0 in the host, p<N> (its port on the bridge) in the switch.
        ip link add eth0 netns "$n" type veth peer name "p${h#h}" netns "$SWITCH"
        ip -n "$SWITCH" link set "p${h#h}" master "$BRIDGE"
        ip -n "$SWITCH" link set "p${h#h}" up
        ip -n "$n" addr add "$(addr "$h")/24" dev eth0
        ip -n "$n" link set eth0 up
    done
}

up_ssh() {
    ssh-keygen -q -t ed25519 -N '' -f "$DIR/ssh/host_key"
    ssh-keygen -q -t ed25519 -N '' -C blazer-multihost -f "$DIR/ssh/client_key"
    cp "$DIR/ssh/client_key.pub" "$DIR/ssh/authorized_keys"
    : >"$DIR/ssh/known_hosts"
    local h
    for h in "${HOSTS[@]}"; do
        echo "$h,$(addr "$h") $(cut -d' ' -f1,2 "$DIR/ssh/host_key.pub")" >>"$DIR/ssh/known_hosts"
    done
    # The client side: what mpirun's ssh launcher reads (-F), so it needs no ~/.ssh.
    {
        echo "Host ${HOSTS[*]}"
        echo "    User root"
        echo "    IdentityFile $DIR/ssh/client_key"
        echo "    IdentitiesOnly yes"
        echo "    UserKnownHostsFile $DIR/ssh/known_hosts"
        echo "    StrictHostKeyChecking yes"
        echo "    BatchMode yes"
        echo "    ConnectTimeout 10"
        echo "    LogLevel ERROR"
        for h in "${HOSTS[@]}"; do
            echo "Host $h"
            echo "    HostName $(addr "$h")"
        done
    } >"$DIR/ssh/ssh_config"
    mkdir -p /run/sshd
    cat >"$DIR/ssh/sshd_config" <<CONF
Port 22
HostKey $DIR/ssh/host_key
AuthorizedKeysFile $DIR/ssh/authorized_keys
# The key files live in a temporary directory, not in a home directory.
StrictModes no
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
UseDNS no
MaxStartups 100
MaxSessions 100
SetEnv SLURM_CONF=$DIR/slurm/slurm.conf
CONF
    /usr/sbin/sshd -t -f "$DIR/ssh/sshd_config"
    for h in "${HOSTS[@]}"; do
        "$SELF" exec "$h" /usr/sbin/sshd -D -f "$DIR/ssh/sshd_config" \
            -o "ListenAddress=$(addr "$h")" -o "PidFile=$DIR/ssh/sshd-$h.pidfile" \
            -E "$DIR/ssh/sshd-$h.log" </dev/null >"$DIR/ssh/sshd-$h.out" 2>&1 &
        echo $! >"$DIR/pids/sshd-$h.pid"
    done
}

up_slurm() {
    # One munged serves every host: its socket is a file, which every namespace sees.
    start_munge "$DIR/munge" "$DIR/pids/munged.pid"

    mkdir -p "$DIR/slurm/state"
    local h cpus; cpus="$(nproc)"
    {
        cat <<CONF
ClusterName=blazermh
SlurmctldHost=h1($(addr h1))
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$DIR/munge/munge.socket
StateSaveLocation=$DIR/slurm/state
SlurmdSpoolDir=$DIR/slurm/spool-%n
# Per-host temporary directories: the hosts share one /tmp, and PMIx's client directory
# (spmix_appdir_<uid>_<job>.<step>) would otherwise clash between them.
TmpFS=$DIR/slurm/tmp-%n
SlurmctldPidFile=$DIR/slurm/slurmctld.pidfile
SlurmdPidFile=$DIR/slurm/slurmd-%n.pidfile
SlurmctldLogFile=$DIR/slurm/slurmctld.log
SlurmdLogFile=$DIR/slurm/slurmd-%n.log
$(slurm_common_settings)
# Every simulated host has all of this machine's cores (they share them).
CONF
        for h in "${HOSTS[@]}"; do
            echo "NodeName=$h NodeAddr=$(addr "$h") CPUs=$cpus State=UNKNOWN"
        done
        echo "PartitionName=sim Nodes=$(IFS=,; echo "${HOSTS[*]}") Default=YES MaxTime=INFINITE OverSubscribe=YES State=UP"
    } >"$DIR/slurm/slurm.conf"
    for h in "${HOSTS[@]}"; do mkdir -p "$DIR/slurm/spool-$h" "$DIR/slurm/tmp-$h"; done
    export SLURM_CONF="$DIR/slurm/slurm.conf"
    "$SELF" exec h1 /usr/sbin/slurmctld -D -i -f "$SLURM_CONF" \
        >"$DIR/slurm/slurmctld.out" 2>&1 </dev/null &
    echo $! >"$DIR/pids/slurmctld.pid"
    for h in "${HOSTS[@]}"; do
        "$SELF" exec "$h" /usr/sbin/slurmd -D -N "$h" -f "$SLURM_CONF" \
            >"$DIR/slurm/slurmd-$h.out" 2>&1 </dev/null &
        echo $! >"$DIR/pids/slurmd-$h.pid"
    done
}

# True when every simulated node is idle in Slurm's view.
slurm_ready() {
    local states
    states="$("$SELF" exec h1 sinfo -h -N -o '%N %t')" || return 1
    [ "$(echo "$states" | grep -c ' idle$')" -eq "${#HOSTS[@]}" ]
}

up() {
    [ "$(id -u)" -eq 0 ] || { log "must run as root (namespaces, sshd and slurmd need it)"; exit 1; }
    install_missing
    down 2>/dev/null || true
    # A half-started environment is removed (BLAZER_MULTIHOST_KEEP=1 keeps it to debug).
    if [ "${BLAZER_MULTIHOST_KEEP:-0}" != 1 ]; then
        trap 'rc=$?; [ $rc -eq 0 ] || { log "up failed ($rc): tearing down"; down; }' EXIT
    fi
    mkdir -p "$DIR/ssh" "$DIR/pids"
    chmod 755 "$DIR"
    {
        echo "127.0.0.1 localhost"
        local h
        for h in "${HOSTS[@]}"; do echo "$(addr "$h") $h"; done
    } >"$DIR/hosts"
    # No name server inside the test subnet.
    : >"$DIR/resolv.conf"
    up_network
    up_ssh
    up_slurm
    local h
    for h in "${HOSTS[@]}"; do
        wait_for "sshd on $h" "$DIR/ssh/sshd-$h.log" \
            "$SELF" exec h1 ssh -F "$DIR/ssh/ssh_config" "$h" true
    done
    export SLURM_CONF="$DIR/slurm/slurm.conf"
    wait_for slurm "$DIR/slurm/slurmctld.log" slurm_ready
    # What the tests (and people) use to run Open MPI across the hosts: TCP between hosts on
    # the test subnet, shared memory inside one, the ssh launcher with this environment's keys.
    cat >"$DIR/env" <<ENV
BLAZER_MULTIHOST_HOSTS=$(IFS=,; echo "${HOSTS[*]}")
BLAZER_MULTIHOST_SUBNET=$SUBNET_PREFIX.0/24
BLAZER_MULTIHOST_SSH_CONFIG=$DIR/ssh/ssh_config
BLAZER_MULTIHOST_HOSTS_FILE=$DIR/hosts
SLURM_CONF=$DIR/slurm/slurm.conf
OMPI_MCA_plm_rsh_args="-F $DIR/ssh/ssh_config"
OMPI_MCA_plm_rsh_no_tree_spawn=1
OMPI_MCA_btl=self,vader,tcp
OMPI_MCA_pml=ob1
OMPI_MCA_btl_tcp_if_include=$SUBNET_PREFIX.0/24
OMPI_MCA_oob_tcp_if_include=$SUBNET_PREFIX.0/24
ENV
    log "up: hosts ${HOSTS[*]} on $SUBNET_PREFIX.0/24 (namespaces $(ns h1)..), sshd and slurmd on each, slurmctld on h1 ($DIR/env)"
}

# Brings host $1's link back and tells Slurm the node is usable again (a cut makes slurmctld
# mark it down when a job cannot reach it).
heal() {
    check_host "$1"
    ip -n "$SWITCH" link set "p${1#h}" up
    if [ -f "$DIR/slurm/slurm.conf" ]; then
        export SLURM_CONF="$DIR/slurm/slurm.conf"
        "$SELF" exec h1 scontrol update nodename="$1" state=resume 2>/dev/null || true
        "$SELF" exec h1 scontrol reconfigure 2>/dev/null || true
    fi
    log "$1 back"
}

status() {
    ip netns list | grep "^$NS_PREFIX" || echo "no namespaces"
    ip -n "$SWITCH" -br link 2>/dev/null || true
    local f
    for f in "$DIR"/pids/*.pid; do
        [ -e "$f" ] || continue
        if kill -0 "$(cat "$f")" 2>/dev/null; then echo "$(basename "$f" .pid) running"; else echo "$(basename "$f" .pid) dead"; fi
    done
}

check_host() {
    local h
    for h in "${HOSTS[@]}"; do [ "$h" = "${1:-}" ] && return 0; done
    echo "unknown host \`${1:-}\` (one of ${HOSTS[*]})" >&2
    exit 2
}

case "${1:-}" in
    up) up ;;
    down) down ;;
    exec) shift; check_host "${1:-}"; on_host "$@" ;;
    cut) check_host "${2:-}"; ip -n "$SWITCH" link set "p${2#h}" down; log "cut $2 off" ;;
    heal) heal "${2:-}" ;;
    status) status ;;
    *) echo "usage: $0 up|down|exec HOST CMD...|cut HOST|heal HOST|status" >&2; exit 2 ;;
esac
