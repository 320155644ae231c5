#!/usr/bin/env bash
# Runs the shipped unit, systemd/quantd.service, under a real systemd: a Debian 12 container booted
# with systemd-nspawn (its root made once with debootstrap and cached), the unit and a quantd binary
# installed in it as docs/daemon.md installs them, then these checks from inside the container:
#   1. Type=notify readiness: `systemctl start` returns once quantd sent READY=1; the unit is active.
#   2. Watchdog: over 2.5x WatchdogSec the service keeps its pid and never restarts, and systemd
#      records WATCHDOG=1 pings.
#   3. SIGTERM stop: `systemctl stop` ends it cleanly (quantd logs a clean stop, systemd a successful
#      deactivation).
#   4. Restart after kill -9: Restart=on-failure starts a new process after RestartSec.
#   5. Sandbox: a process of the service (an ExecStartPre, under the same sandbox) can write ROOT
#      (/srv/quantd) but not folders the quantd user owns (and writes, unsandboxed) under /etc,
#      /usr/local, /opt, /var/lib and /home.
#   6. Metrics endpoint: with systemd/metrics-endpoint.conf added and "metrics_listen" set, the
#      service answers GET /metrics on 127.0.0.1 with its quantd_* metrics.
# Two drop-ins shorten the waits and add the probe of check 5; everything else is the shipped unit:
#   WatchdogSec=4, RestartSec=2, and ExecStartPre=/bin/sh (the probe).
#
# Usage: scripts/systemd/test-unit.sh [QUANTD_BINARY]   (default .build/debug/quantd)
#   QUANTD_SYSTEMD_ROOTFS   cached container root (default ~/.cache/quantd-systemd/rootfs); made with
#                           debootstrap from deb.debian.org when missing (network, ~2 min)
#   QUANTD_UNIT             the unit to test (default systemd/quantd.service), e.g. to see a check fail
# Needs root, systemd-nspawn and debootstrap (apt-get install systemd-container debootstrap).
# Exit status: 0 every check passed; 1 a check failed (the container's journal is printed);
# 77 skipped: this machine cannot boot systemd in a container (the reason is printed).
set -uo pipefail
cd "$(dirname "$0")/../.."
REPO=$(pwd)
SKIP=77

skip() { echo "SKIPPED: $*" >&2; exit $SKIP; }
fail() { echo "FAILED: $*" >&2; exit 1; }

BIN=$(realpath "${1:-.build/debug/quantd}" 2>/dev/null) || fail "no quantd binary at ${1:-.build/debug/quantd}: build first"
[[ -x $BIN ]] || fail "no quantd binary at $BIN: build first"
[[ $(id -u) == 0 ]] || skip "booting a container needs root (systemd-nspawn); run as root"
command -v systemd-nspawn >/dev/null || skip "systemd-nspawn is not installed (apt-get install systemd-container)"
[[ -d /sys/fs/cgroup ]] || skip "no cgroup file system at /sys/fs/cgroup, which systemd needs"

ROOTFS=${QUANTD_SYSTEMD_ROOTFS:-$HOME/.cache/quantd-systemd/rootfs}
UNIT=$(realpath "${QUANTD_UNIT:-systemd/quantd.service}")
if [[ ! -f $ROOTFS/.quantd-ready ]]; then
  command -v debootstrap >/dev/null || skip "debootstrap is not installed (apt-get install debootstrap)"
  echo "making the container root $ROOTFS with debootstrap (once)" >&2
  rm -rf "$ROOTFS.partial"
  mkdir -p "$(dirname "$ROOTFS")"
  debootstrap --variant=minbase \
    --include=systemd,systemd-sysv,dbus,libzstd1,libssl3,libinotifytools0,procps \
    bookworm "$ROOTFS.partial" http://deb.debian.org/debian >"$ROOTFS.debootstrap.log" 2>&1 \
    || skip "debootstrap failed (network?); see $ROOTFS.debootstrap.log"
  # The user and folders of docs/daemon.md's install steps 2 and 3.
  chroot "$ROOTFS.partial" useradd --system --user-group --home-dir /srv/quantd --shell /usr/sbin/nologin quantd \
    || fail "useradd in the container root failed"
  chroot "$ROOTFS.partial" sh -c 'install -d -o quantd -g quantd -m 2750 /srv/quantd &&
    install -d -o quantd -g quantd -m 2770 /srv/quantd/inbox &&
    install -d -o quantd -g quantd -m 2750 /srv/quantd/work /srv/quantd/out /srv/quantd/failed /srv/quantd/done /srv/quantd/state &&
    install -d /etc/quantd /usr/local/bin /opt/swift' || fail "making /srv/quantd in the container root failed"
  touch "$ROOTFS.partial/.quantd-ready"
  rm -rf "$ROOTFS" && mv "$ROOTFS.partial" "$ROOTFS"
fi

# The binary's Swift runtime libraries, found where the binary looks for them (its RUNPATH), are
# shown read-only at the same path inside the container (none for a --static-swift-stdlib build).
runtime_binds=()
RUNTIME=$(ldd "$BIN" | awk '/libswiftCore.so/ { print $3 }')
if [[ -n $RUNTIME ]]; then
  [[ -f $RUNTIME ]] || fail "the Swift runtime of $BIN is not found (ldd: $RUNTIME)"
  runtime_binds=(--bind-ro="$(dirname "$(realpath "$RUNTIME")"):$(dirname "$RUNTIME")")
fi

WORK=$(mktemp -d /tmp/quantd-systemd-test.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/results" "$WORK/dropins"
python3 -c 'import json,sys; p=json.load(open(sys.argv[1])); p["daemon"]["metrics_listen"]="127.0.0.1:9464"; json.dump(p,open(sys.argv[2],"w"),indent=1)' \
  examples/daemon-pipeline.json "$WORK/pipeline-metrics.json" || fail "could not write the metrics pipeline"
cat >"$WORK/dropins/test.conf" <<'EOF'
[Service]
WatchdogSec=4
RestartSec=2
ExecStartPre=/bin/sh -c 'for d in /srv/quantd /etc/quantd-probe /usr/local/quantd-probe /opt/quantd-probe /var/lib/quantd-probe /home/quantd-probe; do if touch "$d/.sandbox-probe" 2>/dev/null; then rm -f "$d/.sandbox-probe"; echo "$d writable"; else echo "$d denied"; fi; done >/srv/quantd/sandbox-probe.txt'
EOF

cat >"$WORK/check.sh" <<'EOF'
#!/bin/bash
# Runs inside the container as quantd-check.service; writes /results/report and powers off.
exec >/results/report 2>&1
failures=0
pass() { echo "PASS $*"; }
bad() { echo "FAIL $*"; failures=$((failures + 1)); }
prop() { systemctl show -p "$1" --value quantd; }

echo "systemd $(systemctl --version | head -1)"
systemctl daemon-reload

# Folders outside ROOT that the quantd user may write: only the sandbox can keep it out of them.
probes="/etc/quantd-probe /usr/local/quantd-probe /opt/quantd-probe /var/lib/quantd-probe /home/quantd-probe"
install -d -o quantd -g quantd -m 755 $probes
for d in $probes; do
  runuser -u quantd -- touch "$d/control" || bad "sandbox control: quantd cannot write $d even unsandboxed"
done

# 1. Readiness.
# A Type=notify start returns only after READY=1; STATUS= text shows the notify socket reached systemd.
if timeout 60 systemctl start quantd && [[ $(systemctl is-active quantd) == active && $(prop Type) == notify \
     && -n $(prop StatusText) ]]; then
  pass "readiness: Type=notify start returned after READY=1; is-active: active; status: $(prop StatusText)"
else
  bad "readiness: start failed, or not active ($(systemctl is-active quantd)), or Type $(prop Type) without STATUS= text"
fi

# 2. Watchdog: WatchdogSec=4, watched for 10 s.
pid=$(prop MainPID)
ping1=$(prop WatchdogTimestampMonotonic)
sleep 10
ping2=$(prop WatchdogTimestampMonotonic)
if [[ $(systemctl is-active quantd) == active && $(prop MainPID) == "$pid" && $(prop NRestarts) == 0 ]]; then
  pass "watchdog: still active with pid $pid after 10 s with WatchdogSec=4, no restart"
else
  bad "watchdog: active=$(systemctl is-active quantd) pid $pid -> $(prop MainPID), restarts $(prop NRestarts), result $(prop Result)"
fi
if [[ $ping2 =~ ^[0-9]+$ && $ping1 =~ ^[0-9]+$ && $ping2 -gt $ping1 ]]; then
  pass "watchdog: pings recorded (last ping moved by $(( (ping2 - ping1) / 1000 )) ms)"
else
  bad "watchdog: no new WATCHDOG=1 ping recorded ($ping1 -> $ping2)"
fi

# 3. SIGTERM stop. The unit is unloaded once inactive (nothing references it), which resets its
# ExecMain* properties, so the outcome is read from the journal: systemd logs "Deactivated
# successfully" only for a clean exit (status 0 or SIGTERM's), quantd "stopped cleanly".
count() { journalctl -u quantd -o cat --no-pager | grep -c "$1"; }
clean_before=$(count 'Deactivated successfully')
if timeout 100 systemctl stop quantd; then
  sleep 1
  state=$(systemctl is-active quantd)
  if [[ $state == inactive && $(count 'Deactivated successfully') -gt $clean_before \
        && $(count 'stop: SIGTERM') -ge 1 && $(count 'stop: stopped cleanly') -ge 1 ]]; then
    pass "SIGTERM stop: quantd stopped cleanly on SIGTERM, systemd: deactivated successfully"
  else
    bad "SIGTERM stop: state $state; journal: $(journalctl -u quantd -o cat --no-pager | tail -4 | tr '\n' '|')"
  fi
else
  bad "SIGTERM stop: systemctl stop failed or timed out"
fi

# 4. Restart after kill -9.
systemctl reset-failed quantd 2>/dev/null
if timeout 60 systemctl start quantd; then
  old=$(prop MainPID)
  kill -9 "$old"
  new=""
  for _ in $(seq 30); do
    sleep 1
    candidate=$(prop MainPID)
    if [[ $(systemctl is-active quantd) == active && $candidate != 0 && $candidate != "$old" ]]; then new=$candidate; break; fi
  done
  if [[ -n $new && $(prop NRestarts) -ge 1 ]]; then
    pass "restart after kill -9: pid $old killed, restarted as pid $new (NRestarts $(prop NRestarts))"
  else
    bad "restart after kill -9: not restarted (state $(systemctl is-active quantd), pid $(prop MainPID), restarts $(prop NRestarts))"
  fi
  systemctl stop quantd
else
  bad "restart after kill -9: could not start the service"
fi

# 5. Sandbox, as the probe (an ExecStartPre under the service's sandbox) saw it.
probe=/srv/quantd/sandbox-probe.txt
if [[ -f $probe ]]; then
  cat "$probe" | sed 's/^/  probe: /'
  if grep -qx '/srv/quantd writable' "$probe" && ! grep -v '^/srv/quantd ' "$probe" | grep -q writable \
     && [[ $(wc -l <"$probe") == 6 ]]; then
    pass "sandbox: ROOT writable; folders the quantd user owns under /etc, /usr/local, /opt, /var/lib, /home not"
  else
    bad "sandbox: the service could write outside ROOT, or not ROOT"
  fi
else
  bad "sandbox: the probe wrote nothing to /srv/quantd"
fi

# 6. The /metrics endpoint with the shipped drop-in (runtime drop-ins: /etc's folder is read-only here).
mkdir -p /run/systemd/system/quantd.service.d
cp /etc/quantd/metrics-endpoint.conf /run/systemd/system/quantd.service.d/
printf '[Service]\nExecStart=\nExecStart=/usr/local/bin/quantd watch --root /srv/quantd --pipeline /etc/quantd/pipeline-metrics.json\n' \
  >/run/systemd/system/quantd.service.d/pipeline-metrics.conf
systemctl daemon-reload
systemctl reset-failed quantd 2>/dev/null
scrape() { (exec 3<>/dev/tcp/127.0.0.1/9464 && printf 'GET /metrics HTTP/1.0\r\n\r\n' >&3 && timeout 5 cat <&3) 2>/dev/null; }
if timeout 60 systemctl start quantd; then
  body=""
  for _ in $(seq 10); do body=$(scrape); [[ $body == *quantd_* ]] && break; sleep 1; done
  if [[ $body == "HTTP/1.1 200"* && $body == *quantd_jobs* ]]; then
    pass "metrics endpoint: GET /metrics on 127.0.0.1:9464 answered 200 with $(grep -c '^quantd_' <<<"$body") quantd_ samples"
  else
    bad "metrics endpoint: no answer on 127.0.0.1:9464 (got: $(head -c 200 <<<"$body" | tr '\r\n' '  '))"
  fi
  systemctl stop quantd
else
  bad "metrics endpoint: could not start the service with the drop-in"
fi

echo "--- journal of quantd.service"
journalctl -u quantd --no-pager -o short-monotonic | tail -60
echo "failures: $failures"
echo done >/results/finished
systemctl poweroff
EOF
chmod +x "$WORK/check.sh"

cat >"$WORK/quantd-check.service" <<'EOF'
[Unit]
Description=quantd unit checks
After=multi-user.target
[Service]
Type=oneshot
ExecStart=/usr/local/libexec/quantd-check.sh
EOF

MACHINE=quantd-unit-test-$$
echo "booting systemd in a container ($ROOTFS, volatile overlay)" >&2
timeout 300 systemd-nspawn --quiet --boot --volatile=overlay --directory="$ROOTFS" --machine="$MACHINE" \
  --register=no --keep-unit --private-network \
  --bind-ro="$BIN:/usr/local/bin/quantd" \
  --bind-ro="$UNIT:/etc/systemd/system/quantd.service" \
  --bind-ro="$WORK/dropins:/etc/systemd/system/quantd.service.d" \
  --bind-ro="$REPO/examples/daemon-pipeline.json:/etc/quantd/pipeline.json" \
  --bind-ro="$WORK/pipeline-metrics.json:/etc/quantd/pipeline-metrics.json" \
  --bind-ro="$REPO/systemd/metrics-endpoint.conf:/etc/quantd/metrics-endpoint.conf" \
  "${runtime_binds[@]}" \
  --bind-ro="$WORK/check.sh:/usr/local/libexec/quantd-check.sh" \
  --bind-ro="$WORK/quantd-check.service:/etc/systemd/system/quantd-check.service" \
  --bind="$WORK/results:/results" \
  systemd.wants=quantd-check.service >"$WORK/console.log" 2>&1 </dev/null
status=$?

if [[ ! -f $WORK/results/report ]]; then
  # The checks never started: systemd could not boot here, or nspawn refused to start it.
  echo "--- container console (last 40 lines)" >&2
  tail -40 "$WORK/console.log" >&2
  skip "systemd did not boot in the container (systemd-nspawn exit status $status)"
fi
if [[ ! -f $WORK/results/finished ]]; then
  cat "$WORK/results/report"
  echo "--- container console (last 40 lines)" >&2
  tail -40 "$WORK/console.log" >&2
  fail "the checks did not finish (timeout?)"
fi
cat "$WORK/results/report"
grep -q '^failures: 0$' "$WORK/results/report" || fail "see the report above"
echo "all checks passed"
