#!/usr/bin/env bash
# Installs (Debian packages) and starts the message brokers the relay tests
# talk to — NATS JetStream on 4222, Redis on 6379, RabbitMQ on 5672 — unless
# they already answer. Idempotent and quick when everything runs (it checks
# the ports first). It never fails the CI run: a broker it cannot provide
# gets a warning, and the tests needing it skip, naming the broker.
set -uo pipefail

warn() { echo "brokers: warning: $*" >&2; }
info() { echo "brokers: $*"; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_port PORT SECONDS: true once PORT answers, false after SECONDS.
wait_port() {
  local i
  for ((i = 0; i < $2 * 4; i++)); do
    port_open "$1" && return 0
    sleep 0.25
  done
  return 1
}

SUDO=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; fi
fi

apt_updated=""
# install PKG BINARY: installs the Debian package unless BINARY exists.
install() {
  local pkg=$1 bin=$2
  [ -x "$bin" ] && return 0
  if ! command -v apt-get >/dev/null 2>&1; then
    warn "$pkg is not installed and apt-get is unavailable"
    return 1
  fi
  info "installing $pkg"
  if [ -z "$apt_updated" ]; then
    $SUDO apt-get update -qq >/dev/null 2>&1 || warn "apt-get update failed"
    apt_updated=1
  fi
  if ! DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$pkg" >/dev/null 2>&1; then
    warn "apt-get install $pkg failed"
    return 1
  fi
  [ -x "$bin" ] || { warn "$pkg installed but $bin is missing"; return 1; }
}

nats() {
  if port_open 4222; then info "NATS JetStream already answers on 4222"; return; fi
  [ -x /usr/sbin/nats-server ] || { warn "NATS JetStream unavailable (nats-server not installed)"; return; }
  $SUDO mkdir -p /var/lib/nats-server
  $SUDO start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
    -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log \
    || warn "starting nats-server failed"
  if wait_port 4222 30; then info "NATS JetStream started on 4222"; else warn "NATS JetStream did not come up on 4222 (see /var/log/nats-server.log)"; fi
}

redis() {
  if port_open 6379; then info "Redis already answers on 6379"; return; fi
  [ -x /usr/bin/redis-server ] || { warn "Redis unavailable (redis-server not installed)"; return; }
  $SUDO mkdir -p /var/lib/redis /var/log/redis
  $SUDO redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log \
    || warn "starting redis-server failed"
  if wait_port 6379 30; then info "Redis started on 6379"; else warn "Redis did not come up on 6379 (see /var/log/redis/ci.log)"; fi
}

rabbitmq() {
  if port_open 5672; then info "RabbitMQ already answers on 5672"; return; fi
  [ -x /usr/sbin/rabbitmq-server ] || { warn "RabbitMQ unavailable (rabbitmq-server not installed)"; return; }
  # The package may have started it already.
  if ! wait_port 5672 2; then
    $SUDO rabbitmq-server -detached || warn "starting rabbitmq-server failed"
  fi
  if wait_port 5672 90; then info "RabbitMQ started on 5672"; else warn "RabbitMQ did not come up on 5672"; fi
}

# Install one after another (apt holds a lock), for brokers that do not
# answer; then start them in parallel: RabbitMQ alone takes several seconds.
port_open 4222 || install nats-server /usr/sbin/nats-server
port_open 6379 || install redis-server /usr/bin/redis-server
port_open 5672 || install rabbitmq-server /usr/sbin/rabbitmq-server
nats &
redis &
rabbitmq &
wait
exit 0
