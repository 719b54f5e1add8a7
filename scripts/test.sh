#!/usr/bin/env bash
# Runs the whole test suite. The MariaDB, Redis and MQTT suites talk to real servers on loopback
# (MariaDB 127.0.0.1:3306 as root without password, Redis 127.0.0.1:6379, Mosquitto
# 127.0.0.1:1883 allowing anonymous clients); this starts any that
# is not answering, installing it from Debian's packages when missing (needs root), then runs
# every test. Each test makes its own database or key prefix and removes it afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_ready=""
apt_install() {
  if [ "$(id -u)" != 0 ]; then
    echo "scripts/test.sh: $* is missing; install it (Debian: apt-get install $*) or run as root" >&2
    exit 1
  fi
  if [ -z "$apt_ready" ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    apt_ready=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

answers() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() {
  for _ in $(seq 1 60); do
    answers "$1" && return 0
    sleep 0.5
  done
  echo "scripts/test.sh: $2 did not come up on 127.0.0.1:$1" >&2
  exit 1
}

if ! answers 3306; then
  command -v mariadbd >/dev/null || apt_install mariadb-server
  echo "Starting MariaDB on 127.0.0.1:3306."
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
  wait_for 3306 MariaDB
fi
if ! answers 6379; then
  command -v redis-server >/dev/null || apt_install redis-server
  echo "Starting Redis on 127.0.0.1:6379."
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
  wait_for 6379 Redis
fi
# The MQTT tests drive real clients (mosquitto_pub/_sub), run a broker from deploy/mosquitto
# (mosquitto, mosquitto_passwd) and bridge from the broker on 127.0.0.1:1883.
command -v mosquitto_pub >/dev/null || apt_install mosquitto-clients
command -v mosquitto_passwd >/dev/null || apt_install mosquitto
if ! answers 1883; then
  mkdir -p /run/mosquitto && chown mosquitto: /run/mosquitto 2>/dev/null || true
  echo "Starting Mosquitto on 127.0.0.1:1883."
  mosquitto -d -c /etc/mosquitto/mosquitto.conf
  wait_for 1883 Mosquitto
fi

cargo test --workspace "$@"
