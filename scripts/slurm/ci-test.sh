#!/usr/bin/env bash
# End-to-end test of the Slurm templates on a single-node cluster (run by .ci/run, as root).
#
# Installs Debian's slurmctld, slurmd, slurm-client and munge if they are missing, starts
# munged (unless one already answers), slurmctld and slurmd with a minimal slurm.conf kept
# in a temporary directory (SLURM_CONF; /etc/slurm is not touched), submits a sharded
# two-dimensional sweep as an array job (sweep-array.sbatch, through submit.sh) and its
# dependent merge job (merge.sbatch), waits for both, and compares the merged output with
# the same sweep run in one process: report.md, the charts and the table byte for byte,
# results.json and results.csv outside their timings. Every daemon it started is stopped
# on every exit path (trap); a line it had to add to /etc/hosts is removed again.
#
#   bash scripts/slurm/ci-test.sh            # uses target/debug/qkdsim
#   QKDSIM=target/release/qkdsim bash scripts/slurm/ci-test.sh
#
# Bounded: the cluster must be up within 60 s and the jobs done within
# $QKDSIM_SLURM_JOB_TIMEOUT seconds (default 240); otherwise it fails, printing the
# daemons' logs.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
here="$root/scripts/slurm"
qkdsim=${QKDSIM:-$root/target/debug/qkdsim}
job_timeout=${QKDSIM_SLURM_JOB_TIMEOUT:-240}

say() { printf 'slurm-test: %s\n' "$*" >&2; }
fail() {
  say "FAILED: $*"
  exit 1
}

[ "$(id -u)" = 0 ] || fail "must run as root (installs packages, starts munged, slurmctld, slurmd)"
case $qkdsim in /*) ;; *) qkdsim="$PWD/$qkdsim" ;; esac
[ -x "$qkdsim" ] || fail "no qkdsim binary at $qkdsim (build it first: cargo build --locked)"

# --- packages -----------------------------------------------------------------------
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null ||
  ! command -v sbatch >/dev/null || ! command -v munged >/dev/null; then
  say "installing slurmctld slurmd slurm-client munge"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null
fi
[ -s /etc/munge/munge.key ] || fail "/etc/munge/munge.key is missing (the munge package creates it)"

# --- cleanup, armed before anything is started ----------------------------------------
work=$(mktemp -d /tmp/qkdsim-slurm.XXXXXX)
chmod 755 "$work"
started_munged=""
hosts_line=""
single_pid=""
stop_pid_file() { # stop the daemon whose PID is in $1, if it runs; wait up to 10 s
  local pid
  [ -s "$1" ] || return 0
  pid=$(cat "$1" 2>/dev/null) || return 0
  case $pid in '' | *[!0-9]*) return 0 ;; esac
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 50); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.2
  done
  kill -KILL "$pid" 2>/dev/null || true
}
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  set +e
  if [ -n "$single_pid" ] && kill -0 "$single_pid" 2>/dev/null; then
    kill -TERM "$single_pid" 2>/dev/null
    wait "$single_pid" 2>/dev/null
  fi
  if [ -n "${SLURM_CONF:-}" ] && [ -f "$SLURM_CONF" ]; then
    scancel --quiet --user=root 2>/dev/null
  fi
  stop_pid_file "$work/slurmd.pid"
  stop_pid_file "$work/slurmctld.pid"
  [ -n "$started_munged" ] && stop_pid_file "$started_munged"
  if [ -n "$hosts_line" ]; then
    grep -vxF "$hosts_line" /etc/hosts >"$work/hosts" && cat "$work/hosts" >/etc/hosts
  fi
  if [ "$status" -ne 0 ]; then
    for log in "$work"/slurmctld.log "$work"/slurmd.log "$work"/logs/*; do
      [ -f "$log" ] && { say "--- $log (last 30 lines)"; tail -n 30 "$log" >&2; }
    done
  fi
  [ -n "${QKDSIM_SLURM_KEEP:-}" ] || rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- the host name must resolve --------------------------------------------------------
host=$(hostname -s)
if ! getent hosts "$host" >/dev/null; then
  hosts_line="127.0.1.1 $host # added by qkdsim scripts/slurm/ci-test.sh"
  echo "$hosts_line" >>/etc/hosts
  say "added $host to /etc/hosts (removed again at the end)"
fi

# --- munge ------------------------------------------------------------------------------
if munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
  say "munged already runs; using it"
else
  install -d -o munge -g munge -m 0755 /run/munge
  install -d -o munge -g munge -m 0700 /var/lib/munge /var/log/munge
  runuser -u munge -- /usr/sbin/munged --pid-file=/run/munge/munged.pid
  started_munged=/run/munge/munged.pid
  for _ in $(seq 50); do
    munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1 && break
    sleep 0.2
  done
  munge -n </dev/null | unmunge >/dev/null || fail "munged does not answer"
fi

# --- slurm.conf and the daemons -----------------------------------------------------------
mkdir -p "$work/state" "$work/spool" "$work/logs" "$work/run"
node_line=$(slurmd -C | head -n 1)
[[ $node_line == NodeName=* ]] || fail "slurmd -C printed no node line: $node_line"
port=${QKDSIM_SLURM_PORT:-6817}
cat >"$work/slurm.conf" <<EOF
ClusterName=qkdsimci
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$port
SlurmdPort=$((port + 1))
AuthType=auth/munge
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/slurmctld.log
SlurmdLogFile=$work/slurmd.log
MinJobAge=600
$node_line State=UNKNOWN
PartitionName=ci Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF="$work/slurm.conf"
slurmctld -f "$SLURM_CONF" || fail "slurmctld did not start"
slurmd -f "$SLURM_CONF" || fail "slurmd did not start"
up=""
for _ in $(seq 120); do
  state=$(sinfo -h -o %T 2>/dev/null | head -n 1)
  if [ "$state" = idle ]; then
    up=yes
    break
  fi
  sleep 0.5
done
[ -n "$up" ] || fail "the cluster did not come up within 60 s (node state: '${state:-none}')"
say "single-node cluster up ($host, $(sinfo -h -o '%c CPUs'))"

# --- the sweep: sharded on Slurm, and in one process ----------------------------------------
cat >"$work/link.toml" <<'EOF'
name = "Slurm test link"

[source]
basis_z_probability = 0.77

[[source.intensities]]
label = "signal"
mean_photon_number = 0.45
probability = 0.25

[[source.intensities]]
label = "decoy"
mean_photon_number = 0.18
probability = 0.5

[[source.intensities]]
label = "vacuum"
mean_photon_number = 0.0002
probability = 0.25

[link]
length_km = 10.0

[receiver]
basis_z_probability = 0.77

[detector]
efficiency = 0.85
dark_count_probability = 1.0e-8

[postprocessing]
block_bits = 100000

[simulation]
seed = 5
pulses = 4.0e6

[sweep]
param = "link.length_km"
values = [0.0, 30.0, 60.0]
param2 = "detector.dark_count_probability"
values2 = [1.0e-8, 1.0e-3]
EOF
cd "$work"
export QKDSIM="$qkdsim"
shards=3
SBATCH_OPTS="--output=$work/logs/%x-%A_%a.out --cpus-per-task=1 --time=00:05:00" \
  bash "$here/submit.sh" "$shards" parts merged link.toml >"$work/submitted"
say "$(cat "$work/submitted")"
read -r array merge < <(sed -E 's/^array job ([0-9]+).*merge job ([0-9]+).*/\1 \2/' "$work/submitted")
[[ $array =~ ^[0-9]+$ && $merge =~ ^[0-9]+$ ]] || fail "cannot read the job ids"
# The same sweep in one process while the jobs run (in the background, so that a signal
# is handled at once).
"$qkdsim" sweep link.toml --out single >single.txt 2>single.err &
single_pid=$!
wait "$single_pid" || {
  cat single.err >&2
  fail "the single-process sweep failed"
}
single_pid=""
deadline=$((SECONDS + job_timeout))
while [ -n "$(squeue -h -j "$array,$merge" 2>/dev/null)" ]; do
  [ "$SECONDS" -lt "$deadline" ] || fail "the jobs did not finish within $job_timeout s: $(squeue -h -j "$array,$merge")"
  sleep 1
done
# One record per array task and one for the merge job; all must have COMPLETED.
states=$( (scontrol show job "$array" && scontrol show job "$merge") 2>&1 |
  grep -o 'JobState=[A-Z_]*' || true)
n_done=$(grep -c '=COMPLETED$' <<<"$states" || true)
[ "$n_done" -eq $((shards + 1)) ] ||
  fail "expected $((shards + 1)) completed jobs, got: $(tr '\n' ' ' <<<"$states")"
for i in $(seq "$shards"); do
  grep -q "running shard $i/$shards of the sweep" "$work"/logs/qkdsim-sweep-*_"$i".out ||
    fail "array task $i did not report its shard from SLURM_ARRAY_TASK_*"
done
say "array job and merge job completed ($shards shards)"

# --- compare ----------------------------------------------------------------------------
cmp_same() { cmp -s "$1" "$2" || fail "$1 and $2 differ"; }
for f in single/*; do
  name=$(basename "$f")
  [ -f "merged/$name" ] || fail "merged output lacks $name"
  case $name in
    results.json)
      # Only the timings objects (flat, one number per line) may differ.
      sed '/"timings": {/,/}/d' "$f" >single.json
      sed '/"timings": {/,/}/d' "merged/$name" >merged.json
      grep -q '"points"' single.json || fail "results.json has no points"
      cmp_same single.json merged.json
      ;;
    results.csv)
      # The timings are the last seven columns (plain numbers); other fields may hold
      # quoted commas, so cut from the end of each line.
      timings='engine_s,sifting_s,estimation_s,reconciliation_s,verification_s,privacy_amplification_s,total_s'
      head -n 1 "$f" | grep -q ",$timings\$" || fail "results.csv does not end with the timing columns"
      sed -E 's/(,[^,]*){7}$//' "$f" >single.csv
      sed -E 's/(,[^,]*){7}$//' "merged/$name" >merged.csv
      cmp_same single.csv merged.csv
      ;;
    *) cmp_same "$f" "merged/$name" ;;
  esac
done
ls merged | grep -q '^key_rate_map.svg$' || fail "no heat map in the merged output"
say "merged output = single-process output (timings aside): $(ls merged | tr '\n' ' ')"
say "passed"
